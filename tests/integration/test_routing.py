"""Routing through the real handlers and the simulated providers: each number reaches a provider that
can serve it, a refusal falls back to the next one (and the record says why), a failing provider is
skipped for a while, and tru.ID's coverage lookup can stop a check before anything is billed."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from sandbox.device import bound_session
from tests.integration.conftest import App, completion_code

UK = "+447400900002"


def attempts(app: App, check_id: str) -> list[str]:
    return [a["S"] for a in app.item(check_id).get("attempts", {}).get("L", [])]


def truid_creates(app: App) -> int:
    return len([r for r in app.truid_requests() if r["method"] == "POST" and r["path"].endswith("/checks")])


def infobip_verifies(app: App) -> int:
    logged = requests.get(f"{app.stack.infobip.base_url}/_sandbox/requests", timeout=5).json()
    return len([e for e in logged if e["path"] == "/mi/verification/1/verify"])


@pytest.fixture(autouse=True)
def _quiet_infobip(app: App):
    requests.delete(f"{app.stack.infobip.base_url}/_sandbox/requests", timeout=5)
    requests.delete(f"{app.stack.truid.base_url}/_sandbox/coverage", timeout=5)
    yield
    app.stack.infobip_simulator.courier.wait_idle(10)


# -- the sandbox table ------------------------------------------------------------------------------

@pytest.mark.parametrize(("number", "provider"), [
    ("+34600000012", "camara"), ("+5511987650012", "infobip"), ("+4915123456789", "infobip"), (UK, "truid"),
])
def test_each_number_goes_to_the_first_provider_of_its_countrys_route(app: App, number, provider):
    assert app.started(number)["provider"] == provider


def test_a_route_can_be_followed_to_verified(app: App):
    check = app.started("+34600000012")
    opened = app.phone("+34600000012").open(check["check_url"])

    assert app.poll(check, completion_code(opened)).json()["status"] == "VERIFIED"


# -- fallback ---------------------------------------------------------------------------------------

def test_a_503_from_the_first_provider_falls_back_to_the_second_within_the_request(app: App):
    app.truid_fault(method="POST", path_regex="/checks$", status=503)

    check = app.started(UK)
    opened = app.phone(UK).open(check["check_url"])

    assert (check["provider"], check["status"]) == ("infobip", "PENDING")
    assert app.poll(check, completion_code(opened)).json()["status"] == "VERIFIED"
    assert attempts(app, check["check_id"]) == ["truid:PROVIDER_ERROR:503:service_unavailable"]


def test_a_provider_that_refused_cannot_forge_the_callback_of_the_one_that_accepted(app: App):
    app.truid_fault(method="POST", path_regex="/checks$", status=503)
    check = app.started(UK)
    (refused_create,) = [r for r in app.truid_requests() if r["method"] == "POST" and r["path"].endswith("/checks")]
    truid_capability = json.loads(refused_create["body"])["callback_url"].rpartition("/")[2]
    (infobip_check,) = requests.get(f"{app.stack.infobip.base_url}/_sandbox/checks", timeout=5).json()[-1:]

    # tru.ID holds its own capability; Infobip's token is in check_url, which the app and the phone see.
    forged = requests.post(f"{app.stack.gateway.callback_url.rstrip('/')}/infobip/{truid_capability}",
                           json={"token": infobip_check["token"], "result": "VALID"}, timeout=10)

    assert check["provider"] == "infobip"
    assert forged.status_code == 404
    assert app.item(check["check_id"])["status"]["S"] == "PENDING"


def test_carrier_unsupported_falls_back(app: App):
    app.stack.configure_routing({"default": ["truid", "camara"]})

    check = app.started("+447400900098")  # tru.ID: 400 mno_not_supported

    assert check["provider"] == "camara"
    assert attempts(app, check["check_id"]) == ["truid:CARRIER_UNSUPPORTED:400:mno_not_supported"]


def test_when_every_provider_refuses_the_check_fails_with_the_last_reason_and_all_attempts(app: App):
    check = app.start("+447400900096").json()  # 503 at tru.ID, 500 at Infobip

    assert (check["status"], check["reason"], check["provider"]) == ("FAILED", "PROVIDER_ERROR", "infobip")
    assert [a.split(":")[0] for a in attempts(app, check["check_id"])] == ["truid", "infobip"]


def test_not_on_mobile_data_is_not_retried_on_another_device_hop_provider(app: App):
    app.truid_fault(method="POST", path_regex="/checks$", status=412)

    check = app.start(UK).json()

    assert (check["status"], check["reason"]) == ("FAILED", "NOT_ON_MOBILE_DATA")
    assert infobip_verifies(app) == 0


def test_an_app_asking_for_a_provider_gets_only_that_one(app: App):
    app.truid_fault(method="POST", path_regex="/checks$", status=503)

    check = app.start(UK, provider="truid").json()

    assert (check["status"], check["provider"]) == ("FAILED", "truid") and infobip_verifies(app) == 0


def test_an_app_may_not_ask_for_a_provider_the_deployment_keeps_to_itself(app: App):
    app.stack.configure_routing({"default": ["truid"], "app_may_choose": ["truid"]})

    response = app.start(UK, provider="infobip")

    assert response.status_code == 400 and "does not let apps choose provider 'infobip'" in response.json()["detail"]
    assert infobip_verifies(app) == 0


def test_a_disabled_provider_is_never_called(app: App):
    app.stack.configure_routing({"default": ["truid", "infobip"], "disabled": ["truid"]})

    assert app.started(UK)["provider"] == "infobip" and truid_creates(app) == 0


# -- circuit breaker --------------------------------------------------------------------------------

def test_a_provider_that_keeps_failing_is_skipped_for_a_while_across_containers(app: App):
    breaker = {"failures": 2, "window_seconds": 60, "open_seconds": 60}
    app.stack.configure_routing({"default": ["truid", "infobip"], "circuit_breaker": breaker})
    app.truid_fault(method="POST", path_regex="/checks$", status=503, count=2)
    app.started(UK)
    app.stack.configure_routing({"default": ["truid", "infobip"], "circuit_breaker": breaker})  # a new container
    app.started("+447400900004")  # another user's number: a number failing twice counts once
    app.stack.configure_routing({"default": ["truid", "infobip"], "circuit_breaker": breaker})

    third = app.started(UK)

    assert truid_creates(app) == 2
    assert (third["provider"], attempts(app, third["check_id"])) == ("infobip", ["truid:skipped:circuit_open"])


def test_a_provider_that_fails_less_than_the_threshold_is_still_tried(app: App):
    app.stack.configure_routing({"default": ["truid", "infobip"],
                                 "circuit_breaker": {"failures": 3, "window_seconds": 60, "open_seconds": 60}})
    app.truid_fault(method="POST", path_regex="/checks$", status=503, count=2)
    app.started(UK)
    app.started(UK)

    assert app.started(UK)["provider"] == "truid" and truid_creates(app) == 3


def test_when_every_candidate_is_open_the_check_fails_as_provider_error_without_calls(app: App):
    breaker = {"failures": 1, "window_seconds": 60, "open_seconds": 60}
    app.stack.configure_routing({"default": ["truid"], "circuit_breaker": breaker})
    app.truid_fault(method="POST", path_regex="/checks$", status=503)
    app.start(UK)

    check = app.start(UK).json()

    assert (check["status"], check["reason"]) == ("FAILED", "PROVIDER_ERROR") and truid_creates(app) == 1


# -- coverage pre-check ------------------------------------------------------------------------------

def start_from_phone(app: App, sim: str, bearer: str = "cellular", network_id: str = "23410") -> dict[str, Any]:
    from sandbox.device import Phone

    phone = Phone.join(app.stack.network.base_url, sim, bearer, network_id)  # type: ignore[arg-type]
    with bound_session(phone.ip) as session:
        response = session.post(f"{app.api}/checks", json={"phone_number": sim}, headers=app.backend_headers,
                                timeout=15)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_coverage_precheck_reports_wifi_before_any_check_is_billed(app: App):
    app.stack.configure_routing({"default": ["truid", "infobip"], "coverage_precheck": True})

    check = start_from_phone(app, UK, bearer="wifi")

    assert (check["status"], check["reason"]) == ("FAILED", "NOT_ON_MOBILE_DATA")
    assert truid_creates(app) == 0 and infobip_verifies(app) == 0
    assert [r["path"] for r in app.truid_requests() if "coverage" in r["path"]]


def test_coverage_precheck_skips_truid_where_it_does_not_serve_the_network(app: App):
    app.stack.configure_routing({"default": ["truid", "infobip"], "coverage_precheck": True})
    requests.post(f"{app.stack.truid.base_url}/_sandbox/coverage", json={"unsupported_networks": ["23415"]},
                  timeout=5)

    check = start_from_phone(app, UK, network_id="23415")

    assert check["provider"] == "infobip" and truid_creates(app) == 0


def test_coverage_precheck_skips_a_provider_whose_networks_leave_the_device_out(app: App):
    app.stack.configure_routing({"default": ["infobip", "truid"], "coverage_precheck": True,
                                 "networks": {"infobip": ["23420"]}})

    check = start_from_phone(app, UK, network_id="23410")

    assert check["provider"] == "truid" and infobip_verifies(app) == 0


def test_coverage_precheck_goes_on_without_it_when_truid_is_not_configured(app: App):
    app.stack.configure_routing({"default": ["infobip"], "coverage_precheck": True})
    app.stack.callback_secret_value.pop("truid")
    app.stack.seed_secrets()

    assert start_from_phone(app, UK)["provider"] == "infobip"


def test_coverage_precheck_lets_a_covered_device_through_to_the_first_provider(app: App):
    app.stack.configure_routing({"default": ["truid", "infobip"], "coverage_precheck": True})

    assert start_from_phone(app, UK)["provider"] == "truid"


# -- what the app learns -----------------------------------------------------------------------------

def test_supported_and_unsupported_mobile_numbers_reveal_nothing_about_the_operator(app: App):
    app.stack.configure_routing({"default": ["truid"]})
    supported = app.start(UK).json()
    unsupported = app.start("+447400900098").json()  # tru.ID: operator not supported

    random_or_opaque = ("check_id", "poll_token", "check_url")
    shown = json.dumps([{k: v for k, v in body.items() if k not in random_or_opaque}
                        for body in (supported, unsupported)])
    for operator_detail in ("23410", "O2", "Vodafone", "EE", "Three", "mno", "network"):
        assert operator_detail not in shown
    assert set(unsupported) - set(supported) <= {"reason"} and set(supported) - set(unsupported) <= {"binding"}


def test_a_fixed_line_number_is_422_before_any_provider_is_called(app: App):
    response = app.start("+442079460000")

    assert (response.status_code, response.json()["code"]) == (422, "NUMBER_UNSUPPORTED")
    assert truid_creates(app) == 0 and infobip_verifies(app) == 0
