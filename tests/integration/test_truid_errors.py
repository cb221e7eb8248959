"""Every tru.ID error path ends in its documented reason (docs/providers.md), through the real handlers."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from silentcheck import clock
from silentcheck.store import keys
from tests.integration.conftest import App, completion_code


@pytest.fixture(autouse=True)
def _truid_alone(app: App):
    """tru.ID's own answers, with no other provider to fall back to."""
    app.stack.configure_routing({"default": ["truid"]})


@pytest.mark.parametrize(("number", "status", "reason"), [
    ("+447400900098", "FAILED", "CARRIER_UNSUPPORTED"),  # 400 #mno_not_supported
    ("+447400900097", "FAILED", "PROVIDER_ERROR"),  # 429 with Retry-After
    ("+447400900096", "FAILED", "PROVIDER_ERROR"),  # 503
    ("+447400900094", "NOT_VERIFIED", None),  # 409 #ip_msisdn_mismatch: the line is another number's
])
def test_refusal_at_create_ends_the_check_with_its_reason(app: App, number: str, status: str, reason: str | None):
    response = app.start(number)

    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body.get("reason"), body["check_url"]) == (status, reason, None)
    polled = app.poll(body).json()
    assert (polled["status"], polled.get("reason")) == (status, reason)


@pytest.mark.parametrize(("number", "reason"), [
    ("+447400900099", "PROVIDER_ERROR"),  # mno_server_error (tru.ID's sandbox "99")
    ("+447400900093", "CARRIER_UNSUPPORTED"),  # mno_redirect_unsupported
    ("+447400900092", "NUMBER_UNSUPPORTED"),  # mno_user_not_found
])
def test_error_at_the_end_of_the_redirect_chain_fails_with_its_reason(app: App, number: str, reason: str):
    check = app.started(number)

    opened = app.phone(number).open(check["check_url"])
    view = app.poll(check, code=completion_code(opened)).json()

    assert (view["status"], view["reason"]) == ("FAILED", reason)


def test_free_text_at_the_end_of_the_redirect_chain_is_neither_stored_nor_logged(app: App, captured_logs):
    check = app.started()
    state = parse_qs(urlsplit(app.return_url(check)).query)["state"][0]
    text = "sim abc447400900002xyz said +447400900002"

    requests.get(f"{app.api}/checks/return", params={"state": state, "error": text},
                 headers={"Accept": "application/json"}, timeout=15)

    assert app.item(check["check_id"])["raw_code"]["S"] == "redirect:other"
    stored, logged = json.dumps(app.items(keys.CHECK), default=str), captured_logs.getvalue()
    assert "447400900002" not in stored and "447400900002" not in logged


def test_phone_on_wifi_is_told_by_the_check_url_at_once(app: App):
    check = app.started("+447400900002")

    opened = app.phone("+447400900002", bearer="wifi").open(check["check_url"])

    assert opened.status == 412  # the app learns it on the phone: switch to mobile data, or another method


def test_a_wifi_failure_after_the_device_hop_is_hidden_from_a_poll_without_a_code_which_asks_truid_nothing(
        app: App):
    app.truid_callback_fault("never", count=5)  # a callback makes its own read of the check
    check = app.started("+447400900002")
    app.phone("+447400900002", bearer="wifi").open(check["check_url"])
    asked_before = len(app.truid_requests())

    view = app.poll(check).json()

    assert view["status"] == "PENDING"  # no device came back with a completion code to show it to
    assert len(app.truid_requests()) == asked_before  # its answer would be hidden: no timing to read either


def test_an_error_polled_before_the_phone_returns_still_gives_the_phone_its_code_and_the_app_its_reason(
        app: App):
    app.truid_callback_fault("never", count=5)  # the poll path alone: a callback would keep the state anyway
    check = app.started("+447400900099")
    back_to_us = app.return_url(check, "+447400900099")  # the chain ran; tru.ID holds the check in ERROR

    polled = app.poll(check).json()
    returned = app.phone("+447400900099").open(back_to_us)
    view = app.poll(check, code=completion_code(returned)).json()

    assert polled["status"] == "PENDING"
    assert (view["status"], view["reason"]) == ("FAILED", "PROVIDER_ERROR")


