"""The operator's hop as a simulated provider makes it (docs/sandbox.md, "The operator's hop"): it sends the device
that opened its first URL through the network's header enrichment, remembering that device's address and setting a
cookie on it; when the device comes back, it redeems the one-time continuation and compares the address and the
cookie, and the address the operator saw at the hop, with the request in hand."""

from __future__ import annotations

import hmac
import secrets
import threading
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sandbox.simulators.network_client import NetworkDown, redeem_continuation
from sandbox.simulators.wsgi import Request, Response, with_query

T = TypeVar("T")


@dataclass(frozen=True)
class DeviceMark:
    """The device that opened a provider's first URL (check_url, /authorize, deviceRedirectUrl)."""

    ip: str
    cookie: str


@dataclass(frozen=True)
class Resumed(Generic[T]):
    """A device back from the hop: what the provider parked for it, what the hop saw (None: the network did not
    answer), and why it is not the device that left (None: it is; not asked when the network did not answer)."""

    parked: T
    seen: dict[str, Any] | None
    mismatch: str | None


class OperatorHops(Generic[T]):
    """Devices out on the operator's hop, by session, each with what the provider parked for it; a session ends
    when its device comes back with a continuation the network accepts (or does not answer for). Thread-safe."""

    def __init__(self, network_url: str, resume_path: str, cookie_name: str) -> None:
        self._network_url = network_url.rstrip("/")
        self._resume_path = resume_path
        self._cookie_name = cookie_name
        self._lock = threading.Lock()
        self._out: dict[str, tuple[T, DeviceMark]] = {}

    def send(self, request: Request, parked: T) -> Response:
        """The 302 that sends the device making `request`, marked with a cookie, through header enrichment."""
        session, mark = secrets.token_urlsafe(24), DeviceMark(request.remote_addr, secrets.token_urlsafe(24))
        with self._lock:
            self._out[session] = (parked, mark)
        hop = with_query(f"{self._network_url}/he/authorize",
                         {"session": session, "return_to": f"{request.base_url}{self._resume_path}"})
        return Response(302, (("Location", hop), ("Cache-Control", "no-store"),
                              ("Set-Cookie", f"{self._cookie_name}={mark.cookie}; Path=/; HttpOnly; SameSite=Lax")))

    def parked(self, request: Request) -> T | None:
        """What was parked for the session the returning `request` names, if it is out."""
        with self._lock:
            out = self._out.get(request.query.get("session", ""))
        return None if out is None else out[0]

    def resume(self, request: Request) -> Resumed[T] | None:
        """The device of `request` back with `session` and `continuation`; None (nothing decided, the session
        still out) for an unknown session or a continuation missing, not the one handed out, or spent."""
        session, continuation = request.query.get("session", ""), request.query.get("continuation", "")
        with self._lock:
            out = self._out.get(session)
        if out is None or not continuation:
            return None
        try:
            seen = redeem_continuation(self._network_url, session, continuation)
        except NetworkDown:
            seen = None
        else:
            if seen is None:
                return None
        with self._lock:
            self._out.pop(session, None)
        parked, mark = out
        return Resumed(parked, seen, None if seen is None else device_mismatch(mark, request, self._cookie_name, seen))


def device_mismatch(mark: DeviceMark, request: Request, cookie_name: str, seen: dict[str, Any]) -> str | None:
    """Why the device resuming the chain (`request`) is not the one `mark` remembers, or that went through the
    operator's hop (`seen`, the network's answer); None when it is the same device."""
    if request.remote_addr != mark.ip:
        return "the chain was resumed from another address than the one that opened it"
    if seen.get("device_ip") != mark.ip:
        return "the operator's hop was made from another address than the one that opened the chain"
    sent = request.cookie(cookie_name)
    if sent is None or not hmac.compare_digest(sent.encode(), mark.cookie.encode()):
        return "the chain was resumed without the cookie set on the device that opened it"
    return None
