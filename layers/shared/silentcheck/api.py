"""Resolver setup shared by the API handlers: problem+json errors, request facts, one decorator."""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
from aws_lambda_powertools.logging import correlation_paths
from pydantic import ValidationError

from silentcheck import aws, bodies, provider_http
from silentcheck.config import settings
from silentcheck.errors import (
    InvalidRequest,
    RouteNotFound,
    SilentCheckError,
    TemporarilyUnavailable,
    UnsupportedMediaType,
)
from silentcheck.observability import logger, metrics

PROBLEM_JSON = "application/problem+json"
SECURITY_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}
# The largest request body read: POST /checks' fields fit in well under 5 KiB (an operator token is at most 4096
# characters), and its body is one flat object.
MAX_BODY_BYTES = 16384
MAX_BODY_DEPTH = 4
NOT_A_JSON_OBJECT = "the request body must be a JSON object, encoded in UTF-8"


def problem(error: SilentCheckError) -> Response[str]:
    """The RFC 9457 answer for `error`. A 5xx says only its class's public detail; the specific one is logged."""
    detail = error.detail
    if error.status >= 500:
        detail = error.public_detail
        if error.detail != detail:
            logger.error("request failed", code=error.code, detail=error.detail)
    body = {
        "type": f"urn:silentcheck:problem:{error.code}",
        "title": error.title,
        "status": error.status,
        "detail": detail,
        "code": error.code,
        **error.extensions,
    }
    return Response(error.status, PROBLEM_JSON, json.dumps(body), headers={**SECURITY_HEADERS, **error.headers()})


def _validation_detail(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "body"
        parts.append(f"{field}: unknown field" if item["type"] == "extra_forbidden" else f"{field}: {item['msg']}")
    return "; ".join(parts)


def rest_resolver() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver()

    @app.exception_handler(SilentCheckError)
    def _domain_error(error: SilentCheckError) -> Response[str]:
        return problem(error)

    @app.exception_handler(ValidationError)
    def _invalid_body(error: ValidationError) -> Response[str]:
        return problem(InvalidRequest(_validation_detail(error)))

    @app.exception_handler(json.JSONDecodeError)
    def _not_json(error: json.JSONDecodeError) -> Response[str]:
        return problem(InvalidRequest(NOT_A_JSON_OBJECT))

    app.exception_handler(Exception)(unexpected)

    @app.not_found
    def _no_route(error: Exception) -> Response[str]:
        return problem(RouteNotFound("no such route"))

    return app


def unexpected(error: Exception) -> Response[str]:
    """Anything no other handler took: 503 with Retry-After when AWS stayed busy through every retry,
    else a 500; problem+json either way, never a stack trace."""
    if aws.exhausted(error):
        logger.warning("AWS busy after retries", error=type(error).__name__)
        return problem(TemporarilyUnavailable(TemporarilyUnavailable.public_detail))
    logger.exception("unhandled error")
    return problem(SilentCheckError(SilentCheckError.public_detail))


JWKS_CACHE_SECONDS = 3600  # verifiers refetch on an unknown `kid`; a rotation keeps the old key longer than this


def json_response(status: int, body: Any, cache_seconds: int | None = None) -> Response[str]:
    """A JSON answer; private and never cached unless `cache_seconds` marks it public and cacheable."""
    payload = body.model_dump(mode="json") if hasattr(body, "model_dump") else body
    headers = dict(SECURITY_HEADERS)
    if cache_seconds is not None:
        headers["Cache-Control"] = f"public, max-age={cache_seconds}"
    return Response(status, "application/json", json.dumps(payload), headers=headers)


def json_object_body(app: BaseRouter) -> dict[str, Any]:
    """The request's JSON object: sent as application/json (415 otherwise: an HTML form cannot send it across
    sites without a CORS preflight), within MAX_BODY_BYTES and MAX_BODY_DEPTH, checked before parsing (400)."""
    event = app.current_event
    if not bodies.is_json_media_type(event.headers.get("Content-Type")):
        raise UnsupportedMediaType(f"send the body as JSON with the header Content-Type: {bodies.MEDIA_TYPE}")
    raw: str | bytes = event.body or ""
    try:  # a body that is not UTF-8 arrives base64-encoded
        if event.raw_event.get("isBase64Encoded"):
            raw = base64.b64decode(raw, validate=True)
        body = bodies.loads(raw, MAX_BODY_BYTES, MAX_BODY_DEPTH)
    except bodies.BodyRefused as refused:
        raise InvalidRequest(str(refused) if refused.limit else NOT_A_JSON_OBJECT) from None
    except binascii.Error:
        body = None
    if not isinstance(body, dict):
        raise InvalidRequest(NOT_A_JSON_OBJECT)
    return body


def bearer(app: BaseRouter) -> str | None:
    value = app.current_event.headers.get("Authorization") or app.current_event.headers.get("authorization")
    if not value or not value.startswith("Bearer "):
        return None
    return value.removeprefix("Bearer ").strip() or None


def source_ip(event: Any) -> str | None:
    """The connection's source IP as API Gateway saw it; X-Forwarded-For is never consulted."""
    ip = event.get("requestContext", {}).get("identity", {}).get("sourceIp")
    return str(ip) if ip else None


def api_key_id(event: Any) -> str | None:
    """The id of the API key API Gateway checked for this request (ClientAuth api_key), else None."""
    key_id = event.get("requestContext", {}).get("identity", {}).get("apiKeyId")
    return str(key_id) if key_id else None


def public_base_url(event: Any) -> str:
    """Where the API is reachable: configuration first, else the stage URL API Gateway reports."""
    configured = settings().public_api_url
    if configured:
        return str(configured).rstrip("/")
    context = event.get("requestContext", {})
    return f"https://{context['domainName']}/{context['stage']}"


LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def _provider_budget(context: Any) -> float | None:
    """How long this invocation's provider calls may take in all: Lambda's remaining time, less the
    margin that records the outcome (docs/reliability.md, Time budgets)."""
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if remaining_ms is None:
        return None
    return float(remaining_ms()) / 1000 - settings().record_margin_seconds


def observed(handler: LambdaHandler) -> LambdaHandler:
    """Logger context (request id, cold start) for a Lambda handler, its metrics flushed when it ends (and
    the cold-start metric); the event is never logged."""

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
    @metrics.log_metrics(capture_cold_start_metric=True)
    @functools.wraps(handler)
    def wrapper(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return handler(event, context)

    observed_handler: LambdaHandler = wrapper
    return observed_handler


def provider_deadline(handler: LambdaHandler) -> LambdaHandler:
    """Every provider call inside the handler shares one deadline, taken from the Lambda context."""

    @functools.wraps(handler)
    def wrapper(event: dict[str, Any], context: Any) -> dict[str, Any]:
        with provider_http.deadline(_provider_budget(context)):
            return handler(event, context)

    bounded_handler: LambdaHandler = wrapper
    return bounded_handler
