"""tru.ID's codes map onto our reasons as docs/providers.md says (the adapter's tables, without HTTP)."""

import pytest
import requests

from silentcheck.checks import Reason, Status
from silentcheck.providers import truid_results as truid


def _response(status: int, fragment: str | None = None, retry_after: str | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers["Content-Type"] = "application/problem+json"
    if retry_after:
        response.headers["Retry-After"] = retry_after
    body = {"type": f"https://developer.tru.id/docs/reference/api-errors#{fragment}"} if fragment else {"title": "x"}
    response._content = __import__("json").dumps(body).encode()
    return response


@pytest.mark.parametrize(("status", "fragment", "reason"), [
    (400, "phone_format_invalid", Reason.NUMBER_UNSUPPORTED),
    (400, "mno_not_supported", Reason.CARRIER_UNSUPPORTED),
    (400, None, Reason.CARRIER_UNSUPPORTED),  # "unsupported country" carries the bare type
    (400, "bad_request", Reason.PROVIDER_REJECTED),
    (401, None, Reason.PROVIDER_REJECTED),
    (403, "forbidden", Reason.PROVIDER_REJECTED),
    (404, "check_not_found", Reason.PROVIDER_ERROR),
    (412, "not_mobile_ip", Reason.NOT_ON_MOBILE_DATA),
    (429, "too_many_requests", Reason.PROVIDER_ERROR),
    (500, None, Reason.PROVIDER_ERROR),
    (501, "mno_redirect_unsupported", Reason.CARRIER_UNSUPPORTED),
    (503, None, Reason.PROVIDER_ERROR),
    (418, None, Reason.PROVIDER_REJECTED),
])
def test_http_errors_map_to_reasons_and_keep_the_raw_code(status, fragment, reason):
    failure = truid.http_failure(_response(status, fragment))

    assert failure.outcome.reason is reason
    assert failure.outcome.raw_code == (f"{status}:{fragment}" if fragment else str(status))


def test_ip_msisdn_mismatch_is_a_verdict_not_a_failure():
    assert truid.http_failure(_response(409, "ip_msisdn_mismatch")).outcome.status is Status.NOT_VERIFIED


def test_rate_limit_keeps_retry_after_and_is_transient():
    failure = truid.http_failure(_response(429, "too_many_requests", retry_after="30"))

    assert (failure.retry_after, failure.transient) == (30, True)


@pytest.mark.parametrize(("code", "reason"), sorted(truid.CHECK_ERROR_REASONS.items()))
def test_every_documented_check_error_code_has_a_reason(code, reason):
    outcome = truid.outcome_for_check_error(code)

    assert (outcome.status, outcome.reason, outcome.raw_code) == (Status.FAILED, reason, code)


@pytest.mark.parametrize("text", ["abc447400900002xyz", "call +447400900002 now", "x" * 65])
def test_free_text_in_an_error_code_becomes_other_in_the_record(text):
    assert truid.outcome_for_check_error(text).raw_code == "other"
    assert truid.http_failure(_response(400, text)).outcome.raw_code == "400:other"


def test_unknown_check_error_code_is_a_provider_error():
    assert truid.outcome_for_check_error("brand_new_code").reason is Reason.PROVIDER_ERROR


@pytest.mark.parametrize(("body", "status"), [
    ({"status": "COMPLETED", "match": True}, Status.VERIFIED),
    ({"status": "COMPLETED", "match": False}, Status.NOT_VERIFIED),
    ({"status": "COMPLETED"}, Status.NOT_VERIFIED),  # match is optional since 2023
    ({"status": "COMPLETED", "match": "true"}, Status.NOT_VERIFIED),  # only a JSON true verifies
    ({"status": "EXPIRED"}, Status.EXPIRED),
    ({"status": "ERROR", "error_code": "mno_timeout"}, Status.FAILED),
])
def test_phone_check_resource_maps_to_an_outcome(body, status):
    outcome = truid.result_outcome(body, "v0.1")

    assert outcome is not None and outcome.status is status


@pytest.mark.parametrize("status", ["ACCEPTED", "PENDING"])
def test_unfinished_phone_check_has_no_outcome_yet(status):
    assert truid.result_outcome({"status": status}, "v0.1") is None
