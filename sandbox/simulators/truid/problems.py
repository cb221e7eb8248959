"""tru.ID's problem bodies (RFC 7807, as its HTTPProblemDetailTypes.v1.yaml describes them) in the simulator."""

from __future__ import annotations

from http import HTTPStatus

from sandbox.simulators.wsgi import Headers, Response, json_response

PROBLEM_TYPE_BASE = "https://developer.tru.id/docs/reference/api-errors"

# code -> (title, detail): tru.ID's own catalogue (HTTPProblemDetailTypes.v1.yaml). Any other code is the HTTP
# reason, in the same shape.
PROBLEMS: dict[str, tuple[str, str]] = {
    "bad_request": ("Bad Request", "The request body is invalid"),
    "phone_format_invalid": ("Bad Request", "Phone Number Validation Error"),
    "mno_not_supported": ("Bad Request", "Mobile Network Operator Not Supported"),
    "check_not_found": ("Not Found", "Check Not Found"),
    "ip_msisdn_mismatch": ("Conflict", "ip_msisdn_mismatch"),
    "not_mobile_ip": ("Precondition Failed", "Not a mobile IP"),
    "too_many_requests": (
        "Rate Limit exceeded",
        "Rate Limit has exceeded, check response Retry-After HTTP header for when request can be retried.",
    ),
    "mno_redirect_unsupported": ("Not Implemented", "Mobile Network Operator Not Supporting Redirect"),
}
# The problem an HTTP status alone stands for (injected faults), where it is not the HTTP reason.
STATUS_PROBLEMS = {404: "check_not_found", 409: "ip_msisdn_mismatch", 412: "not_mobile_ip", 429: "too_many_requests",
                   501: "mno_redirect_unsupported"}
DEFAULT_RETRY_AFTER_SECONDS = 30


def problem(status: int, code: str | None = None, detail: str | None = None, headers: Headers = ()) -> Response:
    """An RFC 7807 body shaped like tru.ID's: type, title and detail, and no `status` member."""
    phrase = HTTPStatus(status).phrase
    code = code or STATUS_PROBLEMS.get(status) or phrase.lower().replace(" ", "_")
    title, default_detail = PROBLEMS.get(code, (phrase, phrase))
    if status == 429 and not any(k.lower() == "retry-after" for k, _ in headers):
        headers = (*headers, ("Retry-After", str(DEFAULT_RETRY_AFTER_SECONDS)))
    body = {"type": f"{PROBLEM_TYPE_BASE}#{code}", "title": title, "detail": detail or default_detail}
    return json_response(status, body, "application/problem+json", headers)
