"""Start budgets: the LIMITS setting, and the fixed-window counters kept in the table (moto)."""

import contextlib
import json
import re

import pytest
from botocore.stub import Stubber
from hypothesis import given, settings
from hypothesis import strategies as st

from silentcheck import aws, config, limits, store
from silentcheck.checks import Check, Status
from silentcheck.deps import Counters
from silentcheck.errors import RateLimited
from tests.fakes import FakeCounters, FakeStore
from tests.functions import load_start_function
from tests.template_tools import start_budgets

NOW = 1_900_000_400  # 200 s into a 600-second window
PEPPER = "a-pepper-of-at-least-16-characters"
UK, OTHER = "+447400900002", "+447400900004"


def _limits(**raw) -> limits.Limits:
    return limits.parse_limits(json.dumps(raw))


def _spend(budgets: limits.Limits, number: str = UK, ip: str | None = "198.51.100.7", now: int = NOW) -> None:
    limits.spend(budgets, PEPPER, number, ip, now, store.counters)


def _admitted(budgets: limits.Limits, number: str = UK, ip: str | None = "198.51.100.7", now: int = NOW,
              counters: Counters = store.counters) -> bool:
    """Whether the budgets let this start through (False: RateLimited)."""
    try:
        limits.spend(budgets, PEPPER, number, ip, now, counters)
    except RateLimited:
        return False
    return True


@pytest.fixture
def _moto(moto_env):
    yield


# -- the setting ---------------------------------------------------------------------------------------

def test_the_templates_default_is_the_code_default():
    default, _ = start_budgets()

    assert limits.parse_limits(default) == limits.parse_limits(limits.DEFAULT_LIMITS)


def test_the_default_limits_each_scope():
    budgets = limits.parse_limits(limits.DEFAULT_LIMITS)

    assert set(budgets.budgets) == {"number", "ip", "global"}


def test_a_scope_left_out_or_null_has_no_limit():
    budgets = _limits(number={"count": 3, "window_seconds": 60}, ip=None)

    assert set(budgets.budgets) == {"number"}


@pytest.mark.parametrize(("text", "message"), [
    ("{", "LIMITS is not JSON"),
    ("[]", "LIMITS must be a JSON object"),
    ('{"phone": null}', "LIMITS has unknown keys ['phone']"),
    ('{"number": 5}', 'LIMITS number must be {"count": N, "window_seconds": S} or null'),
    ('{"ip": {"count": 5}}', 'LIMITS ip must be {"count": N, "window_seconds": S} or null'),
    ('{"global": {"count": 0, "window_seconds": 60}}', "LIMITS global.count must be a positive integer"),
    ('{"number": {"count": 1, "window_seconds": 60}}', "LIMITS number.count must be 2 to 1000"),
    ('{"number": {"count": 1001, "window_seconds": 60}}', "LIMITS number.count must be 2 to 1000"),
    ('{"number": {"count": 5, "window_seconds": true}}', "LIMITS number.window_seconds must be a positive integer"),
])
def test_a_bad_setting_says_what_to_fix(text: str, message: str):
    with pytest.raises(limits.LimitsInvalid, match=re.escape(message)):
        limits.parse_limits(text)


def test_bad_limits_in_the_environment_fail_when_the_start_function_loads(monkeypatch):
    monkeypatch.setenv("LIMITS", '{"number": {"count": -1, "window_seconds": 60}}')
    config.reset()

    with pytest.raises(limits.LimitsInvalid, match=re.escape("LIMITS number.count must be a positive integer")):
        load_start_function()
    config.reset()


# -- spending --------------------------------------------------------------------------------------------

@pytest.mark.usefixtures("_moto")
def test_a_number_may_start_count_checks_per_window_then_is_refused_until_the_window_ends():
    budgets = _limits(number={"count": 2, "window_seconds": 600})
    _spend(budgets)
    _spend(budgets)

    with pytest.raises(RateLimited) as refused:
        _spend(budgets)

    assert refused.value.retry_after == 400
    assert refused.value.headers() == {"Retry-After": "400"}
    assert "phone number" in refused.value.detail


@pytest.mark.usefixtures("_moto")
def test_the_next_window_starts_a_fresh_count():
    budgets = _limits(number={"count": 2, "window_seconds": 600})
    _spend(budgets)
    _spend(budgets)

    assert [_admitted(budgets, now=NOW + 400) for _ in range(3)] == [True, True, False]


