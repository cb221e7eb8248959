"""What the aggregator's answers mean in our vocabulary: OAuth and CIBA `error`s, Number Verification
results and ErrorInfo mapped to `Outcome`s. Pure: no I/O. Facts:
docs/providers.md, CAMARA Number Verification (with its sources)."""

from __future__ import annotations

import hmac
from typing import Any

from silentcheck.checks import Outcome, Reason
from silentcheck.providers.base import safe_code, status_reason

# `error` on the authorization response (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6, CAMARA ICM appendix A).
AUTHORIZE_ERROR_REASONS: dict[str, Reason] = {
    "access_denied": Reason.USER_NOT_AUTHENTICATED,
    "login_required": Reason.USER_NOT_AUTHENTICATED,
    "interaction_required": Reason.USER_NOT_AUTHENTICATED,
    "consent_required": Reason.USER_NOT_AUTHENTICATED,
    "account_selection_required": Reason.USER_NOT_AUTHENTICATED,
    "invalid_request": Reason.PROVIDER_REJECTED,
    "unauthorized_client": Reason.PROVIDER_REJECTED,
    "unsupported_response_type": Reason.PROVIDER_REJECTED,
    "invalid_scope": Reason.PROVIDER_REJECTED,
    "invalid_request_object": Reason.PROVIDER_REJECTED,
    "request_not_supported": Reason.PROVIDER_REJECTED,
    "request_uri_not_supported": Reason.PROVIDER_REJECTED,
    "server_error": Reason.PROVIDER_ERROR,
    "temporarily_unavailable": Reason.PROVIDER_ERROR,
}
# `error` from the token and backchannel endpoints (RFC 6749 §5.2, CIBA Core §11, §13).
TOKEN_ERROR_REASONS: dict[str, Reason] = {
    "invalid_grant": Reason.REDIRECT_FAILED,  # code or auth_req_id invalid, used, expired, or PKCE failed
    "invalid_client": Reason.PROVIDER_REJECTED,
    "unauthorized_client": Reason.PROVIDER_REJECTED,
    "unsupported_grant_type": Reason.PROVIDER_REJECTED,
    "invalid_scope": Reason.PROVIDER_REJECTED,
    "invalid_request": Reason.PROVIDER_REJECTED,
    "invalid_request_object": Reason.PROVIDER_REJECTED,
    "invalid_dpop_proof": Reason.PROVIDER_REJECTED,
    "unknown_user_id": Reason.USER_NOT_AUTHENTICATED,  # /bc-authorize: operator token not recognised
    "access_denied": Reason.USER_NOT_AUTHENTICATED,
    "server_error": Reason.PROVIDER_ERROR,
    "temporarily_unavailable": Reason.PROVIDER_ERROR,
}
# ErrorInfo `code` of /verify and /device-phone-number, without the `NUMBER_VERIFICATION.` prefix
# (aggregators and spec versions spell it both ways). Anything starting USER_NOT_AUTHENTICATED (the
# aggregators' `..._BY_SUPPORTED_METHOD` too) means "could not verify", never "not this number".
NV_CODE_REASONS: dict[str, Reason] = {
    "USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK": Reason.USER_NOT_AUTHENTICATED,
    "INVALID_TOKEN_CONTEXT": Reason.USER_NOT_AUTHENTICATED,
    "INVALID_TS43_TOKEN": Reason.USER_NOT_AUTHENTICATED,
    "INVALID_ARGUMENT": Reason.PROVIDER_REJECTED,
    "UNAUTHENTICATED": Reason.PROVIDER_REJECTED,
    "AUTHENTICATION_REQUIRED": Reason.PROVIDER_REJECTED,
    "PERMISSION_DENIED": Reason.PROVIDER_REJECTED,
    "SERVICE_NOT_APPLICABLE": Reason.CARRIER_UNSUPPORTED,
    "NOT_IMPLEMENTED": Reason.CARRIER_UNSUPPORTED,
    "QUOTA_EXCEEDED": Reason.PROVIDER_ERROR,
    "TOO_MANY_REQUESTS": Reason.PROVIDER_ERROR,
    "INTERNAL": Reason.PROVIDER_ERROR,
    "BAD_GATEWAY": Reason.PROVIDER_ERROR,
    "UNAVAILABLE": Reason.PROVIDER_ERROR,
    "TIMEOUT": Reason.PROVIDER_ERROR,
}
# Unknown codes fall back by HTTP status.
NV_STATUS_REASONS: dict[int, Reason] = {
    400: Reason.PROVIDER_REJECTED,
    401: Reason.PROVIDER_REJECTED,
    403: Reason.PROVIDER_REJECTED,
    404: Reason.PROVIDER_ERROR,
    422: Reason.PROVIDER_REJECTED,
    429: Reason.PROVIDER_ERROR,
    501: Reason.CARRIER_UNSUPPORTED,
}


def verdict(payload: Any) -> Outcome:
    """Only a JSON true verifies; "true", a missing field or anything extra is not an answer we trust."""
    if not isinstance(payload, dict) or set(payload) != {"devicePhoneNumberVerified"}:
        return Outcome.failed(Reason.PROVIDER_ERROR, "verify:malformed")
    verdict = payload["devicePhoneNumberVerified"]
    if verdict is True:
        return Outcome.verified("verify:true")
    if verdict is False:
        return Outcome.not_verified("verify:false")
    return Outcome.failed(Reason.PROVIDER_ERROR, "verify:malformed")


def nv_failure(status: int, payload: Any) -> Outcome:
    """ErrorInfo {status, code, message}, parsed leniently: the code decides, else the HTTP status."""
    raw = payload.get("code") if isinstance(payload, dict) else None
    code = raw.removeprefix("NUMBER_VERIFICATION.") if isinstance(raw, str) else ""
    if code.startswith("USER_NOT_AUTHENTICATED"):
        reason = Reason.USER_NOT_AUTHENTICATED
    else:
        reason = NV_CODE_REASONS.get(code) or NV_STATUS_REASONS.get(status) or status_reason(status)
    return Outcome.failed(reason, f"verify:{status}:{safe_code(raw)}" if isinstance(raw, str) else f"verify:{status}")


def compare_device_number(payload: Any, e164: str) -> Outcome:
    """device-phone-number mode: compared here, the returned number never stored or logged."""
    shared = payload.get("devicePhoneNumber") if isinstance(payload, dict) else None
    if not isinstance(shared, str) or not shared.startswith("+"):
        return Outcome.failed(Reason.PROVIDER_ERROR, "device-phone-number:malformed")
    if hmac.compare_digest(shared.encode(), e164.encode()):
        return Outcome.verified("device-phone-number:match")
    return Outcome.not_verified("device-phone-number:mismatch")
