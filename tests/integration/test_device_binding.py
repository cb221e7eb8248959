"""The device-binding rule (docs/security.md, device binding), end to end for every provider whose flow has a
device hop (tru.ID PhoneCheck v0.2, CAMARA's authorization code flow, Infobip's redirect flow): the verdict
is shown only to the holder of the poll token *and* of the completion code the device received at the end of
the check URL's chain, and only the phone holding the number's SIM verifies it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.integration.conftest import App, completion_code


@dataclass(frozen=True)
class Flow:
    provider: str
    number: str  # the number the check is for; the phone holding its SIM verifies it
    other_sim: str  # a phone holding another SIM of the same network


FLOWS = [
    pytest.param(Flow("truid", "+447400900002", "+447400900006"), id="truid_v02"),
    pytest.param(Flow("camara", "+34600000012", "+34600000034"), id="camara_auth_code"),
    pytest.param(Flow("infobip", "+447400900112", "+447400900134"), id="infobip_redirect"),
]


@pytest.fixture(params=FLOWS)
def flow(request: pytest.FixtureRequest, app: App) -> Iterator[Flow]:
    chosen: Flow = request.param
    if chosen.provider == "infobip":  # the integration tests' refresh leaves Infobip alone
        app.stack.configure_infobip()
        requests.delete(f"{app.stack.infobip.base_url}/_sandbox/delivery", timeout=5)
    yield chosen
    if chosen.provider == "infobip":
        app.stack.infobip_simulator.courier.wait_idle(10)


def opened(app: App, flow: Flow, check: dict[str, Any], sim: str) -> str:
    """The completion code the phone holding `sim` gets at the end of the check URL's chain, once the verdict
    is recorded (Infobip's comes by callback)."""
    code = completion_code(app.phone(sim).open(check["check_url"]))
    if flow.provider == "infobip":
        assert app.stack.infobip_simulator.courier.wait_idle(10)
    return code


def start(app: App, flow: Flow) -> dict[str, Any]:
    response = app.start(flow.number, provider=flow.provider)
    assert response.status_code == 201, response.text
    check: dict[str, Any] = response.json()
    assert (check["status"], check["provider"], check["binding"]) == ("PENDING", flow.provider, "device")
    return check


def test_the_phone_holding_the_sim_verifies_with_the_completion_code(app: App, flow: Flow):
    check = start(app, flow)

    polled = app.poll(check, code=opened(app, flow, check, flow.number))

    assert polled.status_code == 200
    view = polled.json()
    assert (view["status"], view["binding"], view["provider"]) == ("VERIFIED", "device", flow.provider)
    assert "completed_at" in view


def test_a_verified_check_reads_pending_without_the_completion_code(app: App, flow: Flow):
    check = start(app, flow)
    opened(app, flow, check, flow.number)

    view = app.poll(check).json()

    assert (view["status"], view.get("reason"), view.get("binding"), view.get("completed_at")) == (
        "PENDING", None, None, None)


def test_a_phone_holding_another_sim_is_not_verified(app: App, flow: Flow):
    check = start(app, flow)

    code = opened(app, flow, check, flow.other_sim)

    assert app.poll(check, code=code).json()["status"] == "NOT_VERIFIED"


def test_a_wrong_completion_code_is_refused(app: App, flow: Flow):
    check = start(app, flow)
    opened(app, flow, check, flow.number)

    response = app.poll(check, code="not-the-code")

    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "COMPLETION_CODE_INVALID"


def test_the_completion_code_of_another_check_does_not_open_this_one(app: App, flow: Flow):
    mine, theirs = start(app, flow), start(app, flow)
    opened(app, flow, mine, flow.number)
    their_code = opened(app, flow, theirs, flow.number)

    assert app.poll(mine, code=their_code).status_code == 403
