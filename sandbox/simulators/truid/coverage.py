"""tru.ID's Coverage API in the simulator: device reachability by IP (docs/sandbox.md), and the networks it serves."""

from __future__ import annotations

import ipaddress
import re
import threading
from collections.abc import Iterable
from typing import Any

from sandbox.simulators.network import operator_name
from sandbox.simulators.network_client import NetworkDown, mobile_line
from sandbox.simulators.truid.checks import HAL_JSON
from sandbox.simulators.truid.problems import problem
from sandbox.simulators.wsgi import Response, ip_literal, json_response

# As tru.ID's documented example lists them (upper-case ids, as DataTypes' ProductIDResponse enum).
PRODUCTS = (
    {"product_id": "PCK", "product_name": "Phone Check"},
    {"product_id": "SCK", "product_name": "Sim Check"},
    {"product_id": "SUK", "product_name": "Subscriber Check"},
)
# ISO 3166-1 alpha-2 by MCC, for the networks the sandbox uses; anything else is "ZZ" (user-assigned).
_COUNTRIES = {"234": "GB", "235": "GB", "214": "ES", "724": "BR", "262": "DE",
              **{str(mcc): "US" for mcc in range(310, 317)}}
UNKNOWN_COUNTRY = "ZZ"
_NETWORK_ID = re.compile(r"[0-9]{5,6}")


def country_code(network_id: str) -> str:
    """The ISO alpha-2 country of a network, from its MCC (the first three digits)."""
    return _COUNTRIES.get(network_id[:3], UNKNOWN_COUNTRY)


def parse_networks(spec: Any) -> frozenset[str]:
    """`{"unsupported_networks": ["23415", ...]}` as a set of MCC+MNC ids; ValueError says what is wrong."""
    if not isinstance(spec, dict) or set(spec) != {"unsupported_networks"}:
        raise ValueError('the body must be {"unsupported_networks": ["23415", ...]}')
    networks = spec["unsupported_networks"]
    if not isinstance(networks, list):
        raise ValueError("unsupported_networks must be a list of network ids")
    if not all(isinstance(n, str) and _NETWORK_ID.fullmatch(n) for n in networks):
        raise ValueError("every network id must be MCC+MNC, 5 or 6 digits, as a string")
    return frozenset(networks)


class Coverage:
    """Which networks tru.ID serves, and the device-IP lookup; safe to share across threads."""

    def __init__(self, network_url: str, unsupported_networks: Iterable[str] = ()) -> None:
        self._network_url = network_url
        self._configured = frozenset(unsupported_networks)
        self._lock = threading.Lock()
        self._unsupported = self._configured

    def unsupported_networks(self) -> frozenset[str]:
        with self._lock:
            return self._unsupported

    def replace_unsupported(self, networks: frozenset[str]) -> None:
        with self._lock:
            self._unsupported = networks

    def reset(self) -> None:
        """Back to the configured set."""
        self.replace_unsupported(self._configured)

    def phone_ip_refusal(self, phone_ip: str) -> Response | None:
        """412 when the network says a create's `phone_ip` is not on mobile data (live Projects only)."""
        try:
            line = mobile_line(self._network_url, phone_ip)
        except NetworkDown:
            return problem(502, "bad_gateway", "The mobile network did not answer")
        return None if line is not None else problem(412, "not_mobile_ip")

    def device_reachability(self, raw_ip: str, base_url: str) -> Response:
        """The lookup itself, after the caller has checked the token's `coverage` scope."""
        address = ip_literal(raw_ip)
        if address is None or (isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None):
            return problem(400, "bad_request", "ip must be an IPv4 or IPv6 address")
        ip = str(address)
        try:
            line = mobile_line(self._network_url, ip)
        except NetworkDown:
            return problem(503, "service_unavailable", "The mobile network did not answer")
        if line is None:
            return problem(412, "not_mobile_ip")
        network_id = line.get("network_id")
        if not isinstance(network_id, str) or not _NETWORK_ID.fullmatch(network_id):
            return problem(503, "service_unavailable", "The mobile network did not say which network the line is on")
        if network_id in self.unsupported_networks():
            return problem(400, "mno_not_supported")
        operator = line.get("operator")
        body = {
            "network_id": network_id,
            "network_name": operator if isinstance(operator, str) else operator_name(network_id),
            "country_code": country_code(network_id),
            "mobile_data_ip": ip,
            "products": [dict(product) for product in PRODUCTS],
            "_links": {"self": {"href": f"{base_url}/coverage/v0.1/device_ips/{ip}"}},
        }
        return json_response(200, body, HAL_JSON)
