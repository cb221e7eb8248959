"""The DynamoDB repository's conditional transitions, against moto's server (table from template.yaml)."""

from dataclasses import replace

import pytest

from silentcheck import store, tokens
from silentcheck.checks import Binding, Check, Outcome, Reason, Status
from silentcheck.store import counters

NOW = 1_900_000_000


def _new_check(check_id: str = "check-1", state: str = "check-1.state") -> Check:
    check = Check(check_id=check_id, provider="truid", status=Status.PENDING, created_at=NOW, expires_at=NOW + 300,
                  poll_token_hash=tokens.digest("poll"), number_key="key", state_hash=tokens.digest(state))
    store.create(check)
    return check


@pytest.fixture(autouse=True)
def _moto(moto_env):
    yield


def test_created_check_reads_back_as_written():
    check = _new_check()

    assert store.get(check.check_id) == check


def test_a_check_id_is_never_overwritten():
    _new_check()

    with pytest.raises(Exception, match="ConditionalCheckFailed"):
        _new_check()


def test_finish_moves_pending_to_final_once():
    _new_check()

    finished = store.finish("check-1", Outcome.verified("COMPLETED"), NOW + 10)
    with pytest.raises(store.TransitionLost) as lost:
        store.finish("check-1", Outcome.failed(Reason.PROVIDER_ERROR), NOW + 11)

    assert finished.status is Status.VERIFIED
    assert lost.value.current is not None and lost.value.current.status is Status.VERIFIED
    assert store.get("check-1").status is Status.VERIFIED  # type: ignore[union-attr]


def test_finish_after_expires_at_is_refused():
    _new_check()

    with pytest.raises(store.TransitionLost):
        store.finish("check-1", Outcome.verified(), NOW + 300)


def test_finish_of_a_missing_check_creates_nothing():
    with pytest.raises(store.TransitionLost):
        store.finish("no-such-check", Outcome.verified(), NOW)

    assert store.get("no-such-check") is None


def test_state_is_consumed_exactly_once():
    _new_check()

    store.consume_state("check-1", tokens.digest("check-1.state"), NOW + 1, "code-hash")
    with pytest.raises(store.TransitionLost):
        store.consume_state("check-1", tokens.digest("check-1.state"), NOW + 2, "code-hash")


def test_wrong_state_is_refused_and_leaves_the_right_one_usable():
    _new_check()

    with pytest.raises(store.TransitionLost):
        store.consume_state("check-1", tokens.digest("check-1.forged"), NOW + 1, "code-hash")
    assert store.consume_state("check-1", tokens.digest("check-1.state"), NOW + 2, "code-hash").state_hash is None


def test_record_started_keeps_the_provider_reference_and_binding():
    _new_check()

    started = store.record_started("check-1", NOW + 1, "truid-id", "v0.2", Binding.DEVICE, NOW + 120, {})

    assert (started.provider_ref, started.binding, started.expires_at) == ("truid-id", Binding.DEVICE, NOW + 120)


def test_mark_expired_applies_only_once_expires_at_has_passed():
    _new_check()

    assert store.mark_expired("check-1", NOW + 299) is None
    expired = store.mark_expired("check-1", NOW + 300)

    assert expired is not None and (expired.status, expired.reason) == (Status.EXPIRED, Reason.DEVICE_TIMEOUT)


def test_a_paced_check_is_claimed_by_one_poll_only():
    _new_check()
    store.record_started("check-1", NOW, None, "v2", Binding.DEVICE, NOW + 300, {}, poll_interval=2)

    due = NOW + 3  # next_poll_at: the interval plus one whole second

    store.claim_poll("check-1", NOW + 3, due_at=due, next_at=NOW + 6)
    with pytest.raises(store.TransitionLost):
        store.claim_poll("check-1", NOW + 3, due_at=due, next_at=NOW + 6)


def test_slowing_down_moves_the_next_poll_and_keeps_the_interval():
    _new_check()
    store.record_started("check-1", NOW, None, "v2", Binding.DEVICE, NOW + 300, {}, poll_interval=2)

    paced = store.pace_polls("check-1", NOW + 2, 7)

    assert (paced.poll_interval, paced.next_poll_at) == (7, NOW + 10)


def test_a_check_settled_before_its_device_returns_keeps_its_state_for_the_device():
    _new_check()
    store.finish("check-1", Outcome.failed(Reason.NOT_ON_MOBILE_DATA, "not_mobile_ip"), NOW + 1)

    returned = store.consume_state("check-1", tokens.digest("check-1.state"), NOW + 2, "code-hash")

    assert (returned.status, returned.completion_code_hash) == (Status.FAILED, "code-hash")


