"""How a simulated provider talks to the simulated mobile network, server to server: the line behind an address,
the record of a number's SIM, the redemption of the operator hop's one-time continuation, and a partner's
registration (docs/sandbox.md, "The operator's hop")."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests


class NetworkDown(Exception):
    """The simulated network did not answer, or answered something that is not a JSON object."""


NETWORK_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Subscriber:
    """The operator's record of a number: when its current SIM took it (None: never changed)."""

    sim_changed_at: float | None

    def changed_within(self, now: float, seconds: float) -> bool:
        """Whether the SIM took the number within the last `seconds` (at or after now - seconds)."""
        return self.sim_changed_at is not None and self.sim_changed_at >= now - seconds


def mobile_line(network_url: str, ip: str) -> dict[str, Any] | None:
    """The line (`msisdn`, `network_id`, `operator`) whose mobile data uses `ip`; None for any other address (the
    network hands out IPv4 addresses only, so an IPv6 one is not asked about)."""
    try:
        ipaddress.IPv4Address(ip)
    except ValueError:
        return None
    line = _call_network("GET", f"{network_url.rstrip('/')}/lines/{quote(ip, safe='')}")
    return line if line is not None and line.get("mobile") is True else None


def subscriber(network_url: str, msisdn: str) -> Subscriber | None:
    """The operator's record of `msisdn` (E.164); None for a number no SIM ever held."""
    record = _call_network("GET", f"{network_url.rstrip('/')}/subscribers/{quote(msisdn, safe='')}")
    if record is None:
        return None
    changed_at = record.get("sim_changed_at")
    return Subscriber(float(changed_at) if isinstance(changed_at, int | float) else None)


def redeem_continuation(network_url: str, session: str, continuation: str) -> dict[str, Any] | None:
    """Redeem the operator's one-time answer for `session` as a simulated provider does, server to server:
    what the hop saw (`mobile`, `msisdn`, `network_id`, `device_ip`), or None when the session is unknown, the
    continuation is not the one the device was handed, or it was redeemed already."""
    return _call_network("POST", f"{network_url.rstrip('/')}/he/sessions/{quote(session, safe='')}/redeem",
                         json={"continuation": continuation})


def _call_network(method: str, url: str, **kwargs: Any) -> dict[str, Any] | None:
    """One request to the simulated network: its JSON object, None on 404, NetworkDown on anything else."""
    try:
        with requests.Session() as http:
            http.trust_env = False  # loopback only: never through a proxy from the environment
            response = http.request(method, url, timeout=NETWORK_TIMEOUT_SECONDS, allow_redirects=False, **kwargs)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        body = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise NetworkDown(str(exc)) from None
    if not isinstance(body, dict):
        raise NetworkDown("the network answered something other than a JSON object")
    return body


def register_partner(network_url: str, return_to: str) -> None:
    """Register a provider's return URL with the operator, as onboarding does: the hop redirects only there."""
    if _call_network("POST", f"{network_url.rstrip('/')}/_admin/partners", json={"return_to": return_to}) is None:
        raise NetworkDown("the network has no partner registration")
