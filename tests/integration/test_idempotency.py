"""Idempotency-Key on POST /checks through the real handler, DynamoDB Local and the simulated tru.ID: a retried
start replays the first answer and starts nothing; another body or a concurrent retry is refused."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest
import requests

from silentcheck import clock, service
from silentcheck.store import keys
from tests.integration.conftest import App
from tests.integration.test_openapi_conformance import START, assert_documented

NUMBER = "+447400900002"


def _key() -> str:
    return str(uuid.uuid4())


def _creates(app: App) -> int:
    return sum(1 for r in app.truid_requests() if r["method"] == "POST" and r["path"].endswith("/checks"))


def test_a_retry_with_the_same_key_and_body_gets_the_first_answer(app: App):
    key = _key()
    first = app.start(NUMBER, idempotency_key=key)

    retry = app.start(NUMBER, idempotency_key=key)

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()  # the same check_id, poll_token and check_url


def test_a_retry_starts_nothing_new(app: App):
    key = _key()
    before = len(app.items(keys.CHECK))
    app.start(NUMBER, idempotency_key=key)

    app.start(NUMBER, idempotency_key=key)

    assert _creates(app) == 1
    assert len(app.items(keys.CHECK)) == before + 1


def test_a_retry_spends_no_budget(app: App, monkeypatch: pytest.MonkeyPatch):
    now = clock.now()
    monkeypatch.setattr(clock, "now", lambda: now)  # all three in one budget window
    app.stack.configure_limits({"number": {"count": 2, "window_seconds": 600}, "ip": None, "global": None})
    app.started(NUMBER)
    key = _key()
    first = app.start(NUMBER, idempotency_key=key)

    retry = app.start(NUMBER, idempotency_key=key)
    other = app.start(NUMBER, idempotency_key=_key())

    assert (first.status_code, retry.status_code, other.status_code) == (201, 201, 429)


def test_the_replayed_poll_token_reads_the_check(app: App):
    key = _key()
    app.start(NUMBER, idempotency_key=key)
    replayed = app.start(NUMBER, idempotency_key=key).json()

    response = app.poll(replayed)

    assert (response.status_code, response.json()["check_id"]) == (200, replayed["check_id"])


def test_the_same_key_with_another_body_is_a_422_problem_that_starts_nothing(app: App, doc: dict[str, Any]):
    key = _key()
    app.start(NUMBER, idempotency_key=key)

    response = app.start("+447400900004", idempotency_key=key)

    assert (response.status_code, response.json()["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    assert_documented(doc, START, response)
    assert _creates(app) == 1


@pytest.mark.parametrize("key", ["short", "x" * 256, "with spaces in it, sixteen+"])
def test_a_malformed_key_is_a_400_problem_that_writes_nothing(app: App, key: str, doc: dict[str, Any]):
    before = len(app.items(keys.CHECK))

    response = app.start(NUMBER, idempotency_key=key)

    assert (response.status_code, response.json()["code"]) == (400, "INVALID_REQUEST")
    assert "Idempotency-Key" in response.json()["detail"]
    assert_documented(doc, START, response)
    assert len(app.items(keys.CHECK)) == before and app.truid_checks_created() == []


def test_a_retry_while_the_first_is_still_answered_is_a_409_then_gets_the_first_answer(
        app: App, doc: dict[str, Any], monkeypatch: pytest.MonkeyPatch):
    entered, release = threading.Event(), threading.Event()
    start = service.start

    def start_held_open(*args: Any, **kwargs: Any) -> Any:  # the first request, caught mid-way
        entered.set()
        release.wait(timeout=10)
        return start(*args, **kwargs)

    monkeypatch.setattr(service, "start", start_held_open)
    key = _key()
    answers: dict[str, requests.Response] = {}
    first = threading.Thread(target=lambda: answers.setdefault("first", app.start(NUMBER, idempotency_key=key)))
    first.start()
    try:
        assert entered.wait(timeout=10)
        during = app.start(NUMBER, idempotency_key=key)
    finally:
        release.set()
        first.join(timeout=20)
    after = app.start(NUMBER, idempotency_key=key)

    assert (during.status_code, during.json()["code"]) == (409, "IDEMPOTENCY_KEY_IN_USE"), during.text
    assert_documented(doc, START, during)
    assert int(during.headers["Retry-After"]) >= 1
    assert (after.status_code, after.json()) == (201, answers["first"].json())
    assert _creates(app) == 1


def test_without_a_key_each_request_starts_a_check(app: App):
    first, second = app.started(), app.started()

    assert first["check_id"] != second["check_id"]


def test_the_stored_answer_holds_no_poll_token_check_url_or_number(app: App):
    created = app.start(NUMBER, idempotency_key=_key()).json()

    stored = json.dumps(app.idempotency_records())

    assert created["check_id"] in stored
    for secret in (created["poll_token"], created["check_url"], NUMBER, NUMBER.lstrip("+")):
        assert secret not in stored




def test_a_key_is_scoped_to_the_api_key_that_sent_it(app: App):
    """The same Idempotency-Key and body from a backend (its API key) and from an app (app mode, no key)
    are two requests: neither gets the other's answer, poll token included."""
    key = _key()
    backend = app.start(NUMBER, idempotency_key=key).json()
    app.stack.configure_api(client_auth="none")
    try:
        anonymous = requests.post(f"{app.api}/checks", json={"phone_number": NUMBER},
                                  headers={"Idempotency-Key": key}, timeout=15)
    finally:
        app.stack.configure_api()

    assert anonymous.status_code == 201, anonymous.text
    assert anonymous.json()["check_id"] != backend["check_id"]
    assert anonymous.json()["poll_token"] != backend["poll_token"]
