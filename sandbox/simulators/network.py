"""The simulated mobile network: it tells phones apart by their loopback source address, as an operator's header
enrichment does, and its hop hands the device a one-time continuation that the provider redeems once
(docs/sandbox.md, "The operator's hop"). Its subscriber records say when each number's current SIM took it (a
SIM swap, or a new line); the simulated SIM-swap answers read them at `GET /subscribers/{msisdn}`."""

from __future__ import annotations

import hmac
import ipaddress
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sandbox.httpserver import WSGIApp
from sandbox.simulators.wsgi import Request, Response, Routes, is_loopback_url, json_response, route, simulator_app

Bearer = Literal["cellular", "wifi"]

CELLULAR_RANGE = ipaddress.IPv4Network("127.64.0.0/16")
WIFI_RANGE = ipaddress.IPv4Network("127.192.0.0/16")
DEFAULT_NETWORK_ID = "23410"
OPERATORS = {"23410": "O2 UK", "23415": "Vodafone UK", "23420": "Three UK", "23430": "EE"}
COOKIE_NAME = "mno_session"
MAX_HOURS_AGO = 100_000
HOUR_SECONDS = 3600

_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_NETWORK_ID = re.compile(r"[0-9]{5,6}")
# Sessions come back as a path segment of /he/sessions/{session}, so only unreserved URL characters.
_SESSION = re.compile(r"[A-Za-z0-9._~-]{1,256}")
_COOKIE_VALUE = re.compile(r"[A-Za-z0-9_-]{16,64}")


@dataclass(frozen=True)
class PhoneRecord:
    """A phone the network has handed an address to."""

    ip: str
    sim: str
    bearer: Bearer
    network_id: str


@dataclass(frozen=True)
class HeSession:
    """What header enrichment saw when a device passed through `/he/authorize`: the line (None off mobile
    data), the address the device came from, and the one-time continuation handed to that device."""

    session: str
    msisdn: str | None
    network_id: str | None
    device_ip: str
    continuation: str

    def answer(self) -> dict[str, Any]:
        """What the partner learns when it redeems the continuation."""
        seen: dict[str, Any] = {"session": self.session, "mobile": self.msisdn is not None, "device_ip": self.device_ip}
        if self.msisdn is not None:
            seen |= {"msisdn": self.msisdn, "network_id": self.network_id}
        return seen


class SessionAlreadyUsed(Exception):
    """A header-enrichment session is recorded once; a second device cannot overwrite the first."""


def operator_name(network_id: str) -> str:
    return OPERATORS.get(network_id, f"Sandbox operator {network_id}")


