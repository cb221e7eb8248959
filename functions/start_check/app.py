"""POST /checks: validate the number, record the check, start it with a provider."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from silentcheck import idempotency, limits, routing, service, snapstart
from silentcheck.api import (
    api_key_id,
    json_object_body,
    json_response,
    observed,
    provider_deadline,
    public_base_url,
    rest_resolver,
    source_ip,
)
from silentcheck.api_shapes import StartRequest
from silentcheck.cors import cors

app = rest_resolver()
snapstart.register()  # SnapStart's runtime hooks, when Lambda offers them (template parameter SnapStart)
routing.table()  # a bad ROUTING table fails the cold start with a message that says what to fix
limits.configured()  # and so do bad LIMITS


@app.post("/checks")
def start_check() -> Response[str]:
    key = idempotency.key_from(app.current_event.headers.get(idempotency.HEADER))
    request = StartRequest.model_validate(json_object_body(app))
    event = app.current_event.raw_event
    address = source_ip(event)
    created = idempotency.start_once(
        key, request, client=idempotency.client_of(api_key_id(event), address), lambda_context=app.lambda_context,
        start=lambda: service.start(request, source_ip=address, api_base_url=public_base_url(event),
                                    from_backend=api_key_id(event) is not None),
        charge=lambda: service.charge_start(request, source_ip=address))
    return json_response(201, created)


@observed
@provider_deadline
@cors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
