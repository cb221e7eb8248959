"""No invocation outlives its function: every provider call of one request shares the deadline the Lambda
context gives, less the margin that records the outcome (docs/reliability.md, Time budgets). The gateway
fails any test whose invocation runs past its function's Timeout (conftest: _within_function_timeouts)."""

from __future__ import annotations

import os

import pytest
import requests

from tests.integration.conftest import App, completion_code


def _almost_a_timeout() -> float:
    """A delay just inside one provider call's timeout: each call alone is answered in time."""
    return float(os.environ["PROVIDER_TIMEOUT_SECONDS"]) * 0.95


@pytest.fixture
def slow_truid(app: App) -> None:
    """tru.ID answers every request, but only just inside the per-call timeout."""
    app.truid_fault(path_regex="^/(oauth2|phone_check)/", delay_seconds=_almost_a_timeout(), count=50)


def test_a_start_with_a_slow_provider_and_fallback_is_recorded_before_the_function_times_out(app: App, slow_truid):
    app.stack.configure_routing({"default": ["truid", "infobip"]})

    response = app.start()

    assert response.status_code == 201, response.text
    body = response.json()
    item = app.item(body["check_id"])
    assert (body["status"], body["reason"]) == ("FAILED", "PROVIDER_ERROR")
    assert item["status"]["S"] == "FAILED"
    assert item["attempts"]["L"][0]["S"] == "truid:PROVIDER_ERROR:timeout"


def test_a_provider_left_no_time_by_the_one_before_it_is_not_called(app: App, slow_truid):
    app.stack.configure_routing({"default": ["truid", "infobip"]})
    infobip_log = f"{app.stack.infobip.base_url}/_sandbox/requests"
    requests.delete(infobip_log, timeout=5)

    app.start()

    assert requests.get(infobip_log, timeout=5).json() == []


def test_a_return_hop_refreshing_its_token_on_a_slow_provider_fails_in_time(app: App):
    check = app.started()
    requests.post(f"{app.stack.truid.base_url}/_sandbox/revoke-tokens", timeout=5)  # PATCH, token, PATCH
    app.truid_fault(path_regex="^/(oauth2|phone_check)/", delay_seconds=_almost_a_timeout(), count=50)

    opened = app.open_on_own_phone(check)
    view = app.poll(check, code=completion_code(opened)).json()

    assert opened.status == 200
    assert (view["status"], view["reason"]) == ("FAILED", "PROVIDER_ERROR")


def test_a_poll_refreshing_its_token_on_a_slow_provider_answers_in_time(app: App):
    app.stack.configure_truid(api_version="v0.1")
    app.truid_callback_fault("never", count=5)
    check = app.started()
    requests.post(f"{app.stack.truid.base_url}/_sandbox/revoke-tokens", timeout=5)  # GET, token, GET
    app.truid_fault(path_regex="^/(oauth2|phone_check)/", delay_seconds=_almost_a_timeout(), count=50)

    response = app.poll(check)

    assert response.status_code == 200
    assert response.json()["status"] == "PENDING"  # a read that timed out leaves the check as it was
