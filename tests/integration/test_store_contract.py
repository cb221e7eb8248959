"""The store's contract (silentcheck/store: the checks and the shared counters), run against both
implementations: the DynamoDB store on DynamoDB Local (the table from template.yaml, the sandbox's) and
tests/fakes.FakeStore / FakeCounters, which the service's unit tests stand on. Every operation, each legal
transition and each lost race: a change that finds the check in another state raises TransitionLost with
the check as it was, and changes nothing."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest

from silentcheck import store as dynamodb_store
from silentcheck import tokens
from silentcheck.checks import Binding, Check, Outcome, Reason, Status
from silentcheck.deps import Counters, Store
from silentcheck.sim_swap import SimSwapAnswer
from silentcheck.store import TransitionLost
from silentcheck.store.counters import BudgetSpent, Take
from tests.fakes import FakeCounters, FakeStore

NOW = 1_900_000_000
TTL = 300
NUMBER = "+447400900002"
IMPLEMENTATIONS = ["dynamodb", "fake"]
RIVALS = 16


@pytest.fixture(autouse=True)
def _fresh_providers() -> None:
    """The contract asks nothing of the providers: the sandbox's are left as they are."""


@pytest.fixture(autouse=True)
def _within_function_timeouts() -> None:
    """No function runs here: the store is called in this process."""


@pytest.fixture(params=IMPLEMENTATIONS)
def implementation(request: pytest.FixtureRequest) -> str:
    """Which store: silentcheck.store on the sandbox's DynamoDB Local (the table from template.yaml, the
    functions' environment), or the fakes."""
    if request.param == "dynamodb":
        request.getfixturevalue("stack")
    return str(request.param)


@pytest.fixture
def counters(implementation: str) -> Counters:
    """The shared counters: silentcheck.store.counters, or FakeCounters."""
    return dynamodb_store.counters if implementation == "dynamodb" else FakeCounters()


@pytest.fixture
def store(counters: Counters) -> Store:
    """The checks: silentcheck.store, or FakeStore, in one table with `counters`."""
    return FakeStore(counters) if isinstance(counters, FakeCounters) else dynamodb_store


def _unique(prefix: str) -> str:
    """A name no other test (nor an earlier run on the same table) uses."""
    return f"{prefix}-{secrets.token_hex(8)}"


def _state(check_id: str, offer: str = "first") -> str:
    return tokens.digest(f"{check_id}.{offer}.state")


def _new(**fields: Any) -> Check:
    """A new PENDING check, as service.start makes it (its number kept for the attestation)."""
    check_id = _unique("contract")
    check = Check(check_id=check_id, provider="truid", status=Status.PENDING, created_at=NOW,
                  expires_at=NOW + TTL, poll_token_hash=tokens.digest(f"{check_id}.poll"), number_key="key",
                  state_hash=_state(check_id), capability_hash=tokens.digest(f"{check_id}.capability"),
                  subject=NUMBER)
    return replace(check, **fields)


def _pending(store: Store, budgets: Sequence[Take] = (), **fields: Any) -> Check:
    check = _new(**fields)
    store.create(check, budgets)
    return check


def _started(store: Store, poll_interval: int | None = None, **fields: Any) -> Check:
    check = _pending(store, **fields)
    return store.record_started(check.check_id, NOW, "provider-ref", "v0.2", Binding.DEVICE, NOW + TTL,
                                {"region": "eu"}, confidential={"auth_req_id": "kept-sealed"},
                                poll_interval=poll_interval)


def _finished(store: Store) -> Check:
    return store.finish(_started(store).check_id, Outcome.verified("COMPLETED"), NOW + 5)


def _budget(scope: str, count: int = 1, member: str | None = None) -> Take:
    """One start counted in budget `scope` (unique per test), window 7: a count, or a set of `member`s."""
    return Take(scope, "digest", 7, count, NOW + 60, member)


def _lost(change: Callable[[], object]) -> Check | None:
    """What TransitionLost said the check was when `change` lost."""
    with pytest.raises(TransitionLost) as lost:
        change()
    return lost.value.current


def _all_at_once(change: Callable[[], Check]) -> list[Check | None]:
    """`change` made by RIVALS threads released together: what each got (None: it lost)."""
    gate = threading.Barrier(RIVALS)

    def one() -> Check | None:
        gate.wait(timeout=30)
        try:
            return change()
        except TransitionLost:
            return None

    with ThreadPoolExecutor(RIVALS) as pool:
        return list(pool.map(lambda _: one(), range(RIVALS)))


