"""The integration tests that wait in real time, gathered here: each waits for a real (scaled) timeout.

Time budgets: no invocation outlives its function; every provider call of one request shares the deadline
the Lambda context gives, less the margin that records the outcome (docs/reliability.md, Time budgets). The
gateway fails any test whose invocation runs past its function's Timeout (conftest: _within_function_timeouts).

Provider timeouts: a provider slower than the per-call timeout (2 s in the tests) ends the check FAILED
PROVIDER_ERROR (`timeout`), or hands it to the next provider. Everything else in the suite moves the clock
instead of waiting (the `advance` fixture) or waits at most 0.2 s."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from silentcheck.store import keys
from tests.integration.conftest import App, completion_code
from tests.integration.test_camara_auth_code import verified_on_own_phone
from tests.integration.test_routing import attempts

SLOW_TRUID = "+447400900095"  # tru.ID answers its create only after 3 s


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
    app.stack.configure_api(allow_unbound_checks=True)  # v0.1: binding none
    app.truid_callback_fault("never", count=5)
    check = app.started()
    requests.post(f"{app.stack.truid.base_url}/_sandbox/revoke-tokens", timeout=5)  # GET, token, GET
    app.truid_fault(path_regex="^/(oauth2|phone_check)/", delay_seconds=_almost_a_timeout(), count=50)

    response = app.poll(check)

    assert response.status_code == 200
    assert response.json()["status"] == "PENDING"  # a read that timed out leaves the check as it was


# -- provider timeouts ---------------------------------------------------------------------------------

def test_a_truid_create_slower_than_the_timeout_ends_the_check_failed_provider_error(app: App):
    app.stack.configure_routing({"default": ["truid"]})

    response = app.start(SLOW_TRUID)

    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body.get("reason"), body["check_url"]) == ("FAILED", "PROVIDER_ERROR", None)
    polled = app.poll(body).json()
    assert (polled["status"], polled.get("reason")) == ("FAILED", "PROVIDER_ERROR")


def test_a_truid_timeout_is_recorded_as_raw_code_timeout_the_app_never_sees(app: App):
    from silentcheck import store  # the functions run in this process, against the stack's table

    app.stack.configure_routing({"default": ["truid"]})
    body = app.start(SLOW_TRUID).json()

    assert store.get(body["check_id"]).raw_code == "timeout"  # type: ignore[union-attr]
    assert "timeout" not in app.poll(body).text


def test_check_is_recorded_pending_before_truid_is_called(app: App):
    app.stack.configure_routing({"default": ["truid"]})
    before = {i["pk"]["S"] for i in app.items(keys.CHECK)}
    with ThreadPoolExecutor(1) as pool:
        starting = pool.submit(app.start, SLOW_TRUID)  # tru.ID answers this create only after 3 s
        while not any(r["path"].endswith("/checks") for r in app.truid_requests()):
            assert not starting.done()
        new = [i for i in app.items(keys.CHECK) if i["pk"]["S"] not in before]
        assert [i["status"]["S"] for i in new] == ["PENDING"]
        assert starting.result().json()["reason"] == "PROVIDER_ERROR"  # our timeout is 2 s


def test_a_timeout_of_the_first_provider_falls_back(app: App):
    app.stack.configure_routing({"default": ["truid", "camara"]})

    check = app.started(SLOW_TRUID)  # tru.ID answers after our timeout

    assert (check["provider"], check["status"]) == ("camara", "PENDING")
    assert attempts(app, check["check_id"]) == ["truid:PROVIDER_ERROR:timeout"]


def test_a_token_endpoint_slower_than_the_timeout_fails_as_provider_error(app: App):
    app.camara_fault("token", delay_seconds=3)

    _, polled = verified_on_own_phone(app)

    assert (polled.json()["status"], polled.json()["reason"]) == ("FAILED", "PROVIDER_ERROR")


def test_a_verify_call_slower_than_the_timeout_fails_as_provider_error(app: App):
    app.camara_fault("verify", delay_seconds=3)

    _, polled = verified_on_own_phone(app)

    assert (polled.json()["status"], polled.json()["reason"]) == ("FAILED", "PROVIDER_ERROR")
