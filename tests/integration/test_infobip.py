"""Infobip Silent Mobile Verification through the real handlers, DynamoDB Local and the simulated Infobip,
network and phone over loopback: the device hop, the result by callback, the return with a completion code,
and everything a callback must not be able to do (security requirements 20-28)."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from sandbox.device import bound_session
from silentcheck import clock, tokens
from tests.integration.conftest import App, completion_code

NUMBER = "+447400900112"
OTHER_SIM = "+447400900134"
BRAZIL = "+5511987650012"


@pytest.fixture(autouse=True)
def _fresh_infobip(app: App):
    app.stack.configure_infobip()
    for path in ("requests", "callbacks", "delivery", "sms-failover"):
        requests.delete(f"{app.stack.infobip.base_url}/_sandbox/{path}", timeout=5)
    yield
    app.stack.infobip_simulator.courier.wait_idle(10)


def start(app: App, number: str = NUMBER, **body: Any) -> dict[str, Any]:
    response = app.start(number, provider="infobip", **body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def verify_request(app: App) -> dict[str, Any]:
    logged = requests.get(f"{app.stack.infobip.base_url}/_sandbox/requests", timeout=5).json()
    (call,) = [e for e in logged if e["path"] == "/mi/verification/1/verify"]
    body: dict[str, Any] = json.loads(call["body"])
    return body


def delivery(app: App, **plan: Any) -> None:
    response = requests.post(f"{app.stack.infobip.base_url}/_sandbox/delivery", json=plan, timeout=5)
    assert response.status_code == 201, response.text


def settled(app: App) -> None:
    assert app.stack.infobip_simulator.courier.wait_idle(10)


def status_of(app: App, check_id: str) -> str:
    return str(app.item(check_id)["status"]["S"])


def infobip_token(app: App) -> str:
    (summary,) = requests.get(f"{app.stack.infobip.base_url}/_sandbox/checks", timeout=5).json()[-1:]
    return str(summary["token"])


def post_callback(url: str, **body: Any) -> requests.Response:
    return requests.post(url, json=body, timeout=10)


# -- the flow ---------------------------------------------------------------------------------------

def test_start_answers_infobips_device_redirect_url_as_check_url(app: App):
    check = start(app)

    assert check["check_url"].startswith(f"{app.stack.infobip.base_url}/mi/verification/1/complete?token=")
    assert (check["status"], check["provider"], check["binding"]) == ("PENDING", "infobip", "device")


def test_verify_request_has_consent_callback_return_url_and_the_device_ip_and_no_sms_failover(app: App):
    check = start(app)

    sent = verify_request(app)
    assert set(sent) == {"phoneNumber", "consentGranted", "callbackUrl", "returnUrl", "deviceIp"}
    assert (sent["phoneNumber"], sent["consentGranted"], sent["deviceIp"]) == (NUMBER[1:], True, "127.0.0.1")
    assert sent["returnUrl"].startswith(f"{app.api}/checks/return?state={check['check_id']}.")
    capability = sent["callbackUrl"].removeprefix(f"{app.stack.gateway.callback_url}/infobip/")
    assert re.fullmatch(rf"{re.escape(check['check_id'])}\.[A-Za-z0-9_-]{{43}}", capability)


def test_the_infobip_token_never_reaches_the_app(app: App):
    check = start(app)
    opened = app.phone(NUMBER).open(check["check_url"])
    view = app.poll(check, completion_code(opened)).json()

    token = infobip_token(app)
    fields = {k: v for k, v in check.items() if k != "check_url"}  # Infobip's own device URL names it
    assert token not in json.dumps([fields, opened.json, view])


def test_phone_on_wifi_fails_not_on_mobile_data(app: App):
    check = start(app)

    opened = app.phone(NUMBER, bearer="wifi").open(check["check_url"])

    view = app.poll(check, completion_code(opened)).json()
    assert (view["status"], view["reason"]) == ("FAILED", "NOT_ON_MOBILE_DATA")


@pytest.mark.parametrize(("number", "reason"), [
    ("+447400900198", "CARRIER_UNSUPPORTED"),  # ERROR 100 EC_NO_COVERAGE
    ("+447400900197", "PROVIDER_ERROR"),  # 429
    ("+447400900196", "PROVIDER_ERROR"),  # 500 ERROR 1000
])
def test_refusals_at_verify_answer_a_final_201(app: App, number, reason):
    check = start(app, number)

    assert (check["status"], check["reason"], check["check_url"]) == ("FAILED", reason, None)


def test_a_device_timeout_reported_by_callback_fails_the_check(app: App):
    check = start(app, "+447400900193")
    settled(app)

    assert status_of(app, check["check_id"]) == "FAILED"
    assert app.item(check["check_id"])["reason"]["S"] == "DEVICE_TIMEOUT"


def test_a_wrong_api_key_fails_the_check_as_provider_rejected(app: App):
    app.stack.configure_infobip(api_key="not-the-key")

    check = start(app)

    assert (check["status"], check["reason"]) == ("FAILED", "PROVIDER_REJECTED")


def test_without_infobip_configuration_the_check_fails_as_provider_rejected(app: App):
    app.stack.secret_value.pop("infobip")
    app.stack.configure_truid()

    assert start(app)["reason"] == "PROVIDER_REJECTED"


def test_brazil_ok_flow_has_no_device_hop_and_verifies_by_callback_alone(app: App):
    app.stack.configure_api(allow_unbound_checks=True)  # the OK flow has binding none
    phone = app.phone(BRAZIL)
    with bound_session(phone.ip) as session:  # the app's request leaves from the phone, over cellular
        created = session.post(f"{app.api}/checks", json={"phone_number": BRAZIL, "provider": "infobip"},
                               headers=app.backend_headers, timeout=15).json()
    settled(app)

    assert (created["check_url"], created["binding"]) == (None, "none")
    view = app.poll(created).json()
    assert (view["status"], view["binding"]) == ("VERIFIED", "none")


# -- req 28: the device IP ----------------------------------------------------------------------------

def test_req28_device_ip_is_the_connections_source_never_x_forwarded_for(app: App):
    phone, other = app.phone(BRAZIL), app.phone(OTHER_SIM)
    with bound_session(phone.ip) as session:
        session.post(f"{app.api}/checks", json={"phone_number": BRAZIL, "provider": "infobip"},
                     headers={"X-Forwarded-For": other.ip, "X-Real-IP": other.ip, **app.backend_headers}, timeout=15)

    assert verify_request(app)["deviceIp"] == phone.ip


def test_req28_an_ip_in_the_body_is_refused_not_used(app: App):
    response = app.start(NUMBER, provider="infobip", deviceIp="10.0.0.1")

    assert response.status_code == 400
    assert requests.get(f"{app.stack.infobip.base_url}/_sandbox/requests", timeout=5).json() == []


def test_sms_failover_is_never_sent(app: App):
    check = start(app)
    app.phone(NUMBER).open(check["check_url"])

    assert requests.get(f"{app.stack.infobip.base_url}/_sandbox/sms-failover", timeout=5).json() == []


# -- callbacks: order and repetition ------------------------------------------------------------------

def test_a_late_callback_settles_a_check_whose_phone_returned_first(app: App):
    delivery(app, mode="held")
    check = start(app)
    opened = app.phone(NUMBER).open(check["check_url"])
    code = completion_code(opened)

    assert app.poll(check, code).json()["status"] == "PENDING"
    requests.post(f"{app.stack.infobip.base_url}/_sandbox/delivery/release", timeout=5)
    settled(app)
    assert app.poll(check, code).json()["status"] == "VERIFIED"


def test_req24_identical_deliveries_make_one_transition(app: App, captured_logs):
    delivery(app, mode="twice")
    check = start(app)
    opened = app.phone(NUMBER).open(check["check_url"])
    settled(app)

    deliveries = requests.get(f"{app.stack.infobip.base_url}/_sandbox/callbacks", timeout=5).json()
    assert [d["status_code"] for d in deliveries] == [200, 200]
    assert captured_logs.getvalue().count("callback settled the check") == 1
    assert app.poll(check, completion_code(opened)).json()["status"] == "VERIFIED"


def test_req25_the_first_result_stands_when_results_arrive_out_of_order(app: App):
    delivery(app, mode="out_of_order", result="INVALID")
    check = start(app)
    opened = app.phone(NUMBER).open(check["check_url"])
    settled(app)

    assert app.poll(check, completion_code(opened)).json()["status"] == "NOT_VERIFIED"


def test_req25_a_replayed_callback_changes_nothing_once_final(app: App):
    check = start(app)
    opened = app.phone(NUMBER).open(check["check_url"])
    before = app.item(check["check_id"])

    replay = requests.post(f"{app.stack.infobip.base_url}/_sandbox/callbacks/{infobip_token(app)}/redeliver",
                           timeout=10)

    assert replay.json()["status_code"] == 200
    assert app.item(check["check_id"]) == before
    assert app.poll(check, completion_code(opened)).json()["status"] == "VERIFIED"


def test_no_callback_leaves_the_check_pending(app: App):
    delivery(app, mode="never")
    check = start(app)

    opened = app.phone(NUMBER).open(check["check_url"])

    assert app.poll(check, completion_code(opened)).json()["status"] == "PENDING"


def test_the_older_get_form_of_the_callback_is_accepted(app: App):
    delivery(app, mode="never")
    check = start(app)
    opened = app.phone(NUMBER).open(check["check_url"])

    response = requests.get(verify_request(app)["callbackUrl"], params={"result": "VALID",
                                                                        "token": infobip_token(app)}, timeout=10)

    assert response.status_code == 200
    assert app.poll(check, completion_code(opened)).json()["status"] == "VERIFIED"


# -- callbacks that must not work (req 20, 21, 26, 27) -------------------------------------------------

def test_req20_a_wrong_capability_is_404_and_changes_nothing(app: App):
    delivery(app, mode="never")
    check = start(app)
    before = app.item(check["check_id"])

    forged = post_callback(f"{app.stack.gateway.callback_url}/infobip/{check['check_id']}.{tokens.new_token()}",
                           result="VALID", token=infobip_token(app))

    assert forged.status_code == 404 and app.item(check["check_id"]) == before


def test_req20_the_capability_only_works_for_its_own_provider(app: App):
    delivery(app, mode="never")
    check = start(app)
    capability = verify_request(app)["callbackUrl"].rpartition("/")[2]

    forged = post_callback(f"{app.stack.gateway.callback_url}/truid/{capability}", result="VALID",
                           token=infobip_token(app))

    assert forged.status_code == 404 and status_of(app, check["check_id"]) == "PENDING"


def test_req21_a_body_naming_another_token_is_rejected_and_changes_nothing(app: App):
    delivery(app, mode="never")
    check = start(app)

    forged = post_callback(verify_request(app)["callbackUrl"], result="VALID",
                           token="123e4567-e89b-12d3-a456-426614174000")

    assert forged.status_code == 403 and status_of(app, check["check_id"]) == "PENDING"


def test_req26_a_valid_callback_after_expiry_does_not_verify(app: App, monkeypatch: pytest.MonkeyPatch):
    delivery(app, mode="never")
    check = start(app)
    opened = app.phone(NUMBER).open(check["check_url"])
    later = clock.now() + 3600
    monkeypatch.setattr(clock, "now", lambda: later)

    late = post_callback(verify_request(app)["callbackUrl"], result="VALID", token=infobip_token(app))

    assert late.status_code == 200
    assert app.poll(check, completion_code(opened)).json()["status"] == "EXPIRED"


def test_req27_a_callback_for_a_check_that_does_not_exist_creates_nothing(app: App):
    ghost = tokens.new_token()

    response = post_callback(f"{app.stack.gateway.callback_url}/infobip/{ghost}.{tokens.new_token()}",
                             result="VALID", token="123e4567-e89b-12d3-a456-426614174000")

    assert response.status_code == 404 and app.item(ghost) == {}


def test_a_callback_before_the_infobip_token_is_recorded_asks_infobip_to_retry(app: App):
    from silentcheck import credentials, phone, store
    from silentcheck.checks import Check, Status

    now, check_id = clock.now(), tokens.new_token()
    capability = f"{check_id}.{tokens.new_token()}"
    store.create(Check(check_id=check_id, provider="infobip", status=Status.PENDING, created_at=now,
                       expires_at=now + 300, poll_token_hash=tokens.digest("p"),
                       number_key=phone.number_key(credentials.pepper(), NUMBER),
                       capability_hash=tokens.digest(capability)))  # recorded, but Infobip's token not yet
    before = app.item(check_id)

    early = post_callback(f"{app.stack.gateway.callback_url}/infobip/{capability}", result="VALID",
                          token="123e4567-e89b-12d3-a456-426614174000")

    assert early.status_code == 503 and early.headers["Retry-After"]
    assert app.item(check_id) == before


def test_callback_bodies_and_capabilities_are_never_logged(app: App, captured_logs):
    check = start(app)
    app.phone(NUMBER).open(check["check_url"])
    settled(app)

    logs = captured_logs.getvalue()
    capability = verify_request(app)["callbackUrl"].rpartition("/")[2]
    assert infobip_token(app) not in logs and capability.partition(".")[2] not in logs
    assert "VALID" not in logs.replace("callback:VALID", "")


def test_the_callback_url_path_is_unguessable_per_check(app: App):
    start(app)
    first = urlsplit(verify_request(app)["callbackUrl"]).path
    requests.delete(f"{app.stack.infobip.base_url}/_sandbox/requests", timeout=5)
    start(app)
    second = urlsplit(verify_request(app)["callbackUrl"]).path

    assert first != second and not parse_qs(urlsplit(verify_request(app)["callbackUrl"]).query)