# create, get


def test_a_created_check_reads_back_as_written(store: Store):
    check = _pending(store, attributes={"region": "eu"}, sim_swap_hours=24, attempts=("infobip:FAILED",))

    assert store.get(check.check_id) == check


def test_an_unknown_check_reads_as_none(store: Store):
    assert store.get(_unique("never-created")) is None


def test_a_check_id_is_never_overwritten(store: Store):
    check = _pending(store)

    assert _lost(lambda: store.create(replace(check, provider="infobip"))) == check
    assert store.get(check.check_id) == check


def test_a_check_id_taken_counts_none_of_the_budgets_it_came_with(store: Store, counters: Counters):
    check, ip = _pending(store), _budget(_unique("ip"))

    assert _lost(lambda: store.create(replace(check, provider="infobip"), [ip])) == check
    assert counters.take(ip.scope, ip.subject, ip.window, ip.count, ip.window_end)


def test_a_check_created_with_its_budgets_counts_them_in_the_same_write(store: Store, counters: Counters):
    ip, number = _budget(_unique("ip")), _budget(_unique("number"), 2, member="address")

    check = _pending(store, budgets=[ip, number])

    assert store.get(check.check_id) == check
    assert not counters.take(ip.scope, ip.subject, ip.window, ip.count, ip.window_end)  # its one start is spent
    assert counters.admit(number.scope, number.subject, "another-address", number.window, number.count,
                          number.window_end)


def test_a_budget_without_room_refuses_the_check_and_counts_nothing(store: Store, counters: Counters):
    ip, number = _budget(_unique("ip")), _budget(_unique("number"))
    counters.take(number.scope, number.subject, number.window, number.count, number.window_end)

    check = _new()

    with pytest.raises(BudgetSpent) as spent:
        store.create(check, [ip, number])

    assert (spent.value.scope, spent.value.busy) == (number.scope, False)
    assert store.get(check.check_id) is None
    assert counters.take(ip.scope, ip.subject, ip.window, ip.count, ip.window_end)  # not counted


def test_a_check_refused_before_any_provider_was_asked_is_withdrawn_unusable(store: Store):
    check = _pending(store)

    withdrawn = store.withdraw(check.check_id, NOW + 1)

    assert withdrawn.is_expired_at(NOW + 1)
    assert (withdrawn.state_hash, withdrawn.capability_hash, withdrawn.subject) == (None, None, None)
    assert store.get(check.check_id) == withdrawn
    assert _lost(lambda: store.consume_state(check.check_id, _state(check.check_id), NOW + 1, "code")) == withdrawn


def test_a_started_check_is_never_withdrawn(store: Store):
    check = _started(store)

    assert _lost(lambda: store.withdraw(check.check_id, NOW + 1)) == check == store.get(check.check_id)


def test_a_final_check_is_never_withdrawn(store: Store):
    finished = _finished(store)

    assert _lost(lambda: store.withdraw(finished.check_id, NOW + 6)) == finished == store.get(finished.check_id)


def test_an_unknown_check_is_not_withdrawn(store: Store):
    check_id = _unique("never-created")

    assert _lost(lambda: store.withdraw(check_id, NOW)) is None
    assert store.get(check_id) is None


# record_started


def test_record_started_keeps_the_providers_reference_binding_deadline_and_attributes(store: Store):
    check = _pending(store)

    started = store.record_started(check.check_id, NOW + 1, "truid-id", "v0.2", Binding.DEVICE, NOW + 120,
                                   {"region": "eu"}, confidential={"auth_req_id": "sealed"})

    assert (started.provider_ref, started.provider_version, started.binding, started.expires_at,
            started.attributes, started.confidential) == (
        "truid-id", "v0.2", Binding.DEVICE, NOW + 120, {"region": "eu"}, {"auth_req_id": "sealed"})
    assert store.get(check.check_id) == started


def test_record_started_with_a_poll_interval_paces_the_first_poll(store: Store):
    check = _pending(store)

    started = store.record_started(check.check_id, NOW + 1, None, "v2", Binding.OPERATOR_TOKEN, NOW + TTL, {},
                                   poll_interval=2)

    assert (started.poll_interval, started.next_poll_at) == (2, NOW + 4)  # the interval plus one whole second


