"""What the three simulators share: the WSGI plumbing (a parsed request, a response, the app around a handler, the
router) and the credentials they read."""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hmac
import ipaddress
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

_log = logging.getLogger("sandbox.simulators")
MAX_BODY_BYTES = 256 * 1024
Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Response:
    status: int
    headers: Headers = ()
    body: bytes = b""


def json_response(
    status: int, payload: Any, content_type: str = "application/json", headers: Headers = ()
) -> Response:
    return Response(status, (("Content-Type", content_type), *headers), json.dumps(payload).encode())


def redirect(location: str) -> Response:
    return Response(302, (("Location", location), ("Cache-Control", "no-store")))


def with_query(url: str, params: Mapping[str, str]) -> str:
    """`url` with `params` appended to whatever query it already has."""
    parts = urlsplit(url)
    extra = urlencode(list(params.items()))
    return urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))


_BROKEN_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")


def authorization(request: Request, scheme: str) -> str | None:
    """The credentials in the request's `Authorization: <scheme> <credentials>` (the scheme in any case); None
    for another scheme or none."""
    given, _, credentials = request.headers.get("authorization", "").strip().partition(" ")
    return (credentials.strip() or None) if given.lower() == scheme else None


def basic_client(request: Request, secret_of: Callable[[str], str | None]) -> str | None:
    """The client id in the request's HTTP Basic credentials when `secret_of(client id)` is their secret.
    Decoded as RFC 6749 §2.3.1 says: base64, split at the first ':', then each half form-urldecoded as UTF-8;
    a broken escape is refused, as a compliant server (e.g. panva's oidc-provider) does, so a client that sends
    the raw pair fails with any secret holding '+', '%' or non-ASCII characters."""
    try:
        decoded = base64.b64decode(authorization(request, "basic") or "", validate=True).decode("ascii")
        raw_id, sep, raw_secret = decoded.partition(":")
        if not sep or _BROKEN_ESCAPE.search(decoded):
            return None
        client_id, secret = unquote_plus(raw_id, errors="strict"), unquote_plus(raw_secret, errors="strict")
    except (binascii.Error, UnicodeDecodeError):
        return None
    expected = secret_of(client_id)
    return client_id if expected is not None and hmac.compare_digest(secret.encode(), expected.encode()) else None


def ip_literal(value: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IPv4 or IPv6 address `value` spells, else None."""
    try:
        return ipaddress.ip_address(value) if isinstance(value, str) else None
    except ValueError:
        return None


def is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in value)


def is_loopback_url(url: str) -> bool:
    """True for an http(s) URL without user info whose host is 127.x.x.x or localhost."""
    # Backslashes and whitespace are parsed differently by different clients; refuse them outright.
    if not url.isascii() or "\\" in url or any(c.isspace() or not c.isprintable() for c in url):
        return False
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or "@" in parts.netloc:
        return False
    try:
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.IPv4Address(parts.hostname or "") in LOOPBACK
    except ValueError:
        return False


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    remote_addr: str
    base_url: str  # what this server is called, e.g. http://127.0.0.1:8123

    @classmethod
    def from_environ(cls, environ: Mapping[str, Any], public_url: str | None = None) -> Request:
        headers = {k[5:].replace("_", "-").lower(): str(v) for k, v in environ.items() if k.startswith("HTTP_")}
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key.replace("_", "-").lower()] = str(environ[key])
        try:
            length = max(0, int(environ.get("CONTENT_LENGTH") or 0))
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(min(length, MAX_BODY_BYTES)) if length else b""
        host = headers.get("host") or f"{environ.get('SERVER_NAME', '127.0.0.1')}:{environ.get('SERVER_PORT')}"
        return cls(
            method=str(environ.get("REQUEST_METHOD", "GET")).upper(),
            path=str(environ.get("PATH_INFO", "") or "/"),
            query=dict(parse_qsl(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)),
            headers=headers,
            body=body,
            remote_addr=str(environ.get("REMOTE_ADDR", "")),
            base_url=(public_url or f"{environ.get('wsgi.url_scheme', 'http')}://{host}").rstrip("/"),
        )

    def cookie(self, name: str) -> str | None:
        cookies: SimpleCookie = SimpleCookie()
        with contextlib.suppress(CookieError):
            cookies.load(self.headers.get("cookie", ""))
        morsel = cookies.get(name)
        return morsel.value if morsel is not None else None

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        return json.loads(self.body.decode("utf-8"))

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; ValueError says why it is not one."""
        try:
            body = self.json()
        except ValueError:
            raise ValueError("The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise ValueError("The request body must be a JSON object.")
        return body

    def form(self, encoding: str = "utf-8") -> dict[str, str]:
        """The x-www-form-urlencoded body; ValueError says why it is not one (a repeated parameter is an error,
        RFC 6749 §3.2)."""
        if self.media_type != "application/x-www-form-urlencoded":
            raise ValueError("the body must be application/x-www-form-urlencoded")
        try:
            pairs = parse_qsl(self.body.decode(encoding), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            raise ValueError("the body is not a valid form") from None
        if len(dict(pairs)) != len(pairs):
            raise ValueError("a parameter is repeated")
        return dict(pairs)


def simulator_app(name: str, handle: Callable[[Request], Response], public_url: str | None,
                  failure: Callable[[], Response]) -> Callable[..., list[bytes]]:
    """A simulator's HTTP face (stdlib WSGI): a simulator bug still answers like a server (`failure`)
    instead of dropping the connection."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        try:
            response = handle(Request.from_environ(environ, public_url))
        except Exception:
            _log.exception("simulated %s failed on %s %s", name, environ.get("REQUEST_METHOD"),
                           environ.get("PATH_INFO"))
            response = failure()
        headers = [*response.headers, ("Content-Length", str(len(response.body)))]
        start_response(f"{response.status} {HTTPStatus(response.status).phrase}", headers)
        return [response.body]

    return app


Routes = Mapping[str, Mapping[str, Callable[..., Response]]]  # path pattern -> method -> handler
_PARAMETER = re.compile(r"\{(\w+)(?::([^}]+))?\}")


@functools.cache
def _path_pattern(path: str) -> re.Pattern[str]:
    """`/checks/{check_id}/redirect` as a regex: {name} is one path segment, {name:regex} what the regex matches."""
    regex, end = "", 0
    for parameter in _PARAMETER.finditer(path):
        regex += re.escape(path[end:parameter.start()]) + f"(?P<{parameter[1]}>{parameter[2] or '[^/]+'})"
        end = parameter.end()
    return re.compile(regex + re.escape(path[end:]))


def route(routes: Routes, request: Request, not_found: Callable[[], Response],
          not_allowed: Callable[[str], Response]) -> Response:
    """The answer of the handler `routes` has for the request's path (a trailing slash ignored; {name} segments
    are passed to it as keywords) and method; `not_found()` for an unknown path, `not_allowed(allow)` for a
    method it does not take: each provider answers those in its own shape."""
    path = request.path.rstrip("/")
    for pattern, methods in routes.items():
        match = _path_pattern(pattern).fullmatch(path)
        if match is not None:
            handler = methods.get(request.method)
            if handler is None:
                return not_allowed(", ".join(methods))
            return handler(request, **match.groupdict())
    return not_found()
