"""What tru.ID's answers mean in our vocabulary: problem types, HTTP statuses, check error codes and
PhoneCheck resources mapped to `Outcome`s. Pure: no I/O. Facts: docs/providers.md, tru.ID PhoneCheck
(with its sources)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from silentcheck.checks import Outcome, Reason, Status
from silentcheck.providers import base
from silentcheck.providers.base import ProviderRefused, safe_code
from silentcheck.sim_swap import SimSwapAnswer

# tru.ID problem `type` fragments (…/api-errors#<code>) on HTTP errors.
PROBLEM_REASONS: dict[str, Reason] = {
    "phone_format_invalid": Reason.NUMBER_UNSUPPORTED,
    "mno_not_supported": Reason.CARRIER_UNSUPPORTED,
    "mno_redirect_unsupported": Reason.CARRIER_UNSUPPORTED,
    "not_mobile_ip": Reason.NOT_ON_MOBILE_DATA,
    "bad_request": Reason.PROVIDER_REJECTED,
    "forbidden": Reason.PROVIDER_REJECTED,
    "too_many_requests": Reason.PROVIDER_ERROR,
    "check_not_found": Reason.PROVIDER_ERROR,
}
# When the problem carries no known fragment (e.g. 400 "unsupported country" has the bare type).
STATUS_REASONS: dict[int, Reason] = {
    400: Reason.CARRIER_UNSUPPORTED,
    401: Reason.PROVIDER_REJECTED,
    403: Reason.PROVIDER_REJECTED,
    404: Reason.PROVIDER_ERROR,
    412: Reason.NOT_ON_MOBILE_DATA,
    429: Reason.PROVIDER_ERROR,
    501: Reason.CARRIER_UNSUPPORTED,
}
# `error_code` of a check in status ERROR, and `error` at the end of the redirect chain.
CHECK_ERROR_REASONS: dict[str, Reason] = {
    "not_mobile_ip": Reason.NOT_ON_MOBILE_DATA,
    "mno_not_supported": Reason.CARRIER_UNSUPPORTED,
    "mno_redirect_unsupported": Reason.CARRIER_UNSUPPORTED,
    "mno_user_not_found": Reason.NUMBER_UNSUPPORTED,
    "mno_timeout": Reason.PROVIDER_ERROR,
    "mno_response_error": Reason.PROVIDER_ERROR,
    "mno_server_error": Reason.PROVIDER_ERROR,
    "mno_no_data_available": Reason.PROVIDER_ERROR,
    "ip_mismatch": Reason.REDIRECT_FAILED,
}
# The device's IP belongs to another number: a verdict, not a failure.
MISMATCH_CODES = frozenset({"ip_msisdn_mismatch"})

FINAL_STATUSES = frozenset({"COMPLETED", "EXPIRED", "ERROR"})

Version = Literal["v0.1", "v0.2"]


def outcome_for_check_error(code: str, prefix: str = "") -> Outcome:
    raw = f"{prefix}{safe_code(code)}"
    if code in MISMATCH_CODES:
        return Outcome.not_verified(raw)
    return Outcome.failed(CHECK_ERROR_REASONS.get(code, Reason.PROVIDER_ERROR), raw)


def http_failure(response: Any) -> ProviderRefused:
    """A tru.ID problem (RFC 7807) answer: its `type` fragment decides when we know it, else the status."""
    fragment = ""
    if "json" in response.headers.get("Content-Type", ""):
        try:
            fragment = str(response.json().get("type", "")).rpartition("#")[2]
        except (ValueError, AttributeError):
            fragment = ""
    status = int(response.status_code)
    raw = f"{status}:{safe_code(fragment)}" if fragment else str(status)
    if fragment in MISMATCH_CODES:
        return ProviderRefused(Outcome.not_verified(raw))
    return base.http_failure(response, raw, PROBLEM_REASONS.get(fragment) or STATUS_REASONS.get(status))


def result_outcome(body: Any, version: Version, sim_swap: SimSwapAnswer | None = None) -> Outcome | None:
    """A PhoneCheck or SubscriberCheck resource (GET, PATCH) as an outcome, a VERIFIED one with `sim_swap`;
    None while tru.ID has no verdict. ValueError when the JSON is not an object."""
    if not isinstance(body, Mapping):
        raise ValueError("a PhoneCheck resource is a JSON object")
    status = body.get("status")
    if status == "COMPLETED":
        # `match` is optional since 2023; only a JSON true verifies.
        if body.get("match") is True:
            return Outcome(Status.VERIFIED, None, "COMPLETED", sim_swap)
        return Outcome.not_verified("COMPLETED")
    if status == "EXPIRED":
        return Outcome.expired("EXPIRED")
    if status == "ERROR":
        return outcome_for_check_error(str(body.get("error_code") or "unknown"))
    return None
