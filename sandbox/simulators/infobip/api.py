"""Infobip's wire shapes for the simulated SMV API: the error catalogue, ERROR and platform bodies, pages,
and the validation of a basic verify request."""

from __future__ import annotations

import hmac
import re
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from sandbox.simulators.wsgi import (
    Headers,
    Request,
    Response,
    authorization,
    ip_literal,
    is_loopback_url,
    json_response,
)

VERIFY_PATH = "/mi/verification/1/verify"
COMPLETE_PATH = "/mi/verification/1/complete"
CONTINUE_PATH = "/mi/verification/1/complete/continue"
VERIFY_FIELDS = frozenset({"phoneNumber", "consentGranted", "callbackUrl", "returnUrl", "deviceIp", "devicePort"})
SMS_FAILOVER = "smsFailover"  # an /advanced field; basic verify refuses it
RETRY_AFTER_SECONDS = 30

# The Mobile Identity error codes the simulator answers (reference A.7): id -> (name, description).
ERRORS: dict[int, tuple[str, str]] = {
    100: ("EC_NO_COVERAGE", "No coverage for the given phone number."),
    101: ("EC_GATEWAY_OPERATION_FAILED", "The provider's operation failed."),
    200: ("EC_INVALID_REQUEST", "The request is invalid."),
    202: ("EC_CONSENT_NOT_GRANTED", "Consent was not granted."),
    305: ("EC_MOBILE_DEVICE_TIMEOUT", "The mobile device did not complete the verification in time."),
    306: ("EC_REJECTED_INVALID_IP_ADDRESS", "The IP address is not in the mobile operator's data range."),
    400: ("EC_UNPROCESSABLE_CONTENT", "Unable to process the data."),
    1000: ("EC_USER_INTERNAL_ERROR", "Internal error."),
}
# The HTTP status of a synchronous ERROR answer (reference A.3); every other id answers 400.
_ERROR_STATUS = {400: 422, 1000: 500}
# The platform's `requestError` shape: status -> (messageId, text).
_PLATFORM_ERRORS: dict[int, tuple[str, str]] = {
    401: ("UNAUTHORIZED", "Invalid login details"),
    404: ("NOT_FOUND", "Requested URL not found"),
    405: ("METHOD_NOT_ALLOWED", "Request method not supported"),
    415: ("UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json"),
    429: ("TOO_MANY_REQUESTS", "Too many requests"),
    500: ("GENERAL_ERROR", "Something went wrong. Please contact support."),
}
# International format without "+": 7 to 15 digits, no leading zero.
_PHONE_NUMBER = re.compile(r"[1-9][0-9]{6,14}")
_PAGE_HEADERS: Headers = (
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    ("Referrer-Policy", "no-referrer"),
)


def error_object(error_id: int) -> dict[str, Any]:
    name, description = ERRORS[error_id]
    return {"id": error_id, "name": name, "description": description}


def error_response(error_id: int, description: str | None = None) -> Response:
    """A synchronous `status: ERROR` answer; it carries a fresh token like every verify answer."""
    error = error_object(error_id)
    if description is not None:
        error["description"] = description
    body = {"token": str(uuid.uuid4()), "status": "ERROR", "error": error}
    return json_response(_ERROR_STATUS.get(error_id, 400), body)


def platform_error(status: int, text: str | None = None, headers: Headers = ()) -> Response:
    """The shape every Infobip API uses for authentication, routing and throttling failures."""
    message_id, default_text = _PLATFORM_ERRORS.get(status, (HTTPStatus(status).name, HTTPStatus(status).phrase))
    if status == 429 and not any(name.lower() == "retry-after" for name, _ in headers):
        headers = (*headers, ("Retry-After", str(RETRY_AFTER_SECONDS)))
    body = {"requestError": {"serviceException": {"messageId": message_id, "text": text or default_text}}}
    return json_response(status, body, headers=headers)


def page(status: int, message: str) -> Response:
    """A small HTML page for the device; `message` is ours, never request input."""
    html = f"<!doctype html><meta charset=utf-8><title>Verification</title><p>{message}</p>\n"
    return Response(status, _PAGE_HEADERS, html.encode())


def not_found_page() -> Response:
    return page(404, "This verification link is not valid or has already been used.")


@dataclass(frozen=True)
class VerifyRequest:
    """A basic verify body that passed validation."""

    phone_number: str  # international digits, no "+"
    callback_url: str
    return_url: str | None = None
    device_ip: str | None = None
    device_port: int | None = None

    @property
    def trigger(self) -> str:
        return self.phone_number[-2:]

    @property
    def msisdn(self) -> str:
        return f"+{self.phone_number}"


def parse_verify(request: Request) -> VerifyRequest | Response:
    """The verify body validated like `SmvVerifyRequestDto`, or the ERROR answer that refuses it."""
    try:
        body = request.json_object()
    except ValueError as invalid:
        return error_response(400, str(invalid))
    unknown = sorted(set(body) - VERIFY_FIELDS - {SMS_FAILOVER})
    phone_number, callback_url, return_url = body.get("phoneNumber"), body.get("callbackUrl"), body.get("returnUrl")
    device_ip, device_port = body.get("deviceIp"), body.get("devicePort")
    rules = (  # field rules come before consent, in this order
        (SMS_FAILOVER in body, "smsFailover is not a field of the basic verify request."),
        (bool(unknown), f"Unknown field(s): {', '.join(unknown)}."),
        (not isinstance(phone_number, str) or not _PHONE_NUMBER.fullmatch(phone_number),
         "phoneNumber must be in international format, digits only, without '+'."),
        (not isinstance(callback_url, str) or not is_loopback_url(callback_url),
         "callbackUrl must be an http(s) URL the sandbox can reach (loopback)."),
        (return_url is not None and (not isinstance(return_url, str) or not is_loopback_url(return_url)),
         "returnUrl must be an http(s) URL the sandbox can reach (loopback)."),
        (device_ip is not None and ip_literal(device_ip) is None, "deviceIp must be an IPv4 or IPv6 address."),
        (device_port is not None and (isinstance(device_port, bool) or not isinstance(device_port, int)
                                      or not 1 <= device_port <= 65535),
         "devicePort must be an integer from 1 to 65535."),
        (device_port is not None and device_ip is None, "devicePort is only valid together with deviceIp."),
    )
    refusal = next((message for refused, message in rules if refused), None)
    if refusal is not None:
        return error_response(200, refusal)
    if body.get("consentGranted") is not True:
        return error_response(202)
    return VerifyRequest(body["phoneNumber"], body["callbackUrl"], return_url, device_ip, device_port)


def sms_failover_of(request: Request) -> tuple[bool, Any]:
    """Whether the request's JSON body carries `smsFailover`, and its value."""
    if SMS_FAILOVER.encode() not in request.body:
        return False, None
    try:
        body = request.json_object()
    except ValueError:
        return False, None
    return SMS_FAILOVER in body, body.get(SMS_FAILOVER)


def authorized(request: Request, api_keys: frozenset[str]) -> bool:
    """`Authorization: App <key>` with a key the account has; every key is compared in constant time, so the time
    taken does not say which one came close."""
    key = authorization(request, "app")
    return key is not None and any([hmac.compare_digest(key.encode(), known.encode()) for known in api_keys])
