"""Infobip's results and error ids map onto our statuses and reasons as docs/providers.md says."""

import json

import pytest

from silentcheck.checks import Binding, Check, Outcome, Reason, Status
from silentcheck.errors import CallbackTooEarly
from silentcheck.providers import infobip
from silentcheck.providers.base import CallbackRejected, CallbackRequest

TOKEN = "123e4567-e89b-12d3-a456-426614174000"


def _check(provider_ref: str | None = TOKEN) -> Check:
    return Check(check_id="c", provider="infobip", status=Status.PENDING, created_at=0, expires_at=300,
                 poll_token_hash="h", number_key="k", binding=Binding.DEVICE, provider_ref=provider_ref)


def _verdict(request: CallbackRequest) -> Outcome:
    outcome = infobip.Infobip().on_callback(_check(), request)
    assert outcome is not None
    return outcome


def _posted(**body) -> CallbackRequest:
    return CallbackRequest("POST", "/infobip/c.x", {}, {"content-type": "application/json"}, json.dumps(body).encode())


@pytest.mark.parametrize(("result", "status"), [("VALID", Status.VERIFIED), ("INVALID", Status.NOT_VERIFIED)])
def test_a_result_for_our_token_is_the_verdict(result, status):
    assert _verdict(_posted(result=result, token=TOKEN)).status is status


@pytest.mark.parametrize(("error_id", "reason"), [
    (306, Reason.NOT_ON_MOBILE_DATA), (305, Reason.DEVICE_TIMEOUT), (100, Reason.CARRIER_UNSUPPORTED),
    (302, Reason.CARRIER_UNSUPPORTED), (101, Reason.PROVIDER_ERROR), (1000, Reason.PROVIDER_ERROR),
    (202, Reason.PROVIDER_REJECTED), (304, Reason.PROVIDER_REJECTED), (999, Reason.PROVIDER_ERROR),
])
def test_an_error_result_maps_its_id(error_id, reason):
    error = {"id": error_id, "name": "EC_X", "description": "d"}

    outcome = _verdict(_posted(result="ERROR", token=TOKEN, error=error))

    assert (outcome.status, outcome.reason, outcome.raw_code) == (Status.FAILED, reason, f"callback:{error_id}:EC_X")


def test_the_older_get_form_carries_result_and_token_in_the_query():
    request = CallbackRequest("GET", "/infobip/c.x?result=VALID&token=t", {"result": "VALID", "token": TOKEN}, {}, b"")

    assert _verdict(request).status is Status.VERIFIED


@pytest.mark.parametrize("request_", [
    _posted(result="VALID", token="another-token"),
    _posted(result="VALID"),
    _posted(result="MAYBE", token=TOKEN),
    CallbackRequest("POST", "/infobip/c.x", {}, {}, b"not json"),
])
def test_a_callback_that_is_not_for_this_check_or_not_a_result_is_rejected(request_):
    with pytest.raises(CallbackRejected):
        infobip.Infobip().on_callback(_check(), request_)


def test_a_callback_before_the_token_is_recorded_is_too_early():
    with pytest.raises(CallbackTooEarly):
        infobip.Infobip().on_callback(_check(provider_ref=None), _posted(result="VALID", token=TOKEN))


def test_every_documented_error_id_has_a_reason():
    documented = {100, 101, 102, 200, 201, 202, 300, 301, 302, 303, 304, 305, 306, 307, 308, 309, 310, 400, 1000}

    assert set(infobip.ERROR_REASONS) == documented
