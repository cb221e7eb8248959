"""POST {function URL}/{provider}/{capability}: results pushed by providers."""

from typing import Any

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response

from silentcheck import service
from silentcheck.api import observed, problem
from silentcheck.errors import RouteNotFound, SilentCheckError

app = LambdaFunctionUrlResolver()


@app.exception_handler(SilentCheckError)
def _domain_error(error: SilentCheckError) -> Response[str]:
    return problem(error)


@app.post("/<provider>/<capability>")
def callback(provider: str, capability: str) -> Response[str]:
    service.provider_callback(provider, capability)
    return Response(200, "application/json", "{}")


@app.not_found
def _no_route(error: Exception) -> Response[str]:
    return problem(RouteNotFound("unknown callback"))


@observed
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