@pytest.mark.usefixtures("_moto")
def test_each_number_has_its_own_budget():
    budgets = _limits(number={"count": 2, "window_seconds": 600})
    _spend(budgets, UK)
    _spend(budgets, UK)

    assert (_admitted(budgets, UK), _admitted(budgets, OTHER)) == (False, True)


@pytest.mark.usefixtures("_moto")
def test_one_address_is_limited_across_numbers():
    budgets = _limits(ip={"count": 1, "window_seconds": 600})
    _spend(budgets, UK)

    with pytest.raises(RateLimited, match="from this address"):
        _spend(budgets, OTHER)


@pytest.mark.usefixtures("_moto")
def test_one_address_may_start_count_checks_for_a_number_per_window():
    budgets = _limits(number={"count": 3, "window_seconds": 600})
    for _ in range(3):
        _spend(budgets, UK, "198.51.100.7")

    with pytest.raises(RateLimited, match="for this phone number from this address") as refused:
        _spend(budgets, UK, "198.51.100.7")
    assert refused.value.retry_after == 400


@pytest.mark.usefixtures("_moto")
def test_an_address_that_spent_its_starts_for_a_number_leaves_the_number_to_its_owner():
    budgets = _limits(number={"count": 2, "window_seconds": 600})
    for _ in range(2):
        _spend(budgets, UK, "198.51.100.7")
    for _ in range(10):  # the address keeps trying the victim's number
        with pytest.raises(RateLimited):
            _spend(budgets, UK, "198.51.100.7")

    owner = [_admitted(budgets, UK, "203.0.113.9") for _ in range(3)]  # the number's owner, elsewhere

    assert owner == [True, True, False]  # as many starts as any address, no fewer


@pytest.mark.usefixtures("_moto")
def test_a_number_admits_count_addresses_per_window_then_refuses_new_ones():
    budgets = _limits(number={"count": 2, "window_seconds": 600})
    _spend(budgets, UK, "198.51.100.7")
    _spend(budgets, UK, "203.0.113.9")

    with pytest.raises(RateLimited, match="Too many addresses started checks for this phone number") as refused:
        _spend(budgets, UK, "192.0.2.1")
    assert refused.value.retry_after == 400


@pytest.mark.usefixtures("_moto")
def test_an_address_already_admitted_for_a_number_keeps_its_place_when_the_number_is_full():
    budgets = _limits(number={"count": 2, "window_seconds": 600})
    _spend(budgets, UK, "198.51.100.7")
    _spend(budgets, UK, "203.0.113.9")
    with pytest.raises(RateLimited):
        _spend(budgets, UK, "192.0.2.1")

    _spend(budgets, UK, "203.0.113.9")


@pytest.mark.usefixtures("_moto")
def test_an_address_refused_a_place_is_refused_again_on_retry():
    budgets = _limits(number={"count": 2, "window_seconds": 600})
    _spend(budgets, UK, "198.51.100.7")
    _spend(budgets, UK, "203.0.113.9")
    with pytest.raises(RateLimited):
        _spend(budgets, UK, "192.0.2.1")

    with pytest.raises(RateLimited, match="Too many addresses"):
        _spend(budgets, UK, "192.0.2.1")


@pytest.mark.usefixtures("_moto")
def test_an_address_whose_budget_is_spent_cannot_lock_a_number_out():
    budgets = _limits(number={"count": 2, "window_seconds": 600}, ip={"count": 1, "window_seconds": 600})
    _spend(budgets, UK, "198.51.100.7")
    for _ in range(5):  # the address keeps trying the victim's number
        with pytest.raises(RateLimited, match="from this address"):
            _spend(budgets, UK, "198.51.100.7")

    _spend(budgets, UK, "203.0.113.9")  # the number's owner, elsewhere, still has a start left


@pytest.mark.usefixtures("_moto")
def test_a_start_refused_for_its_address_or_number_spends_nothing_of_the_global_budget():
    budgets = _limits(number={"count": 2, "window_seconds": 600}, ip={"count": 2, "window_seconds": 600},
                     **{"global": {"count": 4, "window_seconds": 600}})
    _spend(budgets, UK, "198.51.100.7")
    _spend(budgets, UK, "198.51.100.7")
    with pytest.raises(RateLimited, match="from this address"):
        _spend(budgets, OTHER, "198.51.100.7")
    _spend(budgets, UK, "203.0.113.9")
    with pytest.raises(RateLimited, match="Too many addresses started checks for this phone number"):
        _spend(budgets, UK, "192.0.2.77")

    _spend(budgets, OTHER, "192.0.2.1")


