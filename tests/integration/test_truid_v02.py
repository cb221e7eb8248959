"""tru.ID PhoneCheck v0.2 end to end: POST /checks, the phone's redirect chain, the return hop, the poll."""

import pytest
import requests

from tests.integration.conftest import App, completion_code


def test_start_answers_201_with_everything_the_app_needs(app: App):
    response = app.start("+447400900002")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"check_id", "check_url", "poll_token", "provider", "status", "binding", "expires_at"}
    assert (body["status"], body["provider"], body["binding"]) == ("PENDING", "truid", "device")
    assert len(body["check_id"]) >= 22 and len(body["poll_token"]) >= 22


def test_poll_before_the_phone_opens_the_check_url_is_pending(app: App):
    check = app.started()

    assert app.poll(check).json()["status"] == "PENDING"


def test_return_replayed_with_the_same_state_changes_nothing(app: App):
    check = app.started("+447400900004")
    opened = app.phone("+447400900006").open(check["check_url"])
    return_url = opened.hops[-1].url

    replay = requests.get(return_url, headers={"Accept": "application/json"}, timeout=10)

    assert replay.status_code == 400
    assert replay.json()["code"] == "INVALID_RETURN"
    assert app.poll(check, code=completion_code(opened)).json()["status"] == "NOT_VERIFIED"


def test_return_with_an_unknown_state_is_refused_without_reflecting_input(app: App):
    response = requests.get(f"{app.api}/checks/return", params={"state": "forged.state", "code": "<script>"},
                            headers={"Accept": "application/json"}, timeout=10)

    assert response.status_code == 400
    assert "<script>" not in response.text and "forged" not in response.text


def test_return_in_a_browser_gets_a_small_page_without_referrer(app: App):
    check = app.started()
    phone = app.phone()
    opened = phone.open(check["check_url"])
    assert opened.json is not None

    page = requests.get(f"{app.api}/checks/return", params={"state": "x.y"}, timeout=10)

    assert page.headers["Content-Type"].startswith("text/html")
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.status_code == 400


@pytest.mark.parametrize("accept", ["text/html", "application/json"])
def test_req19_redirect_parameters_added_to_the_return_never_redirect_anywhere(app: App, accept: str):
    check = app.started()
    injected = {name: "https://evil.example/steal" for name in ("redirect", "next", "returnUrl", "redirect_uri")}

    response = requests.get(app.return_url(check), params=injected, headers={"Accept": accept},
                            allow_redirects=False, timeout=10)

    assert response.status_code == 200 and "Location" not in response.headers
    assert "evil.example" not in response.text


def test_verified_check_stays_verified_when_the_return_is_replayed(app: App):
    check = app.started()
    opened = app.open_on_own_phone(check)
    requests.get(opened.hops[-1].url, headers={"Accept": "application/json"}, timeout=10)

    assert app.poll(check, code=completion_code(opened)).json()["status"] == "VERIFIED"


def test_code_exchange_uses_json_patch(app: App):
    check = app.started()
    app.open_on_own_phone(check)

    patches = [r for r in app.truid_requests() if r["method"] == "PATCH"]

    assert len(patches) == 1
    assert patches[0]["headers"]["Content-Type"] == "application/json-patch+json"


def test_concurrent_returns_with_one_state_exchange_the_code_once(app: App):
    from concurrent.futures import ThreadPoolExecutor

    url = app.return_url(app.started())

    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(lambda _: requests.get(url, headers={"Accept": "application/json"},
                                                          timeout=10).status_code, range(4)))

    assert statuses == [200, 400, 400, 400]
    assert len([r for r in app.truid_requests() if r["method"] == "PATCH"]) == 1
