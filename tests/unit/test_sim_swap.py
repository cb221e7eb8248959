"""SIM swap in the same check, as the service decides it against in-memory fakes: what may be asked, which
providers are offered the check, what is refused before any budget or provider call, and what a result and
its attestation say. Plus the tru.ID SubscriberCheck answer's mapping, which is pure."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from silentcheck import config, routing, service
from silentcheck.api_shapes import CheckCreated, CheckView, StartRequest
from silentcheck.checks import Binding, Check, Outcome, Reason, Status
from silentcheck.errors import InvalidRequest, ProviderNotConfigured, SimSwapOutOfRange, SimSwapUnsupported
from silentcheck.providers import truid_subscriber
from silentcheck.sim_swap import HoursRange, SimSwapAnswer, answering, requested_hours
from tests.fakes import FakeProvider, World, configure_for_fakes

UK = "+447400900002"
ROUTING = {"default": ["infobip", "truid", "camara"], "app_may_choose": ["truid", "camara", "infobip"]}
SWAPPED = SimSwapAnswer(24, swapped=True, raw_code="x")


@dataclass
class FakeSimSwapProvider(FakeProvider):
    """A provider that answers SIM swap within `hours` (None: not configured)."""

    hours: HoursRange | None = field(default_factory=lambda: HoursRange(1, 2400))

    def sim_swap_range(self) -> HoursRange:
        if self.hours is None:
            raise ProviderNotConfigured("not configured")
        return self.hours


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    configure_for_fakes(monkeypatch, ROUTING=json.dumps(ROUTING), ALLOW_UNBOUND_CHECKS="true",  # fakes: no hop
                        LIMITS='{"global": {"count": 9, "window_seconds": 60}}')
    yield
    config.reset()


@pytest.fixture
def world() -> World:
    return World(provider=FakeSimSwapProvider(binding=Binding.NONE, hours=HoursRange(1, 9000)),
                 others={"camara": FakeSimSwapProvider(binding=Binding.NONE), "infobip": FakeProvider()})


def start(world: World, sim_swap: object = None) -> CheckCreated:
    request = StartRequest(phone_number=UK, sim_swap=sim_swap)
    return service.start(request, "198.51.100.7", "https://api.example.com/v1", world.deps)


def asked(world: World) -> list[str]:
    return [name for name, adapter in (("truid", world.provider), *world.others.items()) if adapter.started]


def poll(world: World, created: CheckCreated) -> CheckView:
    return service.poll(created.check_id, created.poll_token, None, "https://api.example.com/v1", world.deps)


# == the request ============================================================================================

@pytest.mark.parametrize(("value", "hours"), [(None, None), ({"max_age_hours": 168}, 168), ({"max_age_hours": 0}, 0)])
def test_sim_swap_is_absent_or_a_whole_number_of_hours(value: object, hours: int | None):
    assert requested_hours(value) == hours


@pytest.mark.parametrize("value", [{}, {"max_age_hours": 1.5}, {"max_age_hours": "24"}, {"max_age_hours": False},
                                   {"max_age_hours": 24, "extra": 1}, [24], "24", 24])
def test_anything_else_is_an_invalid_request(value: object):
    with pytest.raises(InvalidRequest, match="max_age_hours"):
        requested_hours(value)


# == routing ================================================================================================

def test_providers_that_cannot_answer_are_left_out_in_order():
    ranges = {"infobip": None, "truid": HoursRange(1, 9000), "camara": HoursRange(1, 2400)}

    assert answering(("infobip", "truid", "camara"), ranges, 24) == ("truid", "camara")
    assert answering(("infobip", "camara", "truid"), ranges, 3000) == ("truid",)


def test_a_check_asking_sim_swap_is_offered_past_infobip(world: World):
    created = start(world, {"max_age_hours": 24})

    assert (created.provider, asked(world)) == ("truid", ["truid"])
    assert world.provider.started[0].sim_swap_hours == 24
    assert world.store.checks[created.check_id].sim_swap_hours == 24


def test_without_sim_swap_routing_is_unchanged(world: World):
    created = start(world)

    assert (created.provider, asked(world)) == ("infobip", ["infobip"])
    assert world.others["infobip"].started[0].sim_swap_hours is None


def test_fallback_goes_only_to_providers_that_can_answer_the_period(world: World):
    world.provider.refusal = Outcome.failed(Reason.CARRIER_UNSUPPORTED, "400")

    assert start(world, {"max_age_hours": 24}).provider == "camara"
    assert start(world, {"max_age_hours": 3000}).status is Status.FAILED  # camara answers at most 2400


@pytest.mark.parametrize("hours", [0, 9001])
def test_a_period_no_candidate_answers_is_refused_naming_the_limits_before_any_budget_or_call(
        world: World, hours: int):
    with pytest.raises(SimSwapOutOfRange) as refused:
        start(world, {"max_age_hours": hours})

    assert "truid: 1 to 9000; camara: 1 to 2400" in refused.value.detail
    assert refused.value.extensions == {"limits": {"truid": [1, 9000], "camara": [1, 2400]}}
    assert (asked(world), world.store.checks, world.counters.hits) == ([], {}, {})


def test_sim_swap_where_only_providers_that_cannot_answer_serve_is_refused(world: World,
                                                                           monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ROUTING", json.dumps({"default": ["infobip"]}))

    with pytest.raises(SimSwapUnsupported, match="infobip"):
        start(world, {"max_age_hours": 24})
    assert (asked(world), world.store.checks, world.counters.hits) == ([], {}, {})


def test_the_routing_table_decides_which_providers_may_answer(world: World, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ROUTING", json.dumps({**ROUTING, "sim_swap": ["camara"]}))

    assert start(world, {"max_age_hours": 24}).provider == "camara"
    with pytest.raises(SimSwapOutOfRange, match="camara: 1 to 2400"):
        start(world, {"max_age_hours": 3000})  # tru.ID could, but may not


def test_the_routing_tables_sim_swap_names_known_providers():
    with pytest.raises(routing.RoutingInvalid, match="sim_swap"):
        routing.parse_table(json.dumps({"default": ["truid"], "sim_swap": ["nobody"]}))
    assert routing.parse_table(json.dumps({"default": ["truid"]})).sim_swap is None


def test_a_provider_that_is_not_configured_cannot_answer(world: World):
    assert isinstance(world.provider, FakeSimSwapProvider)
    world.provider.hours = None

    assert start(world, {"max_age_hours": 24}).provider == "camara"


# == the result =============================================================================================

def test_a_verified_result_shows_and_signs_the_providers_answer(world: World):
    created = start(world, {"max_age_hours": 24})
    world.provider.refresh_result = Outcome(Status.VERIFIED, None, "COMPLETED", SWAPPED)

    view = poll(world, created)

    expected = {"max_age_hours": 24, "swapped": True}
    assert view.model_dump()["sim_swap"] == expected
    assert world.signer.signed[-1]["sim_swap"] == expected


def test_a_verified_result_without_an_answer_says_the_sim_swap_is_unavailable(world: World):
    created = start(world, {"max_age_hours": 24})
    world.provider.refresh_result = Outcome.verified("COMPLETED")

    view = poll(world, created)

    unavailable = {"max_age_hours": 24, "swapped": None, "reason": "SIM_SWAP_UNAVAILABLE"}
    assert view.model_dump()["sim_swap"] == unavailable
    assert world.signer.signed[-1]["sim_swap"] == unavailable


@pytest.mark.parametrize("outcome", [Outcome.not_verified("COMPLETED"), Outcome.failed(Reason.PROVIDER_ERROR, "x")])
def test_a_result_that_is_not_verified_says_nothing_of_the_sim(world: World, outcome: Outcome):
    created = start(world, {"max_age_hours": 24})
    world.provider.refresh_result = outcome

    view = poll(world, created)

    assert "sim_swap" not in view.model_dump() and "sim_swap" not in world.signer.signed[-1]


def test_a_check_that_did_not_ask_shows_no_sim_swap(world: World):
    world.others["infobip"].binding = Binding.NONE
    created = start(world)
    world.others["infobip"].refresh_result = Outcome.verified("VALID")

    view = poll(world, created)

    assert view.status is Status.VERIFIED
    assert "sim_swap" not in view.model_dump() and "sim_swap" not in world.signer.signed[-1]


def test_only_a_verified_outcome_carries_a_sim_swap_answer():
    with pytest.raises(ValueError, match="VERIFIED"):
        Outcome(Status.NOT_VERIFIED, None, "x", SWAPPED)


# == tru.ID SubscriberCheck's answer ========================================================================

def subscriber_check(hours: int = 24) -> Check:
    return Check("c", "truid", Status.PENDING, 0, 300, "h", "k", attributes={"product": "subscriber_check"},
                 sim_swap_hours=hours)


@pytest.mark.parametrize(("body", "expected"), [
    ({"no_sim_change": True, "no_sim_change_period": 1440}, SimSwapAnswer(24, False, None, "no_sim_change:true")),
    ({"no_sim_change": False, "sim_change_within": 720}, SimSwapAnswer(24, True, 12, "no_sim_change:false")),
    ({"no_sim_change": False, "sim_change_within": 60}, SimSwapAnswer(24, True, 1, "no_sim_change:false")),
    ({"no_sim_change": True, "sim_change_within": 525601}, SimSwapAnswer(24, False, None, "no_sim_change:true")),
    ({}, SimSwapAnswer(24, None, None, "no_sim_change:missing")),
    ({"no_sim_change": "false"}, SimSwapAnswer(24, None, None, "no_sim_change:missing")),
    ({"no_sim_change": True, "no_sim_change_period": 10080}, SimSwapAnswer(24, None, None,
                                                                           "no_sim_change_period:mismatch")),
])
def test_subscriber_check_fields_map_to_the_answer(body: dict[str, object], expected: SimSwapAnswer):
    assert truid_subscriber.answer({"status": "COMPLETED", "match": True, **body}, subscriber_check()) == expected


def test_a_phone_check_has_no_sim_swap_answer():
    check = Check("c", "truid", Status.PENDING, 0, 300, "h", "k", sim_swap_hours=24)

    assert truid_subscriber.answer({"no_sim_change": True}, check) is None


def test_tru_id_answers_60_to_540000_minutes_as_1_to_9000_hours():
    assert HoursRange(1, 9000) == truid_subscriber.HOURS
    assert truid_subscriber.period_minutes(24) == 1440
