"""Infobip Silent Mobile Verification: `POST /mi/verification/1/verify`, the device follows
`deviceRedirectUrl` (or, for `OK`, nothing), and Infobip posts the result to our per-check callback URL.

Wire format only: Infobip's JSON in, `Started` / `Outcome` out. Facts and sources:
docs/providers.md, Infobip Silent Mobile Verification (with its sources).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any, ClassVar

from silentcheck import bodies, credentials, provider_http
from silentcheck.checks import Binding, Check, Outcome, Reason
from silentcheck.errors import CallbackTooEarly, ProviderNotConfigured
from silentcheck.providers.base import (
    CALLBACK_MAX_BYTES,
    CALLBACK_MAX_DEPTH,
    CallbackRejected,
    CallbackRequest,
    PollAgain,
    ProviderRefused,
    StartContext,
    Started,
    http_failure,
    safe_code,
    status_reason,
    unavailable,
)
from silentcheck.providers.secret_sections import BaseUrl, SecretSection

# Mobile Identity error ids (reference §A.7), on the verify response and in callbacks.
ERROR_REASONS: dict[int, Reason] = {
    100: Reason.CARRIER_UNSUPPORTED,  # EC_NO_COVERAGE
    101: Reason.PROVIDER_ERROR,  # EC_GATEWAY_OPERATION_FAILED
    102: Reason.PROVIDER_REJECTED,  # EC_OPERATION_RESTRICTED
    200: Reason.PROVIDER_REJECTED,  # EC_INVALID_REQUEST
    201: Reason.PROVIDER_ERROR,  # EC_INVALID_TOKEN
    202: Reason.PROVIDER_REJECTED,  # EC_CONSENT_NOT_GRANTED
    300: Reason.PROVIDER_REJECTED,  # EC_MI_ACCOUNT_DISABLED
    301: Reason.PROVIDER_REJECTED,  # EC_OPERATION_NOT_ALLOWED
    302: Reason.CARRIER_UNSUPPORTED,  # EC_COUNTRY_NOT_ALLOWED
    303: Reason.CARRIER_UNSUPPORTED,  # EC_GATEWAY_NOT_ALLOWED
    304: Reason.PROVIDER_REJECTED,  # EC_REJECTED_NOT_ENOUGH_CREDITS
    305: Reason.DEVICE_TIMEOUT,  # EC_MOBILE_DEVICE_TIMEOUT
    306: Reason.NOT_ON_MOBILE_DATA,  # EC_REJECTED_INVALID_IP_ADDRESS
    307: Reason.PROVIDER_ERROR,  # EC_OTP_SMS_SEND_FAILED (advanced only)
    308: Reason.PROVIDER_REJECTED,  # EC_NI_ATTRIBUTE_NOT_ALLOWED
    309: Reason.PROVIDER_ERROR,  # EC_SIM_SWAP_CHECK_FAILED
    310: Reason.USER_NOT_AUTHENTICATED,  # EC_SIM_SWAP_DETECTED: the line cannot vouch for the user
    400: Reason.PROVIDER_REJECTED,  # EC_UNPROCESSABLE_CONTENT
    1000: Reason.PROVIDER_ERROR,  # EC_USER_INTERNAL_ERROR
}
VERIFY_PATH = "/mi/verification/1/verify"


class _Config(SecretSection):
    SECTION: ClassVar[str] = "infobip"
    PROVIDER: ClassVar[str] = "Infobip"

    base_url: BaseUrl  # your account's base URL
    api_key: str  # sent as Authorization: App <key>

    @classmethod
    def from_secret(cls) -> _Config:
        return cls.parse(credentials.section("infobip"))


def _error_outcome(error: Any, prefix: str, status: int | None = None) -> Outcome:
    """An Infobip `error` object ({id, name, description}) in our vocabulary; the id decides."""
    error_id = error.get("id") if isinstance(error, dict) else None
    name = error.get("name") if isinstance(error, dict) else None
    if isinstance(error_id, int) and not isinstance(error_id, bool):
        reason = ERROR_REASONS.get(error_id, Reason.PROVIDER_ERROR)
        label = f"{error_id}:{name}" if isinstance(name, str) and safe_code(name) == name else str(error_id)
        return Outcome.failed(reason, f"{prefix}{label}")
    if status is not None:
        return Outcome.failed(status_reason(status), f"{prefix}{status}")
    return Outcome.failed(Reason.PROVIDER_ERROR, f"{prefix}unknown_error")


def _refusal(response: Any) -> ProviderRefused:
    """A verify answer other than 200: 401, 403 (platform `requestError`: our key or the account's
    permissions) and 429 by their status, anything else by its Mobile Identity `error` id when it has one."""
    status = int(response.status_code)
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) and status not in (401, 403, 429) else None
    outcome = _error_outcome(error, "verify:", status)
    return http_failure(response, outcome.raw_code or f"verify:{status}", outcome.reason)


class Infobip:
    name: ClassVar[str] = "infobip"

    def start(self, ctx: StartContext) -> Started:
        config = _Config.from_secret()
        if not ctx.callback_url:
            raise ProviderNotConfigured("Infobip needs the provider callback URL: set CALLBACK_URL "
                                        "(the template sets it to ProviderCallbackFunction's function URL)")
        payload: dict[str, Any] = {
            "phoneNumber": ctx.phone_number.lstrip("+"),
            "consentGranted": True,  # the app collected the user's consent before starting the check
            "callbackUrl": ctx.callback_url,
            "returnUrl": ctx.return_url,
        }
        device_ip = ctx.device_ip or ctx.source_ip  # the backend's word, else API Gateway's requestContext
        if device_ip:
            payload["deviceIp"] = device_ip
        try:
            response = provider_http.send(
                "POST", config.base_url + VERIFY_PATH, json=payload,
                headers={"Authorization": f"App {config.api_key}", "Accept": "application/json"})
        except provider_http.ProviderUnavailable as failure:
            raise unavailable(failure.kind, "verify:") from None
        if response.status_code != 200:
            raise _refusal(response)
        try:
            body = response.json()
            token, status = str(body["token"]), body["status"]
        except (ValueError, KeyError, TypeError):
            raise ProviderRefused(Outcome.failed(Reason.PROVIDER_ERROR, "verify:malformed")) from None
        if status == "REDIRECT" and isinstance(body.get("deviceRedirectUrl"), str):
            # The device follows the redirect and comes back through returnUrl: device binding.
            return Started(provider_ref=token, check_url=body["deviceRedirectUrl"], binding=Binding.DEVICE,
                           attributes={"flow": "redirect"})
        if status in ("OK", "ACCEPTED"):
            # No device hop (Brazil): the result arrives by callback alone, tied to no device.
            return Started(provider_ref=token, check_url=None, binding=Binding.NONE, attributes={"flow": "callback"})
        if status == "ERROR":
            raise ProviderRefused(_error_outcome(body.get("error"), "verify:"))
        raise ProviderRefused(Outcome.failed(Reason.PROVIDER_ERROR, "verify:unexpected_status"))

    def on_return(self, check: Check, query: Mapping[str, str]) -> Outcome | None:
        return None  # the device is back; Infobip's verdict comes (or came) by callback

    def refresh(self, check: Check) -> Outcome | PollAgain | None:
        return None  # Infobip has no endpoint to read a result

    def on_callback(self, check: Check, request: CallbackRequest) -> Outcome | None:
        """`{"result", "token", "error"}` posted as JSON, or the older GET with `result` and `token` in
        the query. The token must be the one Infobip gave us for this check."""
        if request.method == "GET":
            fields: dict[str, Any] = dict(request.query)
        else:
            try:
                parsed = bodies.loads(request.body, CALLBACK_MAX_BYTES, CALLBACK_MAX_DEPTH)
            except bodies.BodyRefused:
                raise CallbackRejected("malformed_body") from None
            if not isinstance(parsed, dict):
                raise CallbackRejected("malformed_body")
            fields = parsed
        token = fields.get("token")
        if not isinstance(token, str) or not token:
            raise CallbackRejected("no_token")
        if not check.provider_ref:
            raise CallbackTooEarly()
        if not hmac.compare_digest(token.encode(), check.provider_ref.encode()):
            raise CallbackRejected("other_token")
        result = fields.get("result")
        if result == "VALID":
            return Outcome.verified("callback:VALID")
        if result == "INVALID":
            return Outcome.not_verified("callback:INVALID")
        if result == "ERROR":
            return _error_outcome(fields.get("error"), "callback:")
        raise CallbackRejected("unknown_result")


def adapter() -> Infobip:
    return Infobip()