class MobileNetwork:
    """Phones, their addresses and header-enrichment sessions, in memory; safe to share across threads."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._free: dict[Bearer, Iterator[ipaddress.IPv4Address]] = {
            "cellular": CELLULAR_RANGE.hosts(),
            "wifi": WIFI_RANGE.hosts(),
        }
        self._phones: dict[str, PhoneRecord] = {}
        self._sessions: dict[str, HeSession] = {}
        self._redeemed: set[str] = set()
        self._partners: set[str] = set()
        self._sim_changed_at: dict[str, float | None] = {}  # msisdn -> when its current SIM took it (None: never)

    def register_partner(self, return_to: str) -> None:
        """Allow the hop to send devices back to `return_to` (exactly; a provider's resume URL)."""
        if not is_loopback_url(return_to) or urlsplit(return_to).query or urlsplit(return_to).fragment:
            raise ValueError("return_to must be an http(s) URL on 127.x.x.x or localhost, without query or fragment")
        with self._lock:
            self._partners.add(return_to)

    def is_partner(self, return_to: str) -> bool:
        with self._lock:
            return return_to in self._partners

    def add_phone(self, sim: str, bearer: Bearer = "cellular", network_id: str = DEFAULT_NETWORK_ID,
                  sim_changed_hours_ago: float | None = None) -> PhoneRecord:
        """Give a phone holding `sim` the next free address of its bearer's range; its SIM took the number
        `sim_changed_hours_ago` hours ago (None: never changed) and holds it from now on."""
        changed = sim_changed_hours_ago
        if changed is not None and (not isinstance(changed, int | float) or isinstance(changed, bool)
                                    or not 0 <= changed <= MAX_HOURS_AGO):
            raise ValueError(f"sim_changed_hours_ago must be a number of hours, 0 to {MAX_HOURS_AGO}, got {changed!r}")
        if not isinstance(sim, str) or not _E164.fullmatch(sim):
            raise ValueError(f"sim must be an E.164 number like +447400900002, got {sim!r}")
        if bearer not in get_args(Bearer):
            raise ValueError(f"bearer must be 'cellular' or 'wifi', got {bearer!r}")
        if not isinstance(network_id, str) or not _NETWORK_ID.fullmatch(network_id):
            raise ValueError(f"network_id must be MCC+MNC, 5 or 6 digits, got {network_id!r}")
        with self._lock:
            address = next(self._free[bearer], None)
            if address is None:
                raise RuntimeError(f"no {bearer} addresses left")
            phone = PhoneRecord(str(address), sim, bearer, network_id)
            self._phones[phone.ip] = phone
            self._sim_changed_at[sim] = None if changed is None else self._clock() - changed * HOUR_SECONDS
        return phone

    def subscriber(self, msisdn: str) -> dict[str, Any] | None:
        """{msisdn, sim_changed_at (epoch seconds or null)}; None for a number no SIM ever held."""
        with self._lock:
            if msisdn not in self._sim_changed_at:
                return None
            return {"msisdn": msisdn, "sim_changed_at": self._sim_changed_at[msisdn]}

    def line_for_ip(self, ip: str) -> PhoneRecord | None:
        """The phone whose cellular line has this address; None for Wi-Fi and unknown addresses."""
        with self._lock:
            phone = self._phones.get(ip)
        return phone if phone is not None and phone.bearer == "cellular" else None

    def record_session(self, session: str, ip: str) -> HeSession:
        """Remember which line (if any) the request for `session` came from, and mint the continuation only
        that request's answer carries; raises SessionAlreadyUsed."""
        line = self.line_for_ip(ip)
        continuation = secrets.token_urlsafe(24)
        seen = HeSession(session, line.sim if line else None, line.network_id if line else None, ip, continuation)
        with self._lock:
            if session in self._sessions:
                raise SessionAlreadyUsed(session)
            self._sessions[session] = seen
        return seen

    def redeem(self, session: str, continuation: str) -> HeSession | None:
        """What the hop of `session` saw, once, for the continuation it handed out; else None."""
        with self._lock:
            seen = self._sessions.get(session)
            if seen is None or session in self._redeemed:
                return None
            if not hmac.compare_digest(seen.continuation.encode(), continuation.encode()):
                return None
            self._redeemed.add(session)
            return seen


def _error(status: int, error: str, detail: str) -> Response:
    return json_response(status, {"error": error, "detail": detail})


def _json_object(request: Request, example: str) -> dict[str, Any] | Response:
    try:
        body = request.json() if request.body else None
    except ValueError:
        return _error(400, "invalid_request", "body must be JSON")
    if not isinstance(body, dict):
        return _error(400, "invalid_request", f"body must be a JSON object like {example}")
    return body


def _add_phone(network: MobileNetwork, request: Request) -> Response:
    body = _json_object(request, '{"sim": "+447400900002"}')
    if not isinstance(body, dict):
        return body
    try:
        phone = network.add_phone(body.get("sim", ""), body.get("bearer", "cellular"),
                                  body.get("network_id", DEFAULT_NETWORK_ID), body.get("sim_changed_hours_ago"))
    except ValueError as exc:
        return _error(400, "invalid_request", str(exc))
    return json_response(201, asdict(phone))


def _add_partner(network: MobileNetwork, request: Request) -> Response:
    body = _json_object(request, '{"return_to": "http://127.0.0.1:8123/_mno/return"}')
    if not isinstance(body, dict):
        return body
    return_to = body.get("return_to")
    try:
        network.register_partner(return_to if isinstance(return_to, str) else "")
    except ValueError as exc:
        return _error(400, "invalid_request", str(exc))
    return json_response(201, {"return_to": return_to})


def _line(network: MobileNetwork, ip: str) -> Response:
    try:
        ipaddress.IPv4Address(ip)
    except ValueError:
        return _error(400, "invalid_request", f"not an IPv4 address: {ip!r}")
    line = network.line_for_ip(ip)
    if line is None:
        return json_response(200, {"ip": ip, "mobile": False})
    return json_response(200, {"ip": ip, "msisdn": line.sim, "network_id": line.network_id,
                               "operator": operator_name(line.network_id), "mobile": True})


def _authorize(network: MobileNetwork, request: Request) -> Response:
    session, return_to = request.query.get("session", ""), request.query.get("return_to", "")
    if not _SESSION.fullmatch(session):
        return _error(400, "invalid_request", "session must be 1-256 URL-safe characters")
    if not network.is_partner(return_to):
        return _error(400, "invalid_request", "return_to must be the return URL a partner registered with the operator")
    try:
        seen = network.record_session(session, request.remote_addr)
    except SessionAlreadyUsed:
        return _error(409, "session_already_used", "this session has already been through header enrichment")
    sent = request.cookie(COOKIE_NAME)  # the device's existing MNO cookie, else a new one
    cookie = sent if sent is not None and _COOKIE_VALUE.fullmatch(sent) else secrets.token_urlsafe(16)
    parts = urlsplit(return_to)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ("session", "continuation")]
    answer = [("session", seen.session), ("continuation", seen.continuation)]
    location = urlunsplit(parts._replace(query=urlencode([*query, *answer])))
    return Response(302, (("Location", location), ("Set-Cookie", f"{COOKIE_NAME}={cookie}; Path=/; HttpOnly; "
                                                                  "SameSite=Lax"), ("Cache-Control", "no-store")))


