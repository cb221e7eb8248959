"""WSGI plumbing for the simulated tru.ID: a parsed request, a response, and tru.ID's problem bodies."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

_log = logging.getLogger("sandbox.operators")
PROBLEM_TYPE_BASE = "https://developer.tru.id/docs/reference/api-errors"
MAX_BODY_BYTES = 256 * 1024

# code -> (title, detail). The first block is tru.ID's own catalogue (HTTPProblemDetailTypes.v1.yaml);
# the rest have no documented type, so they follow the same shape with the HTTP reason as the code.
PROBLEMS: dict[str, tuple[str, str]] = {
    "bad_request": ("Bad Request", "The request body is invalid"),
    "phone_format_invalid": ("Bad Request", "Phone Number Validation Error"),
    "mno_not_supported": ("Bad Request", "Mobile Network Operator Not Supported"),
    "forbidden": ("Forbidden", "Forbidden"),
    "check_not_found": ("Not Found", "Check Not Found"),
    "ip_msisdn_mismatch": ("Conflict", "ip_msisdn_mismatch"),
    "not_mobile_ip": ("Precondition Failed", "Not a mobile IP"),
    "too_many_requests": (
        "Rate Limit exceeded",
        "Rate Limit has exceeded, check response Retry-After HTTP header for when request can be retried.",
    ),
    "mno_redirect_unsupported": ("Not Implemented", "Mobile Network Operator Not Supporting Redirect"),
    "unauthorized": ("Unauthorized", "Unauthorized"),
    "not_found": ("Not Found", "Not Found"),
    "method_not_allowed": ("Method Not Allowed", "Method Not Allowed"),
    "unsupported_media_type": ("Unsupported Media Type", "Unsupported Media Type"),
    "internal_server_error": ("Internal Server Error", "Internal Server Error"),
    "bad_gateway": ("Bad Gateway", "Bad Gateway"),
    "service_unavailable": ("Service Unavailable", "Service Unavailable"),
}
# The problem an HTTP status alone stands for (injected faults).
STATUS_PROBLEMS: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "check_not_found",
    405: "method_not_allowed",
    409: "ip_msisdn_mismatch",
    412: "not_mobile_ip",
    415: "unsupported_media_type",
    429: "too_many_requests",
    500: "internal_server_error",
    501: "mno_redirect_unsupported",
    502: "bad_gateway",
    503: "service_unavailable",
}
DEFAULT_RETRY_AFTER_SECONDS = 30

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Response:
    status: int
    headers: Headers = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def json_response(
    status: int, payload: Any, content_type: str = "application/json", headers: Headers = ()
) -> Response:
    return Response(status, (("Content-Type", content_type), *headers), json.dumps(payload).encode())


def problem(status: int, code: str | None = None, detail: str | None = None, headers: Headers = ()) -> Response:
    """An RFC 7807 body shaped like tru.ID's: type, title and detail, and no `status` member."""
    code = code or STATUS_PROBLEMS.get(status) or HTTPStatus(status).phrase.lower().replace(" ", "_")
    title, default_detail = PROBLEMS.get(code, (HTTPStatus(status).phrase, HTTPStatus(status).phrase))
    if status == 429 and not any(k.lower() == "retry-after" for k, _ in headers):
        headers = (*headers, ("Retry-After", str(DEFAULT_RETRY_AFTER_SECONDS)))
    body = {"type": f"{PROBLEM_TYPE_BASE}#{code}", "title": title, "detail": detail or default_detail}
    return json_response(status, body, "application/problem+json", headers)


def redirect(location: str) -> Response:
    return Response(302, (("Location", location), ("Cache-Control", "no-store")))


def with_query(url: str, params: Mapping[str, str]) -> str:
    """`url` with `params` appended to whatever query it already has."""
    parts = urlsplit(url)
    extra = urlencode(list(params.items()))
    return urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))


_BROKEN_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def basic_credentials(credentials: str) -> tuple[str, str] | None:
    """The client id and secret in HTTP Basic `credentials` (what follows "Basic "), decoded as RFC 6749
    §2.3.1 says: base64, split at the first ':', then each half form-urldecoded as UTF-8. None when
    malformed, as a compliant server (e.g. panva's oidc-provider) refuses a broken escape: a client that
    sends the raw pair fails with any secret holding '+', '%' or non-ASCII characters."""
    try:
        raw_id, sep, raw_secret = base64.b64decode(credentials.strip(), validate=True).decode("ascii").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    if not sep or _BROKEN_ESCAPE.search(raw_id) or _BROKEN_ESCAPE.search(raw_secret):
        return None
    try:
        return unquote_plus(raw_id, errors="strict"), unquote_plus(raw_secret, errors="strict")
    except UnicodeDecodeError:
        return None


def is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in value)


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

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        return json.loads(self.body.decode("utf-8"))

    def form(self, encoding: str = "utf-8") -> dict[str, str]:
        """The x-www-form-urlencoded body; FormInvalid says why it is not one (a repeated parameter
        is an error, RFC 6749 §3.2)."""
        if self.media_type != "application/x-www-form-urlencoded":
            raise FormInvalid("media_type")
        try:
            pairs = parse_qsl(self.body.decode(encoding), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            raise FormInvalid("malformed") from None
        form = dict(pairs)
        if len(form) != len(pairs):
            raise FormInvalid("repeated")
        return form


class FormInvalid(ValueError):
    def __init__(self, why: str) -> None:  # media_type | malformed | repeated
        super().__init__(why)
        self.why = why


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
