"""App mode, attacked from the web: a page on another site makes a visitor's browser start checks (a form
posts text/plain, form-urlencoded or multipart without a CORS preflight, so CORS alone cannot stop it), and
whatever a request sends in its headers is never written back into an error body."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from silentcheck.store import keys
from tests.integration.conftest import App

WEB_APP = "https://app.example.com"
MARKER = "zq-echo-7e1f"  # a value no answer has any reason to contain
# What an HTML form can send across sites with no preflight: <form enctype="text/plain"> with a field named
# '{"phone_number": "+447400900002", "x": "' and the value '"}' posts valid JSON.
FORM_BODIES = {
    "text/plain": '{"phone_number": "+447400900002", "x": "="}',
    "application/x-www-form-urlencoded": "phone_number=%2B447400900002",
    "multipart/form-data; boundary=b": '--b\r\nContent-Disposition: form-data; name="phone_number"\r\n\r\n'
                                       "+447400900002\r\n--b--\r\n",
}


@pytest.fixture
def app_mode(app: App) -> Iterator[App]:
    app.stack.configure_api(client_auth="none", cors_origins=WEB_APP)
    yield app
    app.stack.configure_api()


@pytest.mark.parametrize("content_type", FORM_BODIES)
def test_a_cross_site_form_cannot_start_a_check_or_spend_a_budget(app_mode: App, content_type: str):
    checks_before = len(app_mode.items(keys.CHECK))

    response = requests.post(f"{app_mode.api}/checks", data=FORM_BODIES[content_type], timeout=15,
                             headers={"Content-Type": content_type, "Origin": "https://attacker.example"})

    assert (response.status_code, response.json()["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE"), response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert len(app_mode.items(keys.CHECK)) == checks_before
    assert app_mode.items(keys.LIMIT) == [] and app_mode.truid_checks_created() == []


def test_a_start_without_a_content_type_is_refused_before_any_budget_is_spent(app_mode: App):
    response = requests.post(f"{app_mode.api}/checks", data=b'{"phone_number": "+447400900002"}', timeout=15)

    assert (response.status_code, response.json()["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE"), response.text
    assert app_mode.items(keys.LIMIT) == []


def test_json_with_a_charset_still_starts_a_check(app_mode: App):
    response = requests.post(f"{app_mode.api}/checks", data=b'{"phone_number": "+447400900002"}', timeout=15,
                             headers={"Content-Type": "application/json; charset=utf-8"})

    assert response.status_code == 201, response.text


def _error_answers(app: App) -> list[requests.Response]:
    """One request per route that answers an error, each carrying the marker in every header it sends."""
    headers = {"Origin": f"https://{MARKER}.example", "User-Agent": MARKER, "X-Forwarded-For": MARKER,
               "Referer": f"https://{MARKER}.example/", "Accept-Language": MARKER}
    return [
        requests.options(f"{app.api}/checks", timeout=15, headers={
            **headers, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": MARKER}),
        requests.post(f"{app.api}/checks", data="{}", timeout=15, headers={**headers, "Content-Type": MARKER}),
        requests.post(f"{app.api}/checks", json={"phone_number": "+447400900002"}, timeout=15,
                      headers={**headers, "Idempotency-Key": f"{MARKER} not a key"}),
        requests.post(f"{app.api}/checks", json={"phone_number": "+447400900002"}, timeout=15,
                      headers={**headers, "Idempotency-Key": MARKER * 30}),
        requests.get(f"{app.api}/checks/{MARKER}", timeout=15,
                     headers={**headers, "Authorization": f"Bearer {MARKER}"}),
        requests.get(f"{app.api}/checks/return", params={"state": "x.y"}, timeout=15,
                     headers={**headers, "Accept": f"application/json, {MARKER}/x"}),
        requests.get(f"{app.api}/{MARKER}", timeout=15, headers=headers),
        requests.post(f"{app.stack.gateway.callback_url}/truid/a.b", data=MARKER, timeout=15,
                      headers={**headers, "Content-Type": MARKER}),
    ]


def test_no_request_header_is_echoed_in_an_error_body(app_mode: App):
    answers = _error_answers(app_mode)

    assert all(answer.status_code >= 400 for answer in answers), [a.status_code for a in answers]
    assert [f"{answer.request.method} {answer.request.path_url}" for answer in answers
            if MARKER in answer.text.replace(str(answer.request.path_url), "")] == []
