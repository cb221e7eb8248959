"""How a simulated provider knows the device that resumes its chain after the operator's hop is the device that
opened its first URL: it remembers that device's address and sets a cookie on it, and at the resume compares both,
and the address the operator saw at the hop, with the request in hand."""

from __future__ import annotations

import contextlib
import hmac
import secrets
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any

from sandbox.simulators.wsgi import Request


@dataclass(frozen=True)
class DeviceMark:
    """The device that opened a provider's first URL (check_url, /authorize, deviceRedirectUrl)."""

    ip: str
    cookie: str


def mark_device(request: Request, cookie_name: str) -> tuple[DeviceMark, tuple[str, str]]:
    """A fresh mark for the device making `request`, and the Set-Cookie header that hands it its half."""
    mark = DeviceMark(request.remote_addr, secrets.token_urlsafe(24))
    return mark, ("Set-Cookie", f"{cookie_name}={mark.cookie}; Path=/; HttpOnly; SameSite=Lax")


def device_mismatch(mark: DeviceMark, request: Request, cookie_name: str, seen: dict[str, Any]) -> str | None:
    """Why the device resuming the chain (`request`) is not the one `mark` remembers, or that went through the
    operator's hop (`seen`, the network's answer); None when it is the same device."""
    if request.remote_addr != mark.ip:
        return "the chain was resumed from another address than the one that opened it"
    if seen.get("device_ip") != mark.ip:
        return "the operator's hop was made from another address than the one that opened the chain"
    sent = cookie_of(request, cookie_name)
    if sent is None or not hmac.compare_digest(sent.encode(), mark.cookie.encode()):
        return "the chain was resumed without the cookie set on the device that opened it"
    return None


def cookie_of(request: Request, name: str) -> str | None:
    cookies: SimpleCookie = SimpleCookie()
    with contextlib.suppress(CookieError):
        cookies.load(request.headers.get("cookie", ""))
    morsel = cookies.get(name)
    return morsel.value if morsel is not None else None
