"""Circuit breakers as service.start uses them: outage-type refusals open a provider's breaker at the
threshold, an open breaker skips the provider until open_seconds pass, an answer closes it. The service
against in-memory fakes (store, counters) and a fake clock."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import pytest

from silentcheck import breakers, config, service
from silentcheck.api_shapes import CheckCreated, StartRequest
from silentcheck.checks import Outcome, Reason, Status
from tests.fakes import FakeProvider, World, configure_for_fakes

UK = "+447400900002"
BREAKER = {"failures": 2, "window_seconds": 60, "open_seconds": 30}
ROUTING = {"default": ["truid", "infobip"], "circuit_breaker": BREAKER}
OUTAGE = Outcome.failed(Reason.PROVIDER_ERROR, "503")


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    configure_for_fakes(monkeypatch, ROUTING=json.dumps(ROUTING), LIMITS="{}")
    yield
    config.reset()


@pytest.fixture
def world() -> World:
    return World(provider=FakeProvider(), others={"infobip": FakeProvider()})


_NUMBERS = (f"+447400900{n:03d}" for n in itertools.count(100, 2))  # each start another user's number


def start(world: World, number: str | None = None) -> CheckCreated:
    return service.start(StartRequest(phone_number=number or next(_NUMBERS)), "198.51.100.7",
                         "https://api.example.com/v1", world.deps)


def fail_truid(world: World, times: int) -> None:
    world.provider.refusal = OUTAGE
    for _ in range(times):
        start(world)
    world.provider.refusal = None


def is_open(world: World) -> bool:
    return world.counters.breakers.get("truid", {}).get("open_until", 0) > world.clock.now()


def test_outages_up_to_the_threshold_open_the_breaker_for_open_seconds(world: World):
    fail_truid(world, 2)

    assert world.counters.breakers["truid"]["open_until"] == world.clock.now() + 30


def test_fewer_outages_than_the_threshold_leave_the_breaker_closed(world: World):
    fail_truid(world, 1)

    assert not is_open(world)


def test_refusals_that_are_not_outages_do_not_count(world: World):
    world.provider.refusal = Outcome.failed(Reason.CARRIER_UNSUPPORTED, "400")
    for _ in range(3):
        start(world)

    assert "truid" not in world.counters.breakers


def test_outages_further_apart_than_the_window_do_not_open_it(world: World):
    fail_truid(world, 1)
    world.clock.advance(60)
    fail_truid(world, 1)

    assert not is_open(world)


def test_a_provider_whose_breaker_is_open_is_not_asked(world: World):
    fail_truid(world, 2)
    asked_before = len(world.provider.started)

    created = start(world)

    assert len(world.provider.started) == asked_before
    assert created.provider == "infobip"


def test_a_skipped_provider_is_in_the_record(world: World):
    fail_truid(world, 2)

    created = start(world)

    assert world.store.checks[created.check_id].attempts == ("truid:skipped:circuit_open",)


def test_a_check_whose_every_provider_is_skipped_fails_provider_error_circuit_open(
        world: World, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ROUTING", json.dumps({**ROUTING, "default": ["truid"]}))
    fail_truid(world, 2)

    created = start(world)

    check = world.store.checks[created.check_id]
    assert (check.status, check.reason, check.raw_code) == (Status.FAILED, Reason.PROVIDER_ERROR, "circuit_open")


def test_the_provider_is_asked_again_once_open_seconds_have_passed(world: World):
    fail_truid(world, 2)
    world.clock.advance(30)
    asked_before = len(world.provider.started)

    created = start(world)

    assert (len(world.provider.started), created.provider) == (asked_before + 1, "truid")


def test_an_answer_after_the_breaker_reopens_closes_it(world: World):
    fail_truid(world, 2)
    world.clock.advance(30)

    start(world)

    assert world.counters.breakers["truid"]["open_until"] == 0


def test_an_answer_forgets_the_outages_counted_so_far(world: World):
    fail_truid(world, 1)
    start(world)

    fail_truid(world, 1)

    assert not is_open(world)


def test_an_answer_with_nothing_to_close_writes_nothing(world: World):
    start(world)

    assert world.counters.breakers == {}


def test_one_number_failing_again_and_again_counts_once(world: World):
    world.provider.refusal = OUTAGE
    for _ in range(5):  # a caller who found a number the provider fails on
        start(world, UK)

    assert not is_open(world)


def test_the_same_number_counts_again_in_the_next_window(world: World):
    world.provider.refusal = OUTAGE
    world.clock.advance(30 - world.clock.now() % 60)  # half-way through a 60-second window
    start(world, UK)
    world.clock.advance(40)  # the next window, while the breaker still counts the first failure

    start(world, UK)

    assert is_open(world)


class CountingReads:
    """The fake counters, counting how often the breakers are read (one BatchGetItem each time)."""

    def __init__(self, world: World) -> None:
        self.reads = 0
        read = world.counters.breaker_states

        def counted(names: tuple[str, ...]) -> dict[str, dict[str, int]]:
            self.reads += 1
            return read(names)

        world.counters.breaker_states = counted  # type: ignore[method-assign]


def test_a_container_reads_the_breakers_once_per_read_interval_not_once_per_start(world: World):
    counting = CountingReads(world)

    for _ in range(5):
        start(world)
    world.clock.advance(breakers.READ_CACHE_SECONDS)
    start(world)

    assert counting.reads == 2


def test_a_breaker_another_container_opened_is_obeyed_once_the_read_interval_has_passed(world: World):
    start(world)
    world.counters.open_breaker("truid", world.clock.now(), world.clock.now() + 60)  # another container
    asked_before = len(world.provider.started)

    start(world)
    world.clock.advance(breakers.READ_CACHE_SECONDS)
    created = start(world)

    assert len(world.provider.started) == asked_before + 1
    assert created.provider == "infobip"


def test_a_breaker_this_container_opened_is_obeyed_at_once(world: World):
    counting = CountingReads(world)

    fail_truid(world, 2)
    created = start(world)

    assert (counting.reads, created.provider) == (1, "infobip")