def test_the_state_is_used_once_even_after_the_check_is_settled():
    _new_check()
    store.consume_state("check-1", tokens.digest("check-1.state"), NOW + 1, "code-hash")
    store.finish("check-1", Outcome.verified("COMPLETED"), NOW + 1)

    with pytest.raises(store.TransitionLost):
        store.consume_state("check-1", tokens.digest("check-1.state"), NOW + 2, "other-code-hash")


def test_a_state_past_expiry_is_refused():
    _new_check()

    with pytest.raises(store.TransitionLost):
        store.consume_state("check-1", tokens.digest("check-1.state"), NOW + 300, "code-hash")


def _final_with_subject() -> Check:
    check = Check(check_id="signed-1", provider="truid", status=Status.PENDING, created_at=NOW, expires_at=NOW + 300,
                  poll_token_hash=tokens.digest("poll"), number_key="key", subject="+447400900002")
    store.create(check)
    return store.finish("signed-1", Outcome.verified(), NOW + 5)


def test_the_number_is_stored_sealed_and_reads_back():
    _final_with_subject()

    assert store.get("signed-1").subject == "+447400900002"  # type: ignore[union-attr]


def test_a_saved_attestation_replaces_the_number_and_is_kept_once():
    _final_with_subject()

    saved = store.save_attestation("signed-1", "header.payload.signature")
    with pytest.raises(store.TransitionLost) as lost:
        store.save_attestation("signed-1", "another.attestation.entirely")

    assert (saved.attestation, saved.subject) == ("header.payload.signature", None)
    assert lost.value.current is not None and lost.value.current.attestation == "header.payload.signature"


def _budget(scope: str, count: int = 1) -> counters.Take:
    return counters.Take(scope, f"{scope}-digest", 7, count, NOW + 600)


def test_a_check_created_with_its_budgets_counts_them_in_the_same_write():
    check = replace(_new_check(), check_id="check-2")

    store.create(check, [_budget("ip"), _budget("number", 2)])

    assert store.get("check-2") == check
    assert not counters.take("ip", "ip-digest", 7, 1, NOW + 600)  # its one start is spent
    assert counters.take("number", "number-digest", 7, 2, NOW + 600)


def test_a_budget_without_room_refuses_the_check_and_counts_nothing():
    counters.take("number", "number-digest", 7, 1, NOW + 600)
    check = replace(_new_check(), check_id="check-2")

    with pytest.raises(counters.BudgetSpent) as spent:
        store.create(check, [_budget("ip"), _budget("number"), _budget("global-like")])

    assert spent.value.scope == "number"
    assert store.get("check-2") is None
    assert counters.take("ip", "ip-digest", 7, 1, NOW + 600)  # the address's start was not counted


def test_a_check_withdrawn_before_any_provider_was_asked_expires_at_once_and_cannot_be_used():
    check = replace(_new_check(), check_id="check-2", capability_hash="cap", subject="+447400900002")
    store.create(check)

    store.withdraw("check-2", NOW + 1)

    withdrawn = store.get("check-2")
    assert withdrawn is not None and withdrawn.is_expired_at(NOW + 1)
    assert (withdrawn.state_hash, withdrawn.capability_hash, withdrawn.subject) == (None, None, None)
    with pytest.raises(store.TransitionLost):
        store.consume_state("check-2", tokens.digest("check-1.state"), NOW + 1, "code-hash")


def test_a_started_check_is_never_withdrawn():
    check = _new_check()
    started = store.record_started(check.check_id, NOW + 1, "ref-1", None, Binding.DEVICE, NOW + 300, {})

    store.withdraw(check.check_id, NOW + 2)

    assert store.get(check.check_id) == started


def test_an_offer_to_the_next_provider_replaces_the_refused_providers_state_and_capability():
    _new_check()

    offered = store.record_offer("check-1", NOW + 1, "infobip", tokens.digest("check-1.next"),
                                 tokens.digest("check-1.capability"))

    assert (offered.provider, offered.capability_hash) == ("infobip", tokens.digest("check-1.capability"))
    with pytest.raises(store.TransitionLost):
        store.consume_state("check-1", tokens.digest("check-1.state"), NOW + 2, "code-hash")
    assert store.consume_state("check-1", tokens.digest("check-1.next"), NOW + 2, "code-hash").check_id == "check-1"
