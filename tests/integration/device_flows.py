"""The flows with a device hop, one per provider (tru.ID PhoneCheck v0.2, CAMARA's authorization code flow,
Infobip's redirect flow), for the tests that hold the device-binding rule to every provider: which number
verifies, which phone holds another SIM of the same network, how a check is started and how a phone opens it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.integration.conftest import App, completion_code


@dataclass(frozen=True)
class DeviceFlow:
    provider: str
    number: str  # the number the check is for; the phone holding its SIM verifies it
    other_sim: str  # a phone holding another SIM of the same network


TRUID = DeviceFlow("truid", "+447400900002", "+447400900006")
DEVICE_FLOWS = [
    pytest.param(TRUID, id="truid_v02"),
    pytest.param(DeviceFlow("camara", "+34600000012", "+34600000034"), id="camara_auth_code"),
    pytest.param(DeviceFlow("infobip", "+447400900112", "+447400900134"), id="infobip_redirect"),
]


def prepare(app: App, flow: DeviceFlow) -> None:
    """Infobip as the sandbox deploys it, delivering normally (the integration tests' refresh leaves it alone)."""
    if flow.provider == "infobip":
        app.stack.configure_infobip()
        requests.delete(f"{app.stack.infobip.base_url}/_sandbox/delivery", timeout=5)


def settle(app: App, flow: DeviceFlow) -> None:
    """Wait for what the provider delivers by callback (Infobip's verdict)."""
    if flow.provider == "infobip":
        assert app.stack.infobip_simulator.courier.wait_idle(10)


def start(app: App, flow: DeviceFlow) -> dict[str, Any]:
    """A check for the flow's number through its provider, bound to the device."""
    response = app.start(flow.number, provider=flow.provider)
    assert response.status_code == 201, response.text
    check: dict[str, Any] = response.json()
    assert (check["status"], check["provider"], check["binding"]) == ("PENDING", flow.provider, "device")
    return check


def opened(app: App, flow: DeviceFlow, check: dict[str, Any], sim: str) -> str:
    """The completion code the phone holding `sim` gets at the end of the check URL's chain, once the verdict
    is recorded."""
    code = completion_code(app.phone(sim).open(check["check_url"]))
    settle(app, flow)
    return code