def test_record_started_after_a_fallback_names_the_provider_and_the_refusals_before_it(store: Store):
    check = _pending(store)

    started = store.record_started(check.check_id, NOW + 1, "ref", "v1", Binding.DEVICE, NOW + TTL, {},
                                   provider="infobip", attempts=["truid:FAILED:PROVIDER_ERROR"])

    assert (started.provider, started.attempts) == ("infobip", ("truid:FAILED:PROVIDER_ERROR",))


def test_record_started_leaves_what_it_is_not_given_as_stored(store: Store):
    first = _started(store, poll_interval=2, attempts=("infobip:FAILED",))

    again = store.record_started(first.check_id, NOW + 1, None, None, Binding.DEVICE, NOW + TTL, {})

    assert (again.provider_ref, again.provider_version, again.confidential, again.poll_interval,
            again.next_poll_at, again.provider, again.attempts) == (
        first.provider_ref, first.provider_version, first.confidential, first.poll_interval, first.next_poll_at,
        first.provider, first.attempts)


def test_record_started_loses_to_a_verdict_recorded_first(store: Store):
    check = _pending(store)
    finished = store.finish(check.check_id, Outcome.failed(Reason.PROVIDER_ERROR), NOW + 1)

    current = _lost(lambda: store.record_started(check.check_id, NOW + 2, "late", "v0.2", Binding.DEVICE,
                                                 NOW + TTL, {}))

    assert current == finished == store.get(check.check_id)


def test_record_started_loses_once_the_check_expired(store: Store):
    check = _pending(store)

    current = _lost(lambda: store.record_started(check.check_id, NOW + TTL, "late", "v0.2", Binding.DEVICE,
                                                 NOW + 2 * TTL, {}))

    assert current == check == store.get(check.check_id)


def test_record_started_of_an_unknown_check_creates_nothing(store: Store):
    check_id = _unique("never-created")

    assert _lost(lambda: store.record_started(check_id, NOW, "ref", "v0.2", Binding.DEVICE, NOW + TTL, {})) is None
    assert store.get(check_id) is None


# record_offer


def test_an_offer_to_the_next_provider_replaces_the_refused_providers_state_and_capability(store: Store):
    check = _pending(store)
    next_state, next_capability = _state(check.check_id, "second"), tokens.digest(f"{check.check_id}.next")

    offered = store.record_offer(check.check_id, NOW + 1, "infobip", next_state, next_capability)

    assert (offered.provider, offered.state_hash, offered.capability_hash) == ("infobip", next_state,
                                                                               next_capability)
    _lost(lambda: store.consume_state(check.check_id, _state(check.check_id), NOW + 2, "code-hash"))
    assert store.consume_state(check.check_id, next_state, NOW + 2, "code-hash").state_hash is None


def test_an_offer_without_a_capability_leaves_the_capability_as_stored(store: Store):
    check = _pending(store)

    offered = store.record_offer(check.check_id, NOW + 1, "camara", _state(check.check_id, "second"), None)

    assert offered.capability_hash == check.capability_hash


def test_an_offer_loses_to_a_verdict_recorded_first(store: Store):
    finished = _finished(store)

    current = _lost(lambda: store.record_offer(finished.check_id, NOW + 6, "infobip", "s", "c"))

    assert current == finished == store.get(finished.check_id)


# claim_poll, pace_polls


def test_a_due_poll_is_claimed_by_one_poll_only(store: Store):
    check = _started(store, poll_interval=2)
    due = check.next_poll_at
    assert due is not None

    claimed = store.claim_poll(check.check_id, due, due_at=due, next_at=due + 3)
    current = _lost(lambda: store.claim_poll(check.check_id, due, due_at=due, next_at=due + 3))

    assert claimed.next_poll_at == due + 3
    assert current == claimed == store.get(check.check_id)


def test_a_poll_cannot_be_claimed_once_the_check_is_final(store: Store):
    check = _started(store, poll_interval=2)
    finished = store.finish(check.check_id, Outcome.verified(), NOW + 1)

    current = _lost(lambda: store.claim_poll(check.check_id, NOW + 3, due_at=NOW + 3, next_at=NOW + 6))

    assert current == finished


def test_slowing_down_moves_the_next_poll_and_keeps_the_interval(store: Store):
    check = _started(store, poll_interval=2)

    paced = store.pace_polls(check.check_id, NOW + 2, 7)

    assert (paced.poll_interval, paced.next_poll_at) == (7, NOW + 10)
    assert store.get(check.check_id) == paced


