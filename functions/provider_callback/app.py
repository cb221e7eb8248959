"""POST (or, for Infobip's older form, GET) {function URL}/{provider}/{capability}: results pushed by providers."""

import base64
from typing import Any

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response

from silentcheck import service
from silentcheck.api import observed, problem, provider_deadline, unexpected
from silentcheck.errors import RouteNotFound, SilentCheckError
from silentcheck.providers.base import CallbackRequest

app = LambdaFunctionUrlResolver()


app.exception_handler(SilentCheckError)(problem)
app.exception_handler(Exception)(unexpected)  # busy AWS: 503 Retry-After, and the provider delivers again


def _received() -> CallbackRequest:
    """The request as the provider sent it: the signature of tru.ID's callbacks covers these bytes."""
    event = app.current_event.raw_event
    raw_body = event.get("body") or ""
    body = base64.b64decode(raw_body) if event.get("isBase64Encoded") else raw_body.encode()
    raw_query = event.get("rawQueryString") or ""
    return CallbackRequest(
        method=app.current_event.request_context.http.method,
        path=event.get("rawPath", "") + (f"?{raw_query}" if raw_query else ""),
        query=app.current_event.query_string_parameters or {},
        headers={name.lower(): value for name, value in (event.get("headers") or {}).items()},
        body=body,
    )


@app.route("/<provider>/<capability>", method=["POST", "GET"])  # GET: Infobip's older query-string form
def callback(provider: str, capability: str) -> Response[str]:
    service.provider_callback(provider, capability, _received())
    return Response(200, "application/json", "{}")


@app.not_found
def _no_route(error: Exception) -> Response[str]:
    return problem(RouteNotFound("unknown callback"))


@observed
@provider_deadline
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
