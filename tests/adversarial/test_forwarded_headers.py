"""Attacks that claim another address in headers: X-Forwarded-For and friends against the device binding.

Attacker: an app user who knows (or guesses) the victim's phone address and sends it in `X-Forwarded-For`,
`X-Real-IP` and `Forwarded`, to our API when starting a check and to the provider when resuming a chain.
Assumption: the victim's address decides a result where a provider takes it (Infobip's Brazil flow judges the
line behind `deviceIp`), and a provider compares addresses at the end of its chain.
What must hold: the address silentcheck forwards is the connection's as API Gateway saw it (or the one a backend
states in `device_ip`), never a header; a provider chain resumed with spoofed headers is still refused."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.device import bound_session
from tests.adversarial.test_chain_hijack import forwarded_headers, hijack, verdict
from tests.integration.conftest import App
from tests.integration.device_flows import DEVICE_FLOWS, DeviceFlow, start

BRAZIL_VICTIM, BRAZIL_ATTACKER = "+5511987650012", "+5511987650034"


def test_forwarded_headers_naming_the_victims_phone_do_not_become_the_device_address(app: App):
    app.stack.configure_api(allow_unbound_checks=True)  # Brazil's flow has binding none: refused by default
    victim, attacker = app.phone(BRAZIL_VICTIM), app.phone(BRAZIL_ATTACKER)
    with bound_session(attacker.ip) as attackers_phone:  # Infobip judges the line behind the device address
        created: dict[str, Any] = attackers_phone.post(
            f"{app.api}/checks", json={"phone_number": BRAZIL_VICTIM, "provider": "infobip"},
            headers={**app.backend_headers, **forwarded_headers(victim.ip)}, timeout=15).json()
    assert app.stack.infobip_simulator.courier.wait_idle(10)

    assert created["status"] == "PENDING"  # Infobip took the check: the answer below is its judgement
    assert app.poll(created).json()["status"] == "NOT_VERIFIED"  # the attacker's line, judged by its own address


@pytest.mark.parametrize("flow", DEVICE_FLOWS)
def test_a_leaked_continuation_resumed_with_the_victims_address_in_headers_is_still_refused(app: App, flow: DeviceFlow):
    check = start(app, flow)

    code = hijack(app, check, flow.number, leaked_continuation=True, claim_the_victims_address=True)

    assert verdict(app, check, code)["status"] != "VERIFIED"
