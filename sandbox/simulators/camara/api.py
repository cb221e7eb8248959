"""The CAMARA resource APIs of the simulated aggregator: what they share (x-correlator, ErrorInfo, single-use bearer
tokens, JSON bodies) and Number Verification (POST /verify, GET /device-phone-number)."""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from sandbox.simulators.camara.config import Mode
from sandbox.simulators.camara.oauth import E164, AccessTokens, Grant, msisdn_hash
from sandbox.simulators.wsgi import Headers, Request, Response, Routes, authorization, json_response, route

NOT_BY_NETWORK = "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK"
NETWORK_AMR = frozenset({"nba", "ts43"})  # network-based and SIM-based (TS.43) authentication
MESSAGES = {
    "INVALID_ARGUMENT": "Client specified an invalid argument, request body or query param.",
    "UNAUTHENTICATED": "Request not authenticated due to missing, invalid, or expired credentials. "
                       "A new authentication is required.",
    "PERMISSION_DENIED": "Client does not have sufficient permissions to perform this action.",
    NOT_BY_NETWORK: "Client must authenticate via the mobile network to use this service",
    "NOT_FOUND": "The specified resource is not found.",
    "METHOD_NOT_ALLOWED": "The requested method is not allowed/supported on the target resource.",
    "UNSUPPORTED_MEDIA_TYPE": "The server refuses to accept the request because the payload format is in an "
                              "unsupported format.",
    "TOO_MANY_REQUESTS": "Rate limit reached.",
    "INTERNAL": "Unknown server error. Typically a server bug.",
    "BAD_GATEWAY": "An upstream internal service cannot be reached.",
    "UNAVAILABLE": "Service Unavailable.",
    "TIMEOUT": "Request timeout exceeded.",
}
STATUS_CODES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                405: "METHOD_NOT_ALLOWED", 415: "UNSUPPORTED_MEDIA_TYPE", 429: "TOO_MANY_REQUESTS",
                500: "INTERNAL", 502: "BAD_GATEWAY", 503: "UNAVAILABLE", 504: "TIMEOUT"}
# Sandbox triggers on the last two digits of a /verify phoneNumber (both modes): docs/sandbox.md.
VERIFY_TRIGGERS = {"94": (403, NOT_BY_NETWORK), "95": (503, "UNAVAILABLE")}

X_CORRELATOR = re.compile(r"[A-Za-z0-9_:;./<>{}-]{0,256}")  # the spec's ^[a-zA-Z0-9-_:;.\/<>{}]{0,256}$
HASHED = re.compile(r"[a-fA-F0-9]{64}")
_BODY_FIELDS = frozenset({"phoneNumber", "hashedPhoneNumber"})


def default_error_body(status: int) -> dict[str, Any]:
    code = STATUS_CODES.get(status, HTTPStatus(status).phrase.upper().replace(" ", "_"))
    return {"status": status, "code": code, "message": MESSAGES.get(code, HTTPStatus(status).phrase)}


def error_info(status: int, code: str, message: str | None = None, headers: Headers = ()) -> Response:
    body = {"status": status, "code": code, "message": message or MESSAGES.get(code, HTTPStatus(status).phrase)}
    return json_response(status, body, headers=headers)


def serve_api(request: Request, operations: Routes) -> Response:
    """A call to one of CAMARA's APIs: ErrorInfo for an unknown path or method, an invalid x-correlator refused
    (and not echoed), a valid one echoed on every answer."""
    correlator = request.headers.get("x-correlator")
    valid = correlator is None or X_CORRELATOR.fullmatch(correlator) is not None
    if not valid:
        refuse: Callable[..., Response] = lambda *_: error_info(  # noqa: E731
            400, "INVALID_ARGUMENT", "x-correlator does not match the schema pattern")
        operations = {path: dict.fromkeys(methods, refuse) for path, methods in operations.items()}
    response = route(operations, request, lambda: error_info(404, "NOT_FOUND"),
                     lambda allow: error_info(405, "METHOD_NOT_ALLOWED", headers=(("Allow", allow),)))
    echo: Headers = (("x-correlator", correlator),) if correlator is not None and valid else ()
    return Response(response.status, (*response.headers, *echo), response.body)


