"""Input that no client of ours sends, found by fuzzing: a body that is not UTF-8 (API Gateway and function
URLs hand it over base64-encoded) and ids of any length. Each is a 4xx problem, never a 5xx, and reaches no
table: past 2,048 bytes DynamoDB refuses a key outright."""

from __future__ import annotations

import json

import pytest
import requests

from silentcheck import tokens
from silentcheck.store import keys
from tests.integration.conftest import App

NOT_UTF8 = b'{"phone_number": "+44740090000\xff"}'
OVERLONG = "A" * 3000  # more bytes than DynamoDB takes in a partition key
MALFORMED_IDS = [OVERLONG, "x", "no-such-check", tokens.new_token() + "=", "é" * 43, "©" * 43]


def _callback_url(app: App) -> str:
    app.started()
    create = next(r for r in app.truid_requests() if r["method"] == "POST" and r["path"].endswith("/checks"))
    url: str = json.loads(create["body"])["callback_url"]
    return url


def test_start_with_a_body_that_is_not_utf8_is_a_400_problem(app: App):
    before = len(app.items(keys.CHECK))

    response = requests.post(f"{app.api}/checks", data=NOT_UTF8,
                             headers={**app.backend_headers, "Content-Type": "application/json"}, timeout=10)

    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "INVALID_REQUEST" and "UTF-8" in response.json()["detail"]
    assert len(app.items(keys.CHECK)) == before


def test_callback_with_a_body_that_is_not_utf8_is_not_accepted(app: App):
    response = requests.post(_callback_url(app), data=NOT_UTF8, headers={"Content-Type": "application/json"},
                             timeout=10)

    assert response.status_code == 403, response.text
    assert response.json()["code"] == "CALLBACK_NOT_ACCEPTED"


def test_callback_to_an_unknown_capability_with_a_body_that_is_not_utf8_is_a_404(app: App):
    response = requests.post(f"{app.stack.gateway.callback_url}/truid/{tokens.new_token()}.{tokens.new_token()}",
                             data=NOT_UTF8, timeout=10)

    assert (response.status_code, response.json()["code"]) == (404, "CHECK_NOT_FOUND")


@pytest.mark.parametrize("check_id", MALFORMED_IDS,
                         ids=["overlong", "short", "words", "padded", "non-ascii", "symbols"])
def test_poll_with_a_malformed_check_id_answers_like_an_unknown_check(app: App, check_id: str):
    check = app.started()

    response = app.poll({"check_id": check_id, "poll_token": check["poll_token"]})

    assert response.status_code == 404, response.text
    assert response.json()["code"] == "CHECK_NOT_FOUND"


@pytest.mark.parametrize("state", [f"{OVERLONG}.{tokens.new_token()}", f"{tokens.new_token()}.{OVERLONG}",
                                   OVERLONG, f"{tokens.new_token()}.", "a.b.c"],
                         ids=["overlong-id", "overlong-secret", "no-dot", "empty-secret", "short-parts"])
def test_return_with_a_malformed_state_is_an_invalid_return(app: App, state: str):
    response = requests.get(f"{app.api}/checks/return", params={"state": state},
                            headers={"Accept": "application/json"}, timeout=10)

    assert response.status_code == 400, response.text
    assert response.json()["code"] == "INVALID_RETURN"


@pytest.mark.parametrize("capability", [f"{OVERLONG}.{tokens.new_token()}", f"{tokens.new_token()}.{OVERLONG}",
                                        OVERLONG], ids=["overlong-id", "overlong-secret", "no-dot"])
def test_callback_with_a_malformed_capability_is_a_404(app: App, capability: str):
    response = requests.post(f"{app.stack.gateway.callback_url}/truid/{capability}", json={}, timeout=10)

    assert (response.status_code, response.json()["code"]) == (404, "CHECK_NOT_FOUND")