def _redeem(network: MobileNetwork, request: Request, session: str) -> Response:
    body = _json_object(request, '{"continuation": "…"}')
    if not isinstance(body, dict):
        return body
    continuation = body.get("continuation")
    seen = network.redeem(session, continuation) if isinstance(continuation, str) and continuation else None
    if seen is None:
        return _error(404, "not_found", "unknown session, wrong continuation, or redeemed already")
    return json_response(200, seen.answer())


def _subscriber(network: MobileNetwork, msisdn: str) -> Response:
    record = network.subscriber(msisdn)
    return json_response(200, record) if record else _error(404, "not_found", "no SIM has ever held this number")


def make_app(network: MobileNetwork) -> WSGIApp:
    """The network's HTTP face: admin, line lookup, the header-enrichment hop and its redemption."""
    routes: Routes = {
        "/_admin/phones": {"POST": lambda request: _add_phone(network, request)},
        "/_admin/partners": {"POST": lambda request: _add_partner(network, request)},
        "/he/authorize": {"GET": lambda request: _authorize(network, request)},
        "/lines/{ip}": {"GET": lambda _, ip: _line(network, ip)},
        "/he/sessions/{session}/redeem": {"POST": lambda request, session: _redeem(network, request, session)},
        "/subscribers/{msisdn}": {"GET": lambda _, msisdn: _subscriber(network, msisdn)},
    }

    def handle(request: Request) -> Response:
        return route(routes, request, lambda: _error(404, "not_found", f"no such path: {request.path}"),
                     lambda _: _error(405, "method_not_allowed", f"{request.method} is not allowed here"))

    return simulator_app("network", handle, None, lambda: _error(500, "server_error", "the network failed"))
