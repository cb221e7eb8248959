"""Who may start a check (ClientAuth) and which web pages may call the API (CorsAllowedOrigins), as the
sandbox gateway serves template.yaml: API keys checked by the gateway, CORS answered by the functions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from silentcheck.store import keys
from tests.integration.conftest import App

WEB_APP = "https://app.example.com"


@pytest.fixture
def app_mode(app: App) -> Iterator[App]:
    app.stack.configure_api(client_auth="none", cors_origins=f"{WEB_APP}, https://admin.example.com")
    yield app
    app.stack.configure_api()


def _post_checks(app: App, **headers: str) -> requests.Response:
    return requests.post(f"{app.api}/checks", json={"phone_number": "+447400900002"}, headers=headers, timeout=15)


def _preflight(app: App, path: str, origin: str, method: str = "POST") -> requests.Response:
    return requests.options(f"{app.api}{path}", timeout=10, headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "content-type, authorization"})


# -- backend mode (ClientAuth=api_key, the default) ---------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, {"x-api-key": "not-a-key-we-issued"}], ids=["missing", "unknown"])
def test_a_start_without_a_valid_api_key_is_refused_before_anything_is_recorded(app: App, headers: dict[str, str]):
    checks_before = app.items(keys.CHECK)

    response = _post_checks(app, **headers)

    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "API_KEY_INVALID"
    assert app.items(keys.CHECK) == checks_before
    assert app.items(keys.LIMIT) == []  # no budget spent either
    assert app.truid_checks_created() == []


def test_a_start_with_the_api_key_is_accepted(app: App):
    assert _post_checks(app, **app.backend_headers).status_code == 201


def test_polls_and_the_jwks_need_no_api_key(app: App):
    check = app.started()

    assert app.poll(check).status_code == 200
    assert requests.get(f"{app.api}/.well-known/jwks.json", timeout=10).status_code == 200


# -- app mode (ClientAuth=none) ---------------------------------------------------------------------------

def test_app_mode_starts_a_check_without_an_api_key(app_mode: App):
    assert _post_checks(app_mode).status_code == 201


def test_a_preflight_from_a_listed_origin_allows_only_the_headers_the_api_reads(app_mode: App):
    response = _preflight(app_mode, "/checks", WEB_APP)

    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == WEB_APP
    assert response.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type, Idempotency-Key"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert response.headers["Vary"] == "Origin"


def test_a_preflight_for_the_poll_route_is_answered_too(app_mode: App):
    response = _preflight(app_mode, "/checks/some-check-id", WEB_APP, method="GET")

    assert (response.status_code, response.headers["Access-Control-Allow-Origin"]) == (204, WEB_APP)


def test_a_preflight_from_an_unlisted_origin_is_refused(app_mode: App):
    response = _preflight(app_mode, "/checks", "https://evil.example")

    assert response.status_code == 403
    assert response.json()["code"] == "ORIGIN_NOT_ALLOWED"
    assert "Access-Control-Allow-Origin" not in response.headers


def test_a_listed_origin_may_read_answers_and_retry_after(app_mode: App):
    response = _post_checks(app_mode, Origin=WEB_APP)

    assert response.headers["Access-Control-Allow-Origin"] == WEB_APP
    assert response.headers["Access-Control-Expose-Headers"] == "Retry-After"


def test_an_unlisted_origin_gets_no_cors_headers(app_mode: App):
    response = _post_checks(app_mode, Origin="https://evil.example")

    assert "Access-Control-Allow-Origin" not in response.headers


def test_without_cors_origins_every_preflight_is_refused(app: App):
    response = _preflight(app, "/checks", WEB_APP)

    assert response.status_code == 403
    assert "no browser origins" in response.json()["detail"]