def test_polls_cannot_be_paced_once_the_check_expired(store: Store):
    check = _started(store, poll_interval=2)

    current = _lost(lambda: store.pace_polls(check.check_id, NOW + TTL, 7))

    assert current == check


# consume_state


def test_the_state_is_consumed_exactly_once_and_attaches_the_completion_code(store: Store):
    check = _pending(store)

    returned = store.consume_state(check.check_id, _state(check.check_id), NOW + 1, "code-hash")
    current = _lost(lambda: store.consume_state(check.check_id, _state(check.check_id), NOW + 2, "other"))

    assert (returned.state_hash, returned.completion_code_hash) == (None, "code-hash")
    assert current == returned == store.get(check.check_id)


def test_a_wrong_state_is_refused_and_leaves_the_right_one_usable(store: Store):
    check = _pending(store)

    assert _lost(lambda: store.consume_state(check.check_id, _state(check.check_id, "forged"), NOW + 1,
                                             "code-hash")) == check
    assert store.consume_state(check.check_id, _state(check.check_id), NOW + 2, "code-hash").state_hash is None


def test_a_check_settled_before_its_device_returns_keeps_its_state_for_the_device(store: Store):
    check = _pending(store)
    store.finish(check.check_id, Outcome.failed(Reason.NOT_ON_MOBILE_DATA, "not_mobile_ip"), NOW + 1)

    returned = store.consume_state(check.check_id, _state(check.check_id), NOW + 2, "code-hash")

    assert (returned.status, returned.completion_code_hash) == (Status.FAILED, "code-hash")


def test_the_state_is_used_once_even_after_the_check_is_settled(store: Store):
    check = _pending(store)
    store.consume_state(check.check_id, _state(check.check_id), NOW + 1, "code-hash")
    store.finish(check.check_id, Outcome.verified("COMPLETED"), NOW + 1)

    _lost(lambda: store.consume_state(check.check_id, _state(check.check_id), NOW + 2, "other-code-hash"))

    assert store.get(check.check_id).completion_code_hash == "code-hash"  # type: ignore[union-attr]


def test_a_state_past_expiry_is_refused(store: Store):
    check = _pending(store)

    assert _lost(lambda: store.consume_state(check.check_id, _state(check.check_id), NOW + TTL, "code")) == check


def test_a_state_of_an_unknown_check_is_refused(store: Store):
    check_id = _unique("never-created")

    assert _lost(lambda: store.consume_state(check_id, _state(check_id), NOW, "code-hash")) is None
    assert store.get(check_id) is None


# finish


def test_finish_moves_pending_to_final_once(store: Store):
    check = _pending(store)

    finished = store.finish(check.check_id, Outcome.verified("COMPLETED"), NOW + 10)
    current = _lost(lambda: store.finish(check.check_id, Outcome.failed(Reason.PROVIDER_ERROR), NOW + 11))

    assert (finished.status, finished.raw_code, finished.completed_at) == (Status.VERIFIED, "COMPLETED", NOW + 10)
    assert current == finished == store.get(check.check_id)


def test_finish_after_expires_at_is_refused(store: Store):
    check = _pending(store)

    assert _lost(lambda: store.finish(check.check_id, Outcome.verified(), NOW + TTL)) == check


def test_finish_of_a_missing_check_creates_nothing(store: Store):
    check_id = _unique("never-created")

    assert _lost(lambda: store.finish(check_id, Outcome.verified(), NOW)) is None
    assert store.get(check_id) is None


def test_finish_forgets_the_sealed_values_and_keeps_the_state_and_the_number(store: Store):
    check = _started(store)

    finished = store.finish(check.check_id, Outcome.not_verified("MISMATCH"), NOW + 5)

    assert (finished.confidential, finished.state_hash, finished.subject) == ({}, check.state_hash, NUMBER)
    assert store.get(check.check_id) == finished


def test_finish_records_the_reason_and_the_providers_code(store: Store):
    check = _pending(store)

    finished = store.finish(check.check_id, Outcome.failed(Reason.CARRIER_UNSUPPORTED, "404"), NOW + 5)

    assert (finished.status, finished.reason, finished.raw_code) == (Status.FAILED, Reason.CARRIER_UNSUPPORTED,
                                                                     "404")
    assert store.get(check.check_id) == finished