@pytest.mark.usefixtures("_moto")
def test_without_a_source_address_the_address_budget_is_not_counted():
    budgets = _limits(ip={"count": 1, "window_seconds": 600})

    assert [_admitted(budgets, ip=None) for _ in range(3)] == [True, True, True]


@pytest.mark.usefixtures("_moto")
def test_the_global_budget_counts_every_start():
    budgets = _limits(**{"global": {"count": 2, "window_seconds": 600}})
    _spend(budgets, UK, "198.51.100.7")
    _spend(budgets, OTHER, "203.0.113.9")

    with pytest.raises(RateLimited, match="budget is spent"):
        _spend(budgets, "+447400900006", "192.0.2.1")


@pytest.mark.usefixtures("_moto")
def test_counters_hold_neither_the_number_nor_the_address(moto_env):
    from sandbox.local_aws import services as aws

    _spend(_limits(number={"count": 5, "window_seconds": 600}, ip={"count": 5, "window_seconds": 600}))

    items = aws.client("dynamodb", moto_env.endpoint).scan(TableName="silentcheck-test-checks")["Items"]
    stored = json.dumps(items)
    assert {i["pk"]["S"].split("#")[1] for i in items} == {"number", "number_address", "ip"}
    assert "7400900002" not in stored and "198.51.100.7" not in stored
    assert all(int(i["purge_at"]["N"]) > NOW for i in items)


@given(number=st.integers(2, 100), window=st.integers(1, 86400), ip=st.none() | st.integers(1, 10**6),
       attempts=st.integers(1, 250), now=st.integers(0, 2**31))
@settings(max_examples=40, deadline=None)
def test_no_budgets_let_one_address_lock_a_number_out(number: int, window: int, ip: int | None, attempts: int,
                                                       now: int):
    budgets = _limits(number={"count": number, "window_seconds": window},
                      ip=None if ip is None else {"count": ip, "window_seconds": window})
    counters = FakeCounters()
    for _ in range(attempts):  # one address, trying the victim's number as often as it likes
        with contextlib.suppress(RateLimited):
            limits.spend(budgets, PEPPER, UK, "198.51.100.7", now, counters)

    assert _admitted(budgets, UK, "203.0.113.9", now, counters)  # the owner, from their own line


@pytest.mark.usefixtures("_moto")
def test_addresses_in_one_ipv6_64_count_as_one_address():
    budgets = _limits(number={"count": 2, "window_seconds": 600})
    _spend(budgets, UK, "2001:db8:1:2::1")
    _spend(budgets, UK, "2001:db8:1:2:ffff::9")

    with pytest.raises(RateLimited, match="from this address"):
        _spend(budgets, UK, "2001:db8:1:2:abcd::77")
    _spend(budgets, UK, "2001:db8:1:3::1")  # another /64: another line


