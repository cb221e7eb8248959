"""GET /checks/{check_id}: the check's status (and, once final, its attestation) for the holder of its
poll token; GET /.well-known/jwks.json: the public keys that verify attestations."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from silentcheck import service, signing_keys, snapstart
from silentcheck.api import (
    JWKS_CACHE_SECONDS,
    bearer,
    json_response,
    observed,
    problem,
    provider_deadline,
    public_base_url,
    rest_resolver,
)
from silentcheck.cors import cors
from silentcheck.errors import CheckNotFound

app = rest_resolver()
snapstart.register()  # SnapStart's runtime hooks, when Lambda offers them (template parameter SnapStart)


@app.not_found
def _no_such_check(error: Exception) -> Response[str]:
    """API Gateway sends only this function's two routes here: a path neither matches is GET /checks/{check_id}
    with an id the route cannot match, so it answers as an unknown check does."""
    return problem(CheckNotFound("no check with this id for this poll token"))


@app.get("/checks/<check_id>")
def poll(check_id: str) -> Response[str]:
    view = service.poll(check_id, poll_token=bearer(app),
                        completion_code=app.current_event.get_query_string_value("code"),
                        issuer=public_base_url(app.current_event.raw_event))
    return json_response(200, view)


@app.get("/.well-known/jwks.json")
def jwks() -> Response[str]:
    return json_response(200, signing_keys.jwks(), cache_seconds=JWKS_CACHE_SECONDS)


@observed
@provider_deadline
@cors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