def test_finish_records_the_sim_swap_answer_and_who_was_tried(store: Store):
    check = _pending(store, sim_swap_hours=24)
    answer = SimSwapAnswer(max_age_hours=240, swapped=False, changed_within_hours=None, raw_code="swapped:false")

    finished = store.finish(check.check_id, Outcome(Status.VERIFIED, raw_code="verify:true", sim_swap=answer),
                            NOW + 5, attempts=["truid:FAILED:CARRIER_UNSUPPORTED"], provider="camara")

    assert (finished.sim_swap, finished.attempts, finished.provider) == (
        answer, ("truid:FAILED:CARRIER_UNSUPPORTED",), "camara")
    assert store.get(check.check_id) == finished


def test_finish_leaves_the_attempts_and_provider_it_is_not_given_as_stored(store: Store):
    check = _pending(store, attempts=("infobip:FAILED:PROVIDER_ERROR",))

    finished = store.finish(check.check_id, Outcome.verified(), NOW + 5)

    assert (finished.attempts, finished.provider) == (check.attempts, check.provider)


# mark_expired


def test_mark_expired_applies_only_once_expires_at_has_passed(store: Store):
    check = _started(store)

    assert _lost(lambda: store.mark_expired(check.check_id, NOW + TTL - 1)) == check
    expired = store.mark_expired(check.check_id, NOW + TTL)

    assert (expired.status, expired.reason, expired.completed_at) == (Status.EXPIRED, Reason.DEVICE_TIMEOUT,
                                                                      NOW + TTL)
    assert store.get(check.check_id) == expired


def test_an_expired_check_keeps_neither_its_return_state_nor_its_sealed_values(store: Store):
    check = _started(store)

    expired = store.mark_expired(check.check_id, NOW + TTL)

    assert (expired.state_hash, expired.confidential) == (None, {})


def test_a_check_is_marked_expired_once(store: Store):
    check = _pending(store)
    expired = store.mark_expired(check.check_id, NOW + TTL)

    assert _lost(lambda: store.mark_expired(check.check_id, NOW + TTL + 1)) == expired


def test_an_expiry_loses_to_a_verdict_recorded_just_before_it(store: Store):
    finished = _finished(store)

    assert _lost(lambda: store.mark_expired(finished.check_id, NOW + TTL)) == finished


def test_an_unknown_check_is_not_marked_expired(store: Store):
    check_id = _unique("never-created")

    assert _lost(lambda: store.mark_expired(check_id, NOW + TTL)) is None
    assert store.get(check_id) is None


# save_attestation


def test_a_saved_attestation_replaces_the_number_and_is_kept_once(store: Store):
    finished = _finished(store)

    saved = store.save_attestation(finished.check_id, "header.payload.signature")
    current = _lost(lambda: store.save_attestation(finished.check_id, "another.attestation.entirely"))

    assert (saved.attestation, saved.subject) == ("header.payload.signature", None)
    assert current == saved == store.get(finished.check_id)


def test_an_attestation_of_an_unknown_check_creates_nothing(store: Store):
    check_id = _unique("never-created")

    assert _lost(lambda: store.save_attestation(check_id, "header.payload.signature")) is None
    assert store.get(check_id) is None


# counters: start budgets


def test_a_budget_counts_starts_up_to_its_count_then_refuses(counters: Counters):
    scope, subject = _unique("scope"), "digest"

    taken = [counters.take(scope, subject, window=7, count=2, window_end=NOW + 60) for _ in range(3)]

    assert taken == [True, True, False]


def test_each_window_of_a_budget_counts_afresh(counters: Counters):
    scope = _unique("scope")
    counters.take(scope, "digest", window=7, count=1, window_end=NOW + 60)

    assert counters.take(scope, "digest", window=8, count=1, window_end=NOW + 120)
    assert counters.take(scope, "another-digest", window=7, count=1, window_end=NOW + 60)


def test_a_budget_of_members_admits_up_to_its_count_of_distinct_members(counters: Counters):
    scope = _unique("scope")

    admitted = [counters.admit(scope, "digest", member, window=7, count=2, window_end=NOW + 60)
                for member in ("a", "b", "c")]

    assert admitted == [True, True, False]


def test_a_member_already_admitted_is_admitted_again_when_the_window_is_full(counters: Counters):
    scope = _unique("scope")
    for member in ("a", "b"):
        counters.admit(scope, "digest", member, window=7, count=2, window_end=NOW + 60)

    assert counters.admit(scope, "digest", "a", window=7, count=2, window_end=NOW + 60)


