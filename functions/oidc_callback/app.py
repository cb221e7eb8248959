"""GET /checks/return: the end of every device redirect chain; answers with the completion code."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from silentcheck import pages, service, snapstart
from silentcheck.api import json_response, observed, problem, provider_deadline, rest_resolver
from silentcheck.cors import cors
from silentcheck.errors import InvalidReturn

app = rest_resolver()
snapstart.register()  # SnapStart's runtime hooks, when Lambda offers them (template parameter SnapStart)


@app.get("/checks/return")
def device_return() -> Response[str]:
    wants_json = "application/json" in (app.current_event.headers.get("Accept") or
                                        app.current_event.headers.get("accept") or "")
    try:
        returned = service.device_return(app.current_event.query_string_parameters or {})
    except InvalidReturn as error:
        return problem(error) if wants_json else pages.invalid_return(error)
    return json_response(200, returned) if wants_json else pages.completed(returned)


@observed
@provider_deadline
@cors
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
