"""Attacks from a hostile web page on the API in app mode: CORS.

Attacker: a web page on an origin the deployment did not list (or one crafted to look like a listed origin),
loaded in the victim's browser, that wants to poll the victim's checks with a poll token it lifted, or to start
checks and read the answers.
Assumption: the deployment runs in app mode (`ClientAuth=none`) with `CorsAllowedOrigins` naming its own web
app; browsers enforce CORS on what they let a page read and preflight anything but a simple request.
What must hold: a preflight from any origin not listed exactly is refused, and no answer to such an origin
carries an `Access-Control-Allow-Origin` that would let the page read it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.integration.conftest import App

WEB_APP = "https://app.example.com"
HOSTILE_ORIGINS = ["https://evil.example", "https://app.example.com.evil.example", "http://app.example.com",
                   "https://evilapp.example.com", "null"]


@pytest.fixture
def app_mode(app: App) -> Iterator[App]:
    app.stack.configure_api(client_auth="none", cors_origins=WEB_APP)
    yield app
    app.stack.configure_api()


@pytest.mark.parametrize("origin", HOSTILE_ORIGINS)
def test_a_hostile_page_cannot_preflight_a_poll_with_a_lifted_poll_token(app_mode: App, origin: str):
    check = app_mode.started()

    response = requests.options(f"{app_mode.api}/checks/{check['check_id']}", timeout=10, headers={
        "Origin": origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"})

    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("origin", HOSTILE_ORIGINS)
def test_a_hostile_page_cannot_read_what_the_api_answers(app_mode: App, origin: str):
    check = app_mode.started()

    answers = [
        requests.post(f"{app_mode.api}/checks", json={"phone_number": "+447400900002"}, headers={"Origin": origin},
                      timeout=15),
        requests.get(f"{app_mode.api}/checks/{check['check_id']}", timeout=10,
                     headers={"Origin": origin, "Authorization": f"Bearer {check['poll_token']}"}),
    ]

    assert [answer.headers.get("Access-Control-Allow-Origin") for answer in answers] == [None, None]