def test_budgets_taken_together_count_all_of_them(counters: Counters):
    ip, number = _budget(_unique("ip")), _budget(_unique("number"), 2, member="address")

    counters.take_all([ip, number])

    assert not counters.take(ip.scope, ip.subject, ip.window, ip.count, ip.window_end)
    assert not counters.admit(number.scope, number.subject, "a-third", number.window, 1, number.window_end)


def test_budgets_taken_together_count_none_when_one_has_no_room(counters: Counters):
    ip, full, other = _budget(_unique("ip")), _budget(_unique("number")), _budget(_unique("other"))
    counters.take(full.scope, full.subject, full.window, full.count, full.window_end)

    with pytest.raises(BudgetSpent) as spent:
        counters.take_all([ip, full, other])

    assert spent.value.scope == full.scope
    assert counters.take(ip.scope, ip.subject, ip.window, ip.count, ip.window_end)
    assert counters.take(other.scope, other.subject, other.window, other.count, other.window_end)


# counters: circuit breakers


def test_a_provider_without_failures_has_no_breaker_state(counters: Counters):
    assert counters.breaker_states((_unique("provider"),)) == {}


def test_failures_are_counted_within_a_window(counters: Counters):
    provider = _unique("provider")

    counts = [counters.count_failure(provider, NOW + n, window_seconds=60) for n in range(3)]

    assert counts == [1, 2, 3]
    assert counters.breaker_states((provider,)) == {provider: {"failures": 3, "window_start": NOW,
                                                               "open_until": 0}}


def test_a_failure_after_the_window_starts_a_new_one(counters: Counters):
    provider = _unique("provider")
    counters.count_failure(provider, NOW, window_seconds=60)
    counters.count_failure(provider, NOW + 1, window_seconds=60)

    assert counters.count_failure(provider, NOW + 60, window_seconds=60) == 1
    assert counters.breaker_states((provider,))[provider]["window_start"] == NOW + 60


def test_an_opened_breaker_records_until_when_and_counts_failures_afresh(counters: Counters):
    provider = _unique("provider")
    counters.count_failure(provider, NOW, window_seconds=60)

    counters.open_breaker(provider, NOW + 1, open_until=NOW + 31)

    assert counters.breaker_states((provider,)) == {provider: {"failures": 0, "window_start": NOW + 1,
                                                               "open_until": NOW + 31}}
    assert counters.count_failure(provider, NOW + 2, window_seconds=60) == 1


def test_a_closed_breaker_forgets_its_failures(counters: Counters):
    provider = _unique("provider")
    counters.open_breaker(provider, NOW, open_until=NOW + 30)

    counters.close_breaker(provider)

    assert counters.breaker_states((provider,))[provider] | {"window_start": 0} == {
        "failures": 0, "window_start": 0, "open_until": 0}


def test_breaker_states_are_read_for_the_providers_named_only(counters: Counters):
    failing, other = _unique("provider"), _unique("provider")
    counters.count_failure(failing, NOW, window_seconds=60)
    counters.count_failure(other, NOW, window_seconds=60)

    assert set(counters.breaker_states((failing, _unique("provider")))) == {failing}



# concurrent rivals: of identical changes made at once, exactly one wins


def test_of_concurrent_verdicts_exactly_one_is_recorded(store: Store):
    check = _pending(store)

    won = [c for c in _all_at_once(lambda: store.finish(check.check_id, Outcome.verified(), NOW + 1)) if c]

    assert len(won) == 1 and won == [store.get(check.check_id)]


def test_of_concurrent_returns_with_one_state_exactly_one_uses_it(store: Store):
    check = _pending(store)

    won = [c for c in _all_at_once(lambda: store.consume_state(check.check_id, _state(check.check_id), NOW + 1,
                                                               tokens.digest(secrets.token_hex(4)))) if c]

    assert len(won) == 1 and won == [store.get(check.check_id)]


def test_of_concurrent_polls_of_one_due_slot_exactly_one_asks(store: Store):
    check = _started(store, poll_interval=2)
    due = check.next_poll_at
    assert due is not None

    won = [c for c in _all_at_once(lambda: store.claim_poll(check.check_id, due, due, due + 3)) if c]

    assert len(won) == 1


def test_of_concurrent_attestations_exactly_one_is_kept(store: Store):
    finished = _finished(store)

    won = [c for c in _all_at_once(lambda: store.save_attestation(finished.check_id, secrets.token_hex(8))) if c]

    assert len(won) == 1 and won == [store.get(finished.check_id)]
