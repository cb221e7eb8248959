"""service.start offering a check to its candidates in turn (routing.Fallback): who is asked, in which
order, when it stops, and what the record keeps. The service against in-memory fakes and a fake clock."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from silentcheck import config, service, tokens
from silentcheck.api_shapes import CheckCreated, StartRequest
from silentcheck.checks import Binding, Outcome, Reason, Status
from silentcheck.errors import CheckNotFound, InvalidReturn, ProviderNotConfigured, RateLimited
from silentcheck.providers.base import CallbackRequest, DeviceNetwork, StartContext
from tests.fakes import (
    FakeCoreProvider,
    FakeCoverageProvider,
    FakeOperatorTokenProvider,
    FakeProvider,
    World,
    configure_for_fakes,
)

UK = "+447400900002"
ROUTING = {"default": ["truid", "camara", "infobip"], "app_may_choose": ["truid", "camara", "infobip"]}
REFUSED = Outcome.failed(Reason.CARRIER_UNSUPPORTED, "400")
CALLBACK_URL = "https://callbacks.example.com"


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    configure_for_fakes(monkeypatch, ROUTING=json.dumps(ROUTING), LIMITS="{}", CALLBACK_URL=CALLBACK_URL)
    yield
    config.reset()


@pytest.fixture
def world() -> World:
    return World(provider=FakeProvider(), others={"camara": FakeOperatorTokenProvider(binding=Binding.DEVICE),
                                                  "infobip": FakeProvider()})


def start(world: World, operator_token: str | None = None, source_ip: str | None = "198.51.100.7") -> CheckCreated:
    return service.start(StartRequest(phone_number=UK, operator_token=operator_token), source_ip,
                         "https://api.example.com/v1", world.deps)


def asked(world: World) -> list[str]:
    return [name for name, adapter in (("truid", world.provider), *world.others.items()) if adapter.started]


def adapter(world: World, name: str) -> FakeCoreProvider:
    return world.provider if name == "truid" else world.others[name]


def test_the_first_candidate_that_accepts_gets_the_check(world: World):
    world.provider.refusal = REFUSED

    created = start(world)

    assert (created.provider, created.status) == ("camara", Status.PENDING)
    assert asked(world) == ["truid", "camara"]


def test_candidates_are_asked_in_the_routing_order(world: World):
    world.provider.refusal = adapter(world, "camara").refusal = REFUSED

    created = start(world)

    assert world.store.checks[created.check_id].attempts == ("truid:CARRIER_UNSUPPORTED:400",
                                                             "camara:CARRIER_UNSUPPORTED:400")


@pytest.mark.parametrize("reason", [Reason.CARRIER_UNSUPPORTED, Reason.PROVIDER_ERROR, Reason.PROVIDER_REJECTED])
def test_a_refusal_another_provider_may_not_share_falls_back(world: World, reason: Reason):
    world.provider.refusal = Outcome.failed(reason, "x")

    assert start(world).provider == "camara"


@pytest.mark.parametrize("reason", [Reason.NOT_ON_MOBILE_DATA, Reason.NUMBER_UNSUPPORTED])
def test_a_refusal_every_provider_would_share_stops_the_fallback(world: World, reason: Reason):
    world.provider.refusal = Outcome.failed(reason, "x")

    created = start(world)

    assert (created.status, created.reason) == (Status.FAILED, reason)
    assert asked(world) == ["truid"]


def test_a_check_nobody_accepts_ends_with_the_last_refusal_against_the_last_provider_asked(world: World):
    for name in ROUTING["default"]:
        adapter(world, name).refusal = Outcome.failed(Reason.PROVIDER_REJECTED, f"{name}-said-no")

    created = start(world)

    check = world.store.checks[created.check_id]
    assert (check.provider, check.status, check.reason, check.raw_code) == (
        "infobip", Status.FAILED, Reason.PROVIDER_REJECTED, "infobip-said-no")


def test_the_record_keeps_every_refusal_in_order(world: World):
    for name in ROUTING["default"]:
        adapter(world, name).refusal = Outcome.failed(Reason.PROVIDER_ERROR, "503")

    created = start(world)

    assert world.store.checks[created.check_id].attempts == ("truid:PROVIDER_ERROR:503", "camara:PROVIDER_ERROR:503",
                                                             "infobip:PROVIDER_ERROR:503")


def test_the_provider_that_accepts_is_recorded_with_the_refusals_before_it(world: World):
    world.provider.refusal = REFUSED

    created = start(world)

    check = world.store.checks[created.check_id]
    assert (check.provider, check.attempts, check.provider_ref) == ("camara", ("truid:CARRIER_UNSUPPORTED:400",),
                                                                     "ref-1")


def test_a_provider_that_is_not_configured_is_passed_over(world: World):
    world.provider.start_error = ProviderNotConfigured("no truid section in the secret")

    created = start(world)

    assert created.provider == "camara"
    assert world.store.checks[created.check_id].attempts == ("truid:PROVIDER_REJECTED:not_configured",)


def test_an_unexpected_error_fails_the_check_with_what_was_tried_and_is_raised(world: World):
    world.provider.refusal = REFUSED
    adapter(world, "camara").start_error = RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        start(world)

    check = next(iter(world.store.checks.values()))
    assert (check.status, check.reason, check.raw_code, check.attempts) == (
        Status.FAILED, Reason.PROVIDER_ERROR, "internal_error", ("truid:CARRIER_UNSUPPORTED:400",))
    assert asked(world) == ["truid", "camara"]


def test_an_operator_token_goes_to_the_provider_that_takes_one(world: World):
    created = start(world, operator_token="t" * 32)

    assert created.provider == "camara"
    assert adapter(world, "camara").started[0].operator_token == "t" * 32


def test_only_a_provider_that_pushes_results_gets_a_callback_url(world: World):
    world.provider.refusal = REFUSED
    start(world)

    truid_url, camara_url = world.provider.started[0].callback_url, adapter(world, "camara").started[0].callback_url

    assert truid_url is not None and truid_url.startswith(f"{CALLBACK_URL}/truid/")
    assert camara_url is None


def test_a_spent_budget_refuses_the_start_before_any_record_or_provider_call(
        world: World, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LIMITS", json.dumps({"number": {"count": 2, "window_seconds": 600}}))
    config.reset()
    start(world), start(world)

    with pytest.raises(RateLimited):
        start(world)

    assert len(world.store.checks) == 2
    assert len(world.provider.started) == 2


@pytest.fixture
def covered(monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("ROUTING", json.dumps({**ROUTING, "coverage_precheck": True,
                                              "networks": {"camara": ["23415"]}}))
    return World(provider=FakeCoverageProvider(), others={"camara": FakeCoreProvider(), "infobip": FakeProvider()})


def test_a_device_the_coverage_lookup_finds_off_mobile_data_fails_before_any_provider_is_asked(covered: World):
    assert isinstance(covered.provider, FakeCoverageProvider)
    covered.provider.network = DeviceNetwork(mobile=False)

    created = start(covered)

    assert (created.status, created.reason) == (Status.FAILED, Reason.NOT_ON_MOBILE_DATA)
    assert asked(covered) == []


def test_the_coverage_lookup_leaves_out_the_providers_that_do_not_serve_the_network(covered: World):
    assert isinstance(covered.provider, FakeCoverageProvider)
    covered.provider.network = DeviceNetwork(mobile=True, network_id="23410", coverage_provider_serves=False)

    created = start(covered)

    assert created.provider == "infobip"
    assert asked(covered) == ["infobip"]


def _capability(ctx: StartContext) -> str:
    assert ctx.callback_url is not None
    return ctx.callback_url.rpartition("/")[2]


def _truid_refuses_and_infobip_accepts(world: World) -> tuple[StartContext, StartContext, CheckCreated]:
    world.provider.refusal = REFUSED
    adapter(world, "camara").refusal = REFUSED
    created = start(world)
    assert created.provider == "infobip"
    return world.provider.started[0], adapter(world, "infobip").started[0], created


def test_each_provider_offered_gets_its_own_state_and_capability(world: World):
    refused, accepted, _ = _truid_refuses_and_infobip_accepts(world)
    camara = adapter(world, "camara").started[0]

    assert len({refused.state, camara.state, accepted.state}) == 3
    assert _capability(refused) != _capability(accepted)
    assert accepted.return_url.endswith(f"state={accepted.state}")


def test_only_the_accepting_providers_state_and_capability_are_stored(world: World):
    _, accepted, created = _truid_refuses_and_infobip_accepts(world)

    stored = world.store.checks[created.check_id]
    assert (stored.state_hash, stored.capability_hash) == (tokens.digest(accepted.state),
                                                           tokens.digest(_capability(accepted)))


@pytest.mark.parametrize("path_provider", ["truid", "infobip"])
def test_a_refusing_providers_capability_cannot_act_on_the_check(world: World, path_provider: str):
    refused, _, created = _truid_refuses_and_infobip_accepts(world)
    infobip = adapter(world, "infobip")
    assert isinstance(infobip, FakeProvider)
    infobip.callback_outcome = Outcome.verified()  # what a forged callback would say

    with pytest.raises(CheckNotFound):
        service.provider_callback(path_provider, _capability(refused),
                                  CallbackRequest("POST", f"/{path_provider}/x", {}, {}, b"{}"), world.deps)
    assert world.store.checks[created.check_id].status is Status.PENDING


def test_a_refusing_providers_state_cannot_end_the_device_chain(world: World):
    refused, accepted, created = _truid_refuses_and_infobip_accepts(world)

    with pytest.raises(InvalidReturn):
        service.device_return({"state": refused.state}, world.deps)
    assert service.device_return({"state": accepted.state}, world.deps).check_id == created.check_id


def test_a_start_with_binding_none_falls_back_unless_the_deployment_allows_unbound_checks(world: World):
    world.provider.binding = Binding.NONE

    created = start(world)

    assert created.provider == "camara" and created.status is Status.PENDING
    assert world.store.checks[created.check_id].attempts[0] == "truid:PROVIDER_REJECTED:unbound_not_allowed"


def test_a_start_with_binding_none_alone_ends_failed_provider_rejected(world: World,
                                                                       monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ROUTING", json.dumps({"default": ["truid"]}))
    world.provider.binding = Binding.NONE

    created = start(world)

    assert (created.status, created.reason, created.check_url) == (Status.FAILED, Reason.PROVIDER_REJECTED, None)


def test_a_start_with_binding_none_starts_when_the_deployment_allows_unbound_checks(
        world: World, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ALLOW_UNBOUND_CHECKS", "true")
    config.reset()
    world.provider.binding = Binding.NONE

    created = start(world)

    assert (created.provider, created.status, created.binding) == ("truid", Status.PENDING, Binding.NONE)
