"""Attack 1 (issue 19): lending a victim's line to a chain the attacker finishes.

Attacker: an ordinary app user with their own phone (here on Wi-Fi, with their own SIM), the public API, and a
victim whose phone can be made to send one GET (a link, an image, a `fetch` with `redirect: "manual"`).
Assumption: the attacker starts a check for the victim's number V, opens check_url without following redirects
and reads the operator hop's URL (with its session) in the `Location`; the victim's phone loads that URL once,
so the operator recognises V; the attacker then resumes the provider's chain from anywhere, with everything
they know, and follows it to `GET /checks/return`. A stronger attacker also learns what the victim's phone
was told (the continuation in the hop's redirect), as if it leaked.
What must hold: no VERIFIED for V, for every provider whose chain has an operator hop (tru.ID v0.2, CAMARA's
authorization code flow, Infobip's redirect flow): the chain resumes only with the one-time continuation
handed to the device that made the hop, and only from the device that opened check_url."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests

from sandbox.device import bound_session
from tests.integration.conftest import App
from tests.integration.device_flows import DEVICE_FLOWS, DeviceFlow, start

ATTACKER_SIM = "+447400900004"
MAX_HOPS = 10


def _with_session(return_to: str, session: str) -> str:
    return f"{return_to}{'&' if '?' in return_to else '?'}{urlencode({'session': session})}"


def _completion_code_at_the_end(app: App, http: requests.Session, url: str) -> str | None:
    """Follow the chain from `url` as the attacker; the completion code /checks/return hands out, if any."""
    for _ in range(MAX_HOPS):
        response = http.get(url, allow_redirects=False, headers={"Accept": "application/json"}, timeout=10)
        if url.startswith(f"{app.api}/checks/return"):
            body = response.json() if response.status_code == 200 else {}
            code = body.get("completion_code") if isinstance(body, dict) else None
            return code if isinstance(code, str) else None
        if not response.is_redirect:
            return None
        url = urljoin(url, response.headers["Location"])
    return None


def forwarded_headers(ip: str) -> dict[str, str]:
    """Every header a proxy might use to say which address a request came from."""
    return {"X-Forwarded-For": ip, "X-Real-IP": ip, "Forwarded": f"for={ip}"}


def hijack(app: App, check: dict[str, Any], victim_sim: str, *, leaked_continuation: bool,
           claim_the_victims_address: bool = False) -> str | None:
    """Attack 1 as the issue describes it; the completion code the attacker ends up with, if any. With
    `claim_the_victims_address`, every request of the attacker names the victim's address in forwarding headers."""
    attacker, victim = app.phone(ATTACKER_SIM, bearer="wifi"), app.phone(victim_sim)
    hop_prefix = f"{app.stack.network.base_url}/he/authorize"
    with bound_session(attacker.ip) as attacker_http:
        if claim_the_victims_address:
            attacker_http.headers.update(forwarded_headers(victim.ip))
        url: str = check["check_url"]
        for _ in range(MAX_HOPS):  # check_url, read without following the operator hop
            if url.startswith(hop_prefix):
                break
            url = urljoin(url, attacker_http.get(url, allow_redirects=False, timeout=10).headers["Location"])
        assert url.startswith(hop_prefix), "the chain has no operator hop"
        with bound_session(victim.ip) as victim_http:  # the victim's phone loads the hop once, following nothing
            told_the_victim = victim_http.get(url, allow_redirects=False, timeout=10).headers.get("Location")
        query = {name: values[-1] for name, values in parse_qs(urlsplit(url).query).items()}
        resume = _with_session(query["return_to"], query["session"])
        if leaked_continuation:
            assert told_the_victim, "the hop sent the victim's phone nowhere"
            resume = urljoin(url, told_the_victim)
        return _completion_code_at_the_end(app, attacker_http, resume)


def verdict(app: App, check: dict[str, Any], code: str | None) -> dict[str, Any]:
    if check["provider"] == "infobip":
        assert app.stack.infobip_simulator.courier.wait_idle(10)  # Infobip's result comes by callback
    polled: dict[str, Any] = app.poll(check, code).json()
    return polled


@pytest.mark.parametrize("flow", DEVICE_FLOWS)
def test_hop_session_read_from_check_url_does_not_let_the_attacker_finish_the_victims_chain(app: App, flow: DeviceFlow):
    check = start(app, flow)

    code = hijack(app, check, flow.number, leaked_continuation=False)

    assert verdict(app, check, code)["status"] != "VERIFIED"


@pytest.mark.parametrize("flow", DEVICE_FLOWS)
def test_continuation_leaked_from_the_victims_hop_does_not_verify_from_the_attackers_device(app: App, flow: DeviceFlow):
    check = start(app, flow)

    code = hijack(app, check, flow.number, leaked_continuation=True)

    assert verdict(app, check, code)["status"] != "VERIFIED"


@pytest.mark.parametrize("flow", DEVICE_FLOWS)
def test_the_victims_own_phone_still_verifies_the_victims_number(app: App, flow: DeviceFlow):
    """The control: the same chain, walked by the phone that holds the SIM, verifies."""
    check = start(app, flow)

    opened = app.phone(flow.number).open(check["check_url"])

    assert isinstance(opened.json, dict), opened.body
    assert verdict(app, check, opened.json["completion_code"])["status"] == "VERIFIED"