def spend_token(request: Request, tokens: AccessTokens, api: str) -> Grant | Response:
    """The grant of the request's bearer token, spent for `api`; else the 401 to answer."""
    token = authorization(request, "bearer")
    grant = tokens.consume(token, api) if token else None
    if grant is None:
        return error_info(401, "UNAUTHENTICATED",
                          headers=(("WWW-Authenticate", 'Bearer realm="camara", error="invalid_token"'),))
    return grant


def json_object(request: Request) -> dict[str, Any] | Response:
    """The JSON object in the body; else the 415 or 400 to answer."""
    if request.media_type != "application/json":
        return error_info(415, "UNSUPPORTED_MEDIA_TYPE")
    try:
        return request.json_object()
    except ValueError as invalid:
        return error_info(400, "INVALID_ARGUMENT", str(invalid))


def mock_verdict(phone_number: str, now: float) -> bool:
    """Telefónica's mock rule: last digit 1 → true, 2 → false, otherwise the parity of the time (even → true)."""
    last = phone_number[-1]
    if last in "12":
        return last == "1"
    return int(now) % 2 == 0


class NumberVerificationApi:
    """Checks single-use bearer tokens, their scope and AMR, then the body, and answers."""

    def __init__(self, api_version: str, tokens: AccessTokens, mode_of: Callable[[str], Mode],
                 clock: Callable[[], float]) -> None:
        self.base_path = f"/number-verification/{api_version}"
        self._tokens = tokens
        self._mode_of = mode_of
        self._clock = clock

    def _grant(self, request: Request, share: bool) -> Grant | Response:
        grant = spend_token(request, self._tokens, "number-verification")
        if isinstance(grant, Response):
            return grant
        if not (grant.scopes.share if share else grant.scopes.verify):
            return error_info(403, "PERMISSION_DENIED")
        if not NETWORK_AMR & set(grant.amr):
            return error_info(403, NOT_BY_NETWORK)
        return grant

    def verify(self, request: Request) -> Response:
        grant = self._grant(request, share=False)
        if isinstance(grant, Response):
            return grant
        body = _verify_body(request)
        if isinstance(body, Response):
            return body
        if "phoneNumber" in body:
            number = body["phoneNumber"]
            if number[-2:] in VERIFY_TRIGGERS:
                return error_info(*VERIFY_TRIGGERS[number[-2:]])
            if self._mode_of(grant.client_id) == "mock":
                verified = mock_verdict(number, self._clock())
            else:
                verified = grant.msisdn is not None and hmac.compare_digest(number, grant.msisdn)
        else:
            hashed = body["hashedPhoneNumber"].lower()
            verified = grant.msisdn is not None and hmac.compare_digest(hashed, msisdn_hash(grant.msisdn))
        return json_response(200, {"devicePhoneNumberVerified": verified})

    def share(self, request: Request) -> Response:
        grant = self._grant(request, share=True)
        if isinstance(grant, Response):
            return grant
        if grant.msisdn is None:  # mock mode, device off mobile data: no line behind the token
            return error_info(403, NOT_BY_NETWORK)
        return json_response(200, {"devicePhoneNumber": grant.msisdn})


def _verify_body(request: Request) -> dict[str, str] | Response:
    """Exactly one of phoneNumber / hashedPhoneNumber, schema-valid; else the 400 (or 415) to answer."""
    if not request.body.strip():
        return error_info(400, "INVALID_ARGUMENT", "A request body is required.")
    body = json_object(request)
    if isinstance(body, Response):
        return body
    if len(body) != 1 or not set(body) <= _BODY_FIELDS:
        return error_info(400, "INVALID_ARGUMENT",
                          "The body must have exactly one of phoneNumber or hashedPhoneNumber, and nothing else.")
    [(name, value)] = body.items()
    pattern = E164 if name == "phoneNumber" else HASHED
    if not isinstance(value, str) or not pattern.fullmatch(value):
        return error_info(400, "INVALID_ARGUMENT", f"{name} does not match its schema pattern.")
    return {name: value}