@pytest.mark.parametrize(("source", "counted"), [
    ("198.51.100.7", "198.51.100.7"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("::ffff:198.51.100.7", "198.51.100.7"),
])
def test_what_the_budgets_count_as_one_address(source: str, counted: str):
    assert limits.counted_address(source) == counted


# -- the global budget, sharded ------------------------------------------------------------------------

@pytest.mark.parametrize(("count", "shards"), [(10, 4), (3, 10), (1_000_000, 10), (7, 1)])
def test_the_global_budgets_shards_together_hold_exactly_its_count(count: int, shards: int):
    budget = limits.Budget(count, 600)

    assert sum(limits.shard_count(budget, shards, shard) for shard in range(shards)) == count


def test_a_sharded_global_budget_lets_exactly_its_count_start_and_no_more():
    from tests.fakes import FakeCounters

    budgets = limits.parse_limits('{"global": {"count": 10, "window_seconds": 600}}', global_shards=4)
    counters, started = FakeCounters(), 0
    for n in range(60):  # far more than the count: every shard is found full long before the end
        try:
            limits.spend(budgets, PEPPER, f"+4474009{n:05d}", None, NOW, counters)
            started += 1
        except RateLimited:
            pass

    assert started == 10
    assert len({subject for scope, subject, _ in counters.hits if scope == "global"}) == 4


@pytest.mark.parametrize("shards", [0, limits.MAX_GLOBAL_SHARDS + 1])
def test_a_shard_count_out_of_range_says_what_to_fix(shards: int):
    with pytest.raises(limits.LimitsInvalid, match="GLOBAL_BUDGET_SHARDS must be an integer from 1 to 100"):
        limits.parse_limits(limits.DEFAULT_LIMITS, shards)


# -- one write for the caller's budgets and the check --------------------------------------------------

@pytest.mark.usefixtures("_moto")
def test_a_start_refused_for_its_number_spends_nothing_of_its_addresss_budget():
    budgets = _limits(number={"count": 2, "window_seconds": 600}, ip={"count": 3, "window_seconds": 600})
    _spend(budgets, UK, "198.51.100.7")
    _spend(budgets, UK, "198.51.100.7")
    with pytest.raises(RateLimited, match="for this phone number from this address"):
        _spend(budgets, UK, "198.51.100.7")

    assert _admitted(budgets, OTHER, "198.51.100.7")  # the address's third start is still there


def _check(check_id: str) -> Check:
    return Check(check_id=check_id, provider="truid", status=Status.PENDING, created_at=NOW, expires_at=NOW + 300,
                 poll_token_hash="h", number_key="k", state_hash="s", subject=UK)


def test_a_start_refused_for_its_address_records_no_check():
    budgets = _limits(ip={"count": 1, "window_seconds": 600})
    fakes = FakeStore()
    limits.spend_and_record(budgets, PEPPER, UK, "198.51.100.7", NOW, fakes.counters, fakes, _check("first"))

    with pytest.raises(RateLimited, match="from this address"):
        limits.spend_and_record(budgets, PEPPER, OTHER, "198.51.100.7", NOW, fakes.counters, fakes, _check("second"))

    assert set(fakes.checks) == {"first"}


def test_a_start_the_deployments_budget_refuses_leaves_no_usable_check_behind():
    budgets = _limits(ip={"count": 5, "window_seconds": 600}, **{"global": {"count": 1, "window_seconds": 600}})
    fakes = FakeStore()
    limits.spend_and_record(budgets, PEPPER, UK, "198.51.100.7", NOW, fakes.counters, fakes, _check("first"))

    with pytest.raises(RateLimited, match="budget is spent"):
        limits.spend_and_record(budgets, PEPPER, OTHER, "203.0.113.9", NOW, fakes.counters, fakes, _check("second"))

    withdrawn = fakes.checks["second"]
    assert withdrawn.is_expired_at(NOW) and withdrawn.state_hash is None and withdrawn.subject is None
    assert not fakes.checks["first"].is_expired_at(NOW)


def _conflicted(stubber: Stubber, times: int) -> None:
    for _ in range(times):
        stubber.add_client_error("transact_write_items", "TransactionCanceledException", http_status_code=400,
                                 modeled_fields={"CancellationReasons": [{"Code": "TransactionConflict"},
                                                                         {"Code": "None"}]})


@pytest.mark.usefixtures("_moto")
def test_a_start_whose_budgets_another_start_wrote_at_the_same_moment_is_tried_again():
    budgets = _limits(number={"count": 2, "window_seconds": 600}, ip={"count": 5, "window_seconds": 600})
    with Stubber(aws.client("dynamodb")) as stubber:  # the container's one client
        _conflicted(stubber, 2)
        stubber.add_response("transact_write_items", {})

        limits.spend(budgets, PEPPER, UK, "198.51.100.7", NOW, store.counters)

        stubber.assert_no_pending_responses()


@pytest.mark.usefixtures("_moto")
def test_a_start_that_keeps_meeting_other_starts_is_asked_to_retry_in_a_second():
    budgets = _limits(number={"count": 2, "window_seconds": 600}, ip={"count": 5, "window_seconds": 600})
    with Stubber(aws.client("dynamodb")) as stubber:  # the container's one client
        _conflicted(stubber, 3)

        with pytest.raises(RateLimited, match="starting at once") as refused:
            limits.spend(budgets, PEPPER, UK, "198.51.100.7", NOW, store.counters)

    assert refused.value.retry_after == 1