def test_check_reads_expired_after_expires_at_while_the_item_still_exists(app: App, monkeypatch):
    check = app.started()
    later = clock.now() + 3600
    monkeypatch.setattr(clock, "now", lambda: later)

    view = app.poll(check).json()

    assert (view["status"], view["reason"]) == ("EXPIRED", "DEVICE_TIMEOUT")


def test_phone_returning_after_expiry_cannot_verify(app: App, monkeypatch):
    check = app.started()
    later = clock.now() + 3600
    monkeypatch.setattr(clock, "now", lambda: later)

    opened = app.open_on_own_phone(check)

    assert opened.status == 400
    assert app.poll(check).json()["status"] == "EXPIRED"


def test_code_exchange_failing_with_5xx_is_a_provider_error(app: App):
    check = app.started()
    app.truid_fault(method="PATCH", path_regex="/phone_check/v0.2/checks/", status=500)

    opened = app.open_on_own_phone(check)
    view = app.poll(check, code=completion_code(opened)).json()

    assert (view["status"], view["reason"]) == ("FAILED", "PROVIDER_ERROR")


def test_code_exchange_answered_404_is_a_failed_redirect(app: App):
    check = app.started()
    app.truid_fault(method="PATCH", path_regex="/phone_check/v0.2/checks/", status=404)

    opened = app.open_on_own_phone(check)
    view = app.poll(check, code=completion_code(opened)).json()

    assert (view["status"], view["reason"]) == ("FAILED", "REDIRECT_FAILED")


def test_revoked_token_is_refreshed_once_and_the_check_goes_ahead(app: App):
    app.started()  # caches a token
    requests.post(f"{app.stack.truid.base_url}/_sandbox/revoke-tokens", timeout=5)

    check = app.started()

    assert check["status"] == "PENDING"
    token_calls = [r for r in app.truid_requests() if r["path"] == "/oauth2/v1/token"]
    assert len(token_calls) == 2


def test_token_is_cached_across_checks(app: App):
    app.started()
    app.started()

    assert len([r for r in app.truid_requests() if r["path"] == "/oauth2/v1/token"]) == 1


def test_rejected_credentials_fail_as_provider_rejected_after_one_fresh_try(app: App):
    app.truid_fault(method="POST", path_regex="^/oauth2/v1/token$", status=401, count=2)

    body = app.start().json()

    assert (body["status"], body["reason"]) == ("FAILED", "PROVIDER_REJECTED")
    assert len([r for r in app.truid_requests() if r["path"] == "/oauth2/v1/token"]) == 2


def test_token_request_uses_basic_auth_and_the_phone_check_scope(app: App):
    app.started()

    token_call = next(r for r in app.truid_requests() if r["path"] == "/oauth2/v1/token")

    assert token_call["headers"]["Authorization"].startswith("Basic")
    assert "scope=phone_check" in token_call["body"] and "grant_type=client_credentials" in token_call["body"]


def test_bad_request_at_create_means_our_request_was_wrong(app: App):
    app.truid_fault(method="POST", path_regex="/checks$", status=400)

    body = app.start().json()

    assert (body["status"], body["reason"]) == ("FAILED", "PROVIDER_REJECTED")


@pytest.mark.parametrize(("number", "raw_code"), [
    ("+447400900097", "429:too_many_requests"),
    ("+447400900098", "400:mno_not_supported"),
])
def test_the_record_keeps_truid_raw_code_the_app_never_sees(app: App, number: str, raw_code: str):
    from silentcheck import store  # the functions run in this process, against the stack's table

    body = app.start(number).json()

    assert store.get(body["check_id"]).raw_code == raw_code  # type: ignore[union-attr]
    assert raw_code not in app.poll(body).text
