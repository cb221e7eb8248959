"""SIM swap in the same check, through the real handlers, DynamoDB Local and the simulated providers: a
VERIFIED result says whether the number's SIM changed within `max_age_hours` (tru.ID SubscriberCheck v0.2,
CAMARA SIM Swap), signed in the attestation; what cannot be answered is refused before any provider call or
budget; an answer the provider could not give says so."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests

from sandbox.device import Phone
from silentcheck.store import keys
from tests.integration.conftest import App, completion_code
from tests.integration.test_attestation import verified_claims
from tests.integration.test_camara_operator_token import poll_until_final
from tests.integration.test_integration_guide import snippet

TRUID_NUMBER = "+447400900002"
CAMARA_NUMBER = "+34600000012"
PROVIDERS = {"truid": TRUID_NUMBER, "camara": CAMARA_NUMBER}


def start(app: App, number: str, hours: int | None, provider: str | None = None) -> requests.Response:
    body: dict[str, Any] = {"provider": provider} if provider else {}
    if hours is not None:
        body["sim_swap"] = {"max_age_hours": hours}
    return app.start(number, **body)


def checked(app: App, number: str, hours: int | None, provider: str | None = None,
            changed_hours_ago: float | None = None, sim: str | None = None) -> dict[str, Any]:
    """The final view of a check of `number` opened on a phone whose SIM (`sim`, default the number) took its
    number `changed_hours_ago` hours ago (None: never changed)."""
    response = start(app, number, hours, provider)
    assert response.status_code == 201, response.text
    check = response.json()
    phone = Phone.join(app.stack.network.base_url, sim or number, sim_changed_hours_ago=changed_hours_ago)
    code = completion_code(phone.open(check["check_url"]))
    view: dict[str, Any] = app.poll(check, code).json()
    return view


def infobip_requests(app: App) -> list[dict[str, Any]]:
    logged: list[dict[str, Any]] = requests.get(f"{app.stack.infobip.base_url}/_sandbox/requests", timeout=5).json()
    return logged


# == answers ================================================================================================

@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_a_verified_check_of_a_line_that_never_changed_sim_is_not_swapped(app: App, provider: str):
    view = checked(app, PROVIDERS[provider], 168, provider)

    assert (view["status"], view["provider"]) == ("VERIFIED", provider)
    assert view["sim_swap"] == {"max_age_hours": 168, "swapped": False}


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_a_sim_changed_12_hours_ago_is_swapped_within_24_hours(app: App, provider: str):
    view = checked(app, PROVIDERS[provider], 24, provider, changed_hours_ago=12)

    assert view["status"] == "VERIFIED"
    assert (view["sim_swap"]["max_age_hours"], view["sim_swap"]["swapped"]) == (24, True)


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_a_sim_changed_12_hours_ago_is_not_swapped_within_6_hours(app: App, provider: str):
    view = checked(app, PROVIDERS[provider], 6, provider, changed_hours_ago=12)

    assert view["status"] == "VERIFIED"
    assert (view["sim_swap"]["max_age_hours"], view["sim_swap"]["swapped"]) == (6, False)


def test_truid_says_within_which_window_the_sim_last_changed(app: App):
    view = checked(app, TRUID_NUMBER, 24, "truid", changed_hours_ago=3)

    assert view["sim_swap"] == {"max_age_hours": 24, "swapped": True, "changed_within_hours": 6}


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_the_attestation_signs_the_sim_swap_answer_with_the_verdict(app: App, provider: str):
    view = checked(app, PROVIDERS[provider], 24, provider, changed_hours_ago=12)

    claims = verified_claims(app, view["attestation"])  # against the published JWKS

    assert (claims["status"], claims["phone_number"]) == ("VERIFIED", PROVIDERS[provider])
    assert claims["sim_swap"] == view["sim_swap"]
    assert claims["sim_swap"]["swapped"] is True


def test_a_check_that_did_not_verify_says_nothing_of_the_sim(app: App):
    view = checked(app, TRUID_NUMBER, 24, "truid", sim="+447400900004", changed_hours_ago=1)

    assert view["status"] == "NOT_VERIFIED"
    assert "sim_swap" not in view
    assert "sim_swap" not in verified_claims(app, view["attestation"])


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_without_sim_swap_the_result_has_no_sim_swap_and_the_provider_is_asked_nothing_of_the_sim(
        app: App, provider: str):
    view = checked(app, PROVIDERS[provider], None, provider, changed_hours_ago=12)

    assert view["status"] == "VERIFIED"
    assert "sim_swap" not in view and "sim_swap" not in verified_claims(app, view["attestation"])
    assert not [r for r in app.truid_requests() if "subscriber_check" in r["path"]]
    assert app.camara_requests("/sim-swap/v2/check") == []


def test_truid_is_asked_through_subscriber_check_with_the_period_in_minutes(app: App):
    checked(app, TRUID_NUMBER, 24, "truid")

    (create,) = [r for r in app.truid_requests() if r["method"] == "POST" and r["path"].endswith("/checks")]
    assert create["path"] == "/subscriber_check/v0.2/checks"
    assert json.loads(create["body"])["period"] == 24 * 60


def test_camara_asks_sim_swap_with_the_checks_own_token_and_no_phone_number(app: App):
    checked(app, CAMARA_NUMBER, 24, "camara")

    (call,) = app.camara_requests("/sim-swap/v2/check")
    assert json.loads(call["body"]) == {"maxAge": 24}
    (authorize,) = app.camara_requests("/authorize")
    assert "sim-swap:check" in authorize["query"]["scope"].split()


# == no answer ==============================================================================================

def test_truid_completing_without_no_sim_change_is_verified_with_the_sim_swap_unavailable(app: App):
    view = checked(app, "+447400900091", 24, "truid", changed_hours_ago=1)  # 91: the operator shares no SIM data

    assert view["status"] == "VERIFIED"
    assert view["sim_swap"] == {"max_age_hours": 24, "swapped": None, "reason": "SIM_SWAP_UNAVAILABLE"}
    assert verified_claims(app, view["attestation"])["sim_swap"] == view["sim_swap"]


def test_camara_answering_service_not_applicable_is_verified_with_the_sim_swap_unavailable(app: App):
    view = checked(app, "+34600000096", 24, "camara", changed_hours_ago=1)  # 96: SIM swap not offered

    assert view["status"] == "VERIFIED"
    assert view["sim_swap"] == {"max_age_hours": 24, "swapped": None, "reason": "SIM_SWAP_UNAVAILABLE"}


# == routing and refusals ====================================================================================

def test_a_sim_swap_check_is_routed_past_infobip(app: App):
    app.stack.configure_routing({"default": ["infobip", "truid"]})

    view = checked(app, TRUID_NUMBER, 24, changed_hours_ago=12)

    assert (view["provider"], view["sim_swap"]["swapped"]) == ("truid", True)
    assert infobip_requests(app) == []


def test_a_sim_swap_check_only_infobip_could_serve_is_refused_before_any_provider_call(app: App):
    app.stack.configure_routing({"default": ["infobip"], "app_may_choose": ["infobip"]})
    checks_before = len(app.items(keys.CHECK))

    response = start(app, TRUID_NUMBER, 24)

    assert (response.status_code, response.json()["code"]) == (400, "SIM_SWAP_UNSUPPORTED")
    assert "infobip" in response.json()["detail"]
    assert infobip_requests(app) == [] and app.truid_requests() == []
    assert len(app.items(keys.CHECK)) == checks_before and app.items(keys.LIMIT) == []


@pytest.mark.parametrize(("provider", "hours", "limit"), [("camara", 2401, "1 to 2400"), ("truid", 9001, "1 to 9000"),
                                                           ("camara", 0, "1 to 2400")])
def test_an_out_of_range_max_age_is_refused_naming_the_limit_before_any_provider_call(
        app: App, provider: str, hours: int, limit: str):
    checks_before = len(app.items(keys.CHECK))

    response = start(app, PROVIDERS[provider], hours, provider)

    assert (response.status_code, response.json()["code"]) == (400, "SIM_SWAP_OUT_OF_RANGE")
    assert limit in response.json()["detail"]
    assert app.truid_requests() == [] and app.camara_requests() == []
    assert len(app.items(keys.CHECK)) == checks_before
    assert app.items(keys.LIMIT) == []  # no budget spent


def test_an_operator_limit_below_camaras_is_refused_before_the_aggregator_is_asked(app: App):
    app.stack.configure_camara(sim_swap_max_age_hours=720)

    response = start(app, CAMARA_NUMBER, 721, "camara")

    assert (response.status_code, response.json()["code"]) == (400, "SIM_SWAP_OUT_OF_RANGE")
    assert "camara: 1 to 720" in response.json()["detail"]
    assert app.camara_requests() == []


def test_truid_v0_1_cannot_answer_sim_swap(app: App):
    app.stack.configure_truid(api_version="v0.1")

    response = start(app, TRUID_NUMBER, 24, "truid")

    assert (response.status_code, response.json()["code"]) == (400, "SIM_SWAP_UNSUPPORTED")
    assert app.truid_requests() == []


@pytest.mark.parametrize("sim_swap", [{"max_age_hours": "24"}, {"max_age_hours": 24.5}, {"hours": 24}, [24], 24,
                                      {"max_age_hours": True}])
def test_a_malformed_sim_swap_is_an_invalid_request(app: App, sim_swap: Any):
    response = app.start(TRUID_NUMBER, sim_swap=sim_swap)

    assert (response.status_code, response.json()["code"]) == (400, "INVALID_REQUEST")
    assert app.truid_requests() == []


# == docs/integration.md's decision, on real attestations ====================================================

@pytest.mark.parametrize(("number", "changed_hours_ago", "decision"), [
    (TRUID_NUMBER, None, "proceed"), (TRUID_NUMBER, 12, "hold"), ("+447400900091", 12, "unknown")])
def test_the_integration_guides_sim_swap_decision_on_a_verified_attestation(
        app: App, number: str, changed_hours_ago: float | None, decision: str):
    namespace: dict[str, Any] = {}
    exec(compile(snippet("sim_swap_decision.py"), "sim_swap_decision.py", "exec"), namespace)
    view = checked(app, number, 24, "truid", changed_hours_ago=changed_hours_ago)

    claims = verified_claims(app, view["attestation"])

    assert namespace["sim_swap_decision"](claims, 24) == decision
    assert namespace["sim_swap_decision"](claims, 168) == "unknown"  # an answer to another question


# == CAMARA's operator-token flow (CIBA) ======================================================================

@pytest.mark.parametrize(("hours", "swapped"), [(24, True), (6, False)])
def test_an_operator_token_check_answers_sim_swap_too(app: App, advance: Any, hours: int, swapped: bool):
    number = "+34600000056"
    Phone.join(app.stack.network.base_url, number, bearer="wifi", sim_changed_hours_ago=12)
    response = app.start(number, operator_token=app.operator_token(number), sim_swap={"max_age_hours": hours})
    assert response.status_code == 201, response.text

    view = poll_until_final(app, response.json(), advance)

    assert (view["status"], view["binding"]) == ("VERIFIED", "operator_token")
    assert (view["sim_swap"]["max_age_hours"], view["sim_swap"]["swapped"]) == (hours, swapped)
    (authorize,) = app.camara_requests("/bc-authorize")
    assert "sim-swap:check" in parse_qs(authorize["body"])["scope"][0].split()


def test_a_subscriber_check_whose_token_is_refused_mid_check_retries_with_its_own_scope(app: App):
    response = start(app, TRUID_NUMBER, 24, "truid")
    check = response.json()
    requests.post(f"{app.stack.truid.base_url}/_sandbox/revoke-tokens", timeout=5)  # the PATCH gets 401 first
    phone = Phone.join(app.stack.network.base_url, TRUID_NUMBER, sim_changed_hours_ago=12)

    view = app.poll(check, completion_code(phone.open(check["check_url"]))).json()

    assert (view["status"], view["sim_swap"]["swapped"]) == ("VERIFIED", True)
    patches = [r for r in app.truid_requests() if r["method"] == "PATCH"]
    assert [r["path"].split("/")[1] for r in patches] == ["subscriber_check", "subscriber_check"]
