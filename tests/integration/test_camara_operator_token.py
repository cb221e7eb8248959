"""CAMARA with a TS.43 operator token: CIBA (/bc-authorize, then the token endpoint polled from the app's
polls, paced by the aggregator's interval). No device hop, so it works over Wi-Fi."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests

from tests.integration.conftest import App

NUMBER = "+34600000056"
OTHER_SIM = "+34600000078"


def start(app: App, token: str, number: str = NUMBER, **body: Any) -> dict[str, Any]:
    response = app.start(number, operator_token=token, **body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def poll_until_final(app: App, check: dict[str, Any], advance: Callable[[float], None],
                     polls: int = 20) -> dict[str, Any]:
    """Poll as an app would, moving the clock to each poll's due time instead of waiting for it."""
    for _ in range(polls):
        view: dict[str, Any] = app.poll(check).json()
        if view["status"] != "PENDING":
            return view
        wait_until_poll_is_due(app, check, advance)
    return view


def wait_until_poll_is_due(app: App, check: dict[str, Any], advance: Callable[[float], None]) -> None:
    due = int(app.item(check["check_id"])["next_poll_at"]["N"])
    advance(max(0.0, due - int(app.stack.clock())))


def test_an_operator_token_check_has_no_check_url_and_says_so(app: App):
    check = start(app, app.operator_token(NUMBER))

    assert (check["check_url"], check["binding"], check["provider"]) == (None, "operator_token", "camara")
    assert check["status"] == "PENDING"


def test_an_operator_token_for_the_number_verifies_with_no_device_hop(app: App, advance):
    check = start(app, app.operator_token(NUMBER))

    view = poll_until_final(app, check, advance)

    assert (view["status"], view["binding"]) == ("VERIFIED", "operator_token")


def test_an_operator_token_minted_for_another_sim_is_not_verified(app: App, advance):
    check = start(app, app.operator_token(OTHER_SIM))

    assert poll_until_final(app, check, advance)["status"] == "NOT_VERIFIED"


def test_bc_authorize_gets_the_operator_token_as_login_hint_and_the_scope(app: App):
    token = app.operator_token(NUMBER)
    start(app, token)

    (call,) = app.camara_requests("/bc-authorize")
    form = {k: v[0] for k, v in parse_qs(call["body"]).items()}
    assert form == {"scope": app.stack.secret_value["camara"]["scope"], "login_hint": f"operatortoken:{token}"}
    assert call["headers"]["Authorization"] == "Basic"


def test_the_token_endpoint_is_not_asked_before_the_interval(app: App):
    check = start(app, app.operator_token(NUMBER))

    assert app.poll(check).json()["status"] == "PENDING"
    assert app.camara_requests("/token") == []


def test_the_token_endpoint_is_polled_with_the_ciba_grant_and_auth_req_id(app: App, advance):
    check = start(app, app.operator_token(NUMBER))
    poll_until_final(app, check, advance)

    (call,) = app.camara_requests("/token")
    form = {k: v[0] for k, v in parse_qs(call["body"]).items()}
    assert form["grant_type"] == "urn:openid:params:grant-type:ciba" and form["auth_req_id"]


def test_authorization_pending_keeps_the_check_pending_until_the_token_comes(app: App, advance):
    app.camara_fault("ciba", pending_polls=2)
    check = start(app, app.operator_token(NUMBER))

    view = poll_until_final(app, check, advance)

    assert view["status"] == "VERIFIED" and len(app.camara_requests("/token")) == 3


def test_slow_down_adds_five_seconds_to_the_interval(app: App, advance):
    app.camara_fault("ciba", error="slow_down")
    check = start(app, app.operator_token(NUMBER))
    interval = int(app.item(check["check_id"])["poll_interval"]["N"])
    wait_until_poll_is_due(app, check, advance)

    app.poll(check)

    item = app.item(check["check_id"])
    assert int(item["poll_interval"]["N"]) == interval + 5
    assert app.poll(check).json()["status"] == "PENDING" and len(app.camara_requests("/token")) == 1


@pytest.mark.parametrize(("error", "status", "reason"), [
    ("expired_token", "EXPIRED", "DEVICE_TIMEOUT"),
    ("access_denied", "FAILED", "USER_NOT_AUTHENTICATED"),
    ("invalid_grant", "FAILED", "PROVIDER_ERROR"),
])
def test_terminal_ciba_errors_end_the_check(app: App, error, status, reason, advance):
    app.camara_fault("ciba", error=error)
    check = start(app, app.operator_token(NUMBER))

    view = poll_until_final(app, check, advance)

    assert (view["status"], view["reason"]) == (status, reason)
    assert app.camara_requests("/verify") == []


def test_an_unknown_operator_token_fails_at_start(app: App):
    check = start(app, "not-a-token-the-operator-minted")

    assert (check["status"], check["reason"], check["check_url"]) == ("FAILED", "USER_NOT_AUTHENTICATED", None)


def test_a_used_operator_token_fails_at_start(app: App):
    token = app.operator_token(NUMBER)
    start(app, token)

    again = start(app, token)

    assert (again["status"], again["reason"]) == ("FAILED", "USER_NOT_AUTHENTICATED")


def test_bc_authorize_unavailable_fails_at_start_as_provider_error(app: App):
    app.camara_fault("bc-authorize", status=503)

    check = start(app, app.operator_token(NUMBER))

    assert (check["status"], check["reason"]) == ("FAILED", "PROVIDER_ERROR")


def test_concurrent_polls_ask_the_token_endpoint_once(app: App, advance):
    check = start(app, app.operator_token(NUMBER))
    wait_until_poll_is_due(app, check, advance)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: app.poll(check), range(4)))

    assert len(app.camara_requests("/token")) == 1


def test_the_operator_token_and_number_are_stored_and_logged_nowhere(app: App, captured_logs, advance):
    token = app.operator_token(NUMBER)
    check = start(app, token)
    pending = json.dumps(app.item(check["check_id"]), default=str)
    poll_until_final(app, check, advance)
    final = json.dumps(app.item(check["check_id"]), default=str)

    for text in (pending, final, captured_logs.getvalue()):
        assert token not in text and NUMBER not in text


@pytest.mark.parametrize("token", ["short", "has a space in it somewhere", 12345678901234567890, ""])
def test_a_malformed_operator_token_is_a_400_that_says_what_is_expected(app: App, token):
    response = app.start(NUMBER, operator_token=token)

    assert response.status_code == 400 and "operator_token" in response.json()["detail"]


def test_an_operator_token_for_a_provider_without_that_flow_is_a_400(app: App):
    response = app.start(NUMBER, provider="truid", operator_token=app.operator_token(NUMBER))

    assert response.status_code == 400 and "operator_token" in response.json()["detail"]
    assert requests.get(f"{app.stack.truid.base_url}/_sandbox/requests", timeout=5).json() == []
