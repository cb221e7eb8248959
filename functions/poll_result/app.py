"""GET /checks/{check_id}: the check's status for the holder of its poll token."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from silentcheck import service
from silentcheck.api import bearer, json_response, observed, rest_resolver

app = rest_resolver()


@app.get("/checks/<check_id>")
def poll(check_id: str) -> Response[str]:
    view = service.poll(check_id, poll_token=bearer(app),
                        completion_code=app.current_event.get_query_string_value("code"))
    return json_response(200, view)


@observed
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
