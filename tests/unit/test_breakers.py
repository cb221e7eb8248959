"""Circuit breakers kept in the table (moto): when they open, how long, and what closes them."""

import pytest

from silentcheck import breakers
from silentcheck.breakers import CircuitBreaker
from silentcheck.store import counters

NOW = 1_900_000_000
CONFIG = CircuitBreaker(failures=3, window_seconds=60, open_seconds=30)


@pytest.fixture(autouse=True)
def _moto(moto_env):
    yield


def test_a_provider_without_failures_has_no_breaker():
    assert counters.breaker_states(("truid",)) == {}


def test_the_breaker_opens_at_the_threshold_within_the_window():
    opened = [breakers.record_failure(counters, "truid", NOW + i, CONFIG) for i in range(3)]

    assert opened == [False, False, True]
    assert breakers.is_open(counters.breaker_states(("truid",))["truid"], NOW + 10)


def test_an_open_breaker_closes_by_itself_after_open_seconds():
    for i in range(3):
        breakers.record_failure(counters, "truid", NOW + i, CONFIG)

    assert not breakers.is_open(counters.breaker_states(("truid",))["truid"], NOW + 2 + 30)


def test_failures_spread_wider_than_the_window_do_not_open_it():
    opened = [breakers.record_failure(counters, "truid", NOW + i * 61, CONFIG) for i in range(5)]

    assert opened == [False] * 5


def test_a_success_closes_the_breaker_and_resets_the_count():
    for i in range(3):
        breakers.record_failure(counters, "truid", NOW + i, CONFIG)

    breakers.record_success(counters, "truid", NOW + 3)

    assert counters.breaker_states(("truid",))["truid"] == {"failures": 0, "window_start": NOW + 2, "open_until": 0}


def test_a_breaker_is_open_until_its_open_until_passes():
    state = {"failures": 0, "window_start": 100, "open_until": 130}

    assert [breakers.is_open(state, now) for now in (129, 130)] == [True, False]


def test_breakers_are_per_provider():
    for i in range(3):
        breakers.record_failure(counters, "truid", NOW + i, CONFIG)

    assert set(counters.breaker_states(("truid", "infobip"))) == {"truid"}
