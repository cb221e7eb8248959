"""`device_ip` in POST /checks (backend mode): the phone's address as the customer's backend saw it, validated,
forwarded to the providers that take it at create (tru.ID `phone_ip`, Infobip `deviceIp`), so the provider
refuses a chain finished from another address."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tests.integration.conftest import App, completion_code

NUMBER = "+447400900002"
INFOBIP_NUMBER = "+447400900112"


def started(app: App, number: str = NUMBER, **body: Any) -> dict[str, Any]:
    response = app.start(number, **body)
    assert response.status_code == 201, response.text
    check: dict[str, Any] = response.json()
    return check


def sent_to_truid(app: App) -> dict[str, Any]:
    (created,) = app.truid_checks_created()
    body: dict[str, Any] = json.loads(created["body"])
    return body


def sent_to_infobip(app: App) -> dict[str, Any]:
    logged = requests.get(f"{app.stack.infobip.base_url}/_sandbox/requests", timeout=5).json()
    calls = [entry for entry in logged if entry["path"] == "/mi/verification/1/verify"]
    body: dict[str, Any] = json.loads(calls[-1]["body"])  # this test's: the log may hold earlier tests' calls
    return body


def test_the_backends_device_ip_reaches_truid_as_phone_ip(app: App):
    phone = app.phone(NUMBER)

    started(app, provider="truid", device_ip=phone.ip)

    assert sent_to_truid(app)["phone_ip"] == phone.ip


def test_without_device_ip_truid_gets_no_phone_ip(app: App):
    started(app, provider="truid")

    assert "phone_ip" not in sent_to_truid(app)


def test_the_phone_at_device_ip_still_verifies(app: App):
    phone = app.phone(NUMBER)
    check = started(app, provider="truid", device_ip=phone.ip)

    opened = phone.open(check["check_url"])

    assert app.poll(check, completion_code(opened)).json()["status"] == "VERIFIED"


def test_truid_refuses_a_chain_opened_from_another_address_than_device_ip(app: App):
    phone, other_phone_with_the_sim = app.phone(NUMBER), app.phone(NUMBER)
    check = started(app, provider="truid", device_ip=phone.ip)

    opened = other_phone_with_the_sim.open(check["check_url"])

    view = app.poll(check, completion_code(opened)).json()
    assert (view["status"], view["reason"]) == ("FAILED", "REDIRECT_FAILED")
    # tru.ID's callback and the phone's redirect both carry the refusal; whichever lands first settles the check
    assert app.item(check["check_id"])["raw_code"]["S"] in {"ip_mismatch", "redirect:ip_mismatch"}


def test_the_backends_device_ip_reaches_infobip_instead_of_the_callers_address(app: App):
    app.stack.configure_infobip()
    phone = app.phone(INFOBIP_NUMBER)

    started(app, INFOBIP_NUMBER, provider="infobip", device_ip=phone.ip)

    assert sent_to_infobip(app)["deviceIp"] == phone.ip


def test_device_ip_is_sent_in_its_canonical_form(app: App):
    started(app, provider="truid", device_ip="2001:DB8:0:0::7")

    assert sent_to_truid(app)["phone_ip"] == "2001:db8::7"


@pytest.mark.parametrize("device_ip", ["not-an-ip", "127.64.0.1:5000", "", "1" * 46, 2130706433, ["127.64.0.1"]])
def test_a_device_ip_that_is_not_an_address_is_refused_before_any_provider_call(app: App, device_ip: Any):
    response = app.start(NUMBER, provider="truid", device_ip=device_ip)

    assert (response.status_code, response.json()["code"]) == (400, "INVALID_REQUEST")
    assert "device_ip" in response.json()["detail"]
    assert app.truid_checks_created() == []


def test_an_app_may_not_say_where_the_device_is(app: App):
    app.stack.configure_api(client_auth="none")
    phone = app.phone(NUMBER)

    response = requests.post(f"{app.api}/checks", json={"phone_number": NUMBER, "device_ip": phone.ip}, timeout=15)

    assert (response.status_code, response.json()["code"]) == (400, "INVALID_REQUEST")
    assert "backend" in response.json()["detail"]
