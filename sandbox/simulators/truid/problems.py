"""tru.ID's problem bodies (RFC 7807, as its HTTPProblemDetailTypes.v1.yaml describes them) in the simulator."""

from __future__ import annotations

from http import HTTPStatus

from sandbox.simulators.wsgi import Headers, Response, json_response

PROBLEM_TYPE_BASE = "https://developer.tru.id/docs/reference/api-errors"

# code -> (title, detail). The first block is tru.ID's own catalogue (HTTPProblemDetailTypes.v1.yaml);
# the rest have no documented type, so they follow the same shape with the HTTP reason as the code.
PROBLEMS: dict[str, tuple[str, str]] = {
    "bad_request": ("Bad Request", "The request body is invalid"),
    "phone_format_invalid": ("Bad Request", "Phone Number Validation Error"),
    "mno_not_supported": ("Bad Request", "Mobile Network Operator Not Supported"),
    "forbidden": ("Forbidden", "Forbidden"),
    "check_not_found": ("Not Found", "Check Not Found"),
    "ip_msisdn_mismatch": ("Conflict", "ip_msisdn_mismatch"),
    "not_mobile_ip": ("Precondition Failed", "Not a mobile IP"),
    "too_many_requests": (
        "Rate Limit exceeded",
        "Rate Limit has exceeded, check response Retry-After HTTP header for when request can be retried.",
    ),
    "mno_redirect_unsupported": ("Not Implemented", "Mobile Network Operator Not Supporting Redirect"),
    "unauthorized": ("Unauthorized", "Unauthorized"),
    "not_found": ("Not Found", "Not Found"),
    "method_not_allowed": ("Method Not Allowed", "Method Not Allowed"),
    "unsupported_media_type": ("Unsupported Media Type", "Unsupported Media Type"),
    "internal_server_error": ("Internal Server Error", "Internal Server Error"),
    "bad_gateway": ("Bad Gateway", "Bad Gateway"),
    "service_unavailable": ("Service Unavailable", "Service Unavailable"),
}
# The problem an HTTP status alone stands for (injected faults).
STATUS_PROBLEMS: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "check_not_found",
    405: "method_not_allowed",
    409: "ip_msisdn_mismatch",
    412: "not_mobile_ip",
    415: "unsupported_media_type",
    429: "too_many_requests",
    500: "internal_server_error",
    501: "mno_redirect_unsupported",
    502: "bad_gateway",
    503: "service_unavailable",
}
DEFAULT_RETRY_AFTER_SECONDS = 30


def problem(status: int, code: str | None = None, detail: str | None = None, headers: Headers = ()) -> Response:
    """An RFC 7807 body shaped like tru.ID's: type, title and detail, and no `status` member."""
    code = code or STATUS_PROBLEMS.get(status) or HTTPStatus(status).phrase.lower().replace(" ", "_")
    title, default_detail = PROBLEMS.get(code, (HTTPStatus(status).phrase, HTTPStatus(status).phrase))
    if status == 429 and not any(k.lower() == "retry-after" for k, _ in headers):
        headers = (*headers, ("Retry-After", str(DEFAULT_RETRY_AFTER_SECONDS)))
    body = {"type": f"{PROBLEM_TYPE_BASE}#{code}", "title": title, "detail": detail or default_detail}
    return json_response(status, body, "application/problem+json", headers)
