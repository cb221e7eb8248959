"""CORS for web apps in app mode: the deployment lists the origins (CORS_ALLOWED_ORIGINS); API Gateway
passes preflights and requests through, and the functions answer them. Only the request headers the
API reads are allowed, and only the response header a web app needs to read is exposed."""

from __future__ import annotations

import functools
from typing import Any

from silentcheck.api import LambdaHandler, problem
from silentcheck.config import settings
from silentcheck.errors import OriginNotAllowed

ALLOWED_METHODS = "GET, POST"
ALLOWED_HEADERS = "Authorization, Content-Type, Idempotency-Key"
EXPOSED_HEADERS = "Retry-After"
PREFLIGHT_MAX_AGE_SECONDS = 600


def allowed_origins() -> frozenset[str]:
    return frozenset(origin.strip().rstrip("/") for origin in settings().cors_allowed_origins.split(",")
                     if origin.strip())


def _origin(event: dict[str, Any]) -> str | None:
    headers = event.get("headers") or {}
    origin = next((value for name, value in headers.items() if name.lower() == "origin"), None)
    return str(origin) if origin else None


def _preflight(origin: str | None) -> dict[str, Any]:
    if origin is None or origin not in allowed_origins():
        # The origin is not repeated: no request header is echoed into a body.
        detail = ("browser requests from this page's origin are not allowed; add the origin to the "
                  "CorsAllowedOrigins parameter" if allowed_origins() else
                  "this deployment allows no browser origins (the CorsAllowedOrigins parameter is empty)")
        response = problem(OriginNotAllowed(detail))
        return {"statusCode": response.status_code, "headers": response.headers, "body": response.body}
    return {"statusCode": 204, "body": "", "headers": {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": ALLOWED_METHODS,
        "Access-Control-Allow-Headers": ALLOWED_HEADERS,
        "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS),
        "Vary": "Origin",
    }}


def cors(handler: LambdaHandler) -> LambdaHandler:
    """Answer preflights, and let listed origins read the answers of a REST API function."""

    @functools.wraps(handler)
    def wrapper(event: dict[str, Any], context: Any) -> dict[str, Any]:
        origin = _origin(event)
        if event.get("httpMethod") == "OPTIONS":
            return _preflight(origin)
        response = handler(event, context)
        if origin is not None and origin in allowed_origins():
            headers = response.setdefault("headers", {}) or {}
            headers.update({"Access-Control-Allow-Origin": origin, "Access-Control-Expose-Headers": EXPOSED_HEADERS,
                            "Vary": "Origin"})
            response["headers"] = headers
        return response

    return wrapper
