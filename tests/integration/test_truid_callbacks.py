"""tru.ID's signed callbacks reach provider_callback: the HTTP message signature is verified against
tru.ID's JWKS, and the callback is only a hint: the check is read back from tru.ID before it changes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from sandbox.stack import forget_function_caches
from tests.integration.conftest import App

NUMBER = "+447400900202"


@pytest.fixture(autouse=True)
def _fresh_callbacks(app: App):
    base = app.stack.truid.base_url
    for path in ("callbacks", "callback-faults"):
        requests.delete(f"{base}/_sandbox/{path}", timeout=5)
    yield


def callbacks(app: App, check: dict[str, Any], expected: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
    """tru.ID's delivery attempts for our check, once at least `expected` have been answered (retries of
    earlier tests' callbacks may still be arriving, so they are told apart by tru.ID's check id)."""
    truid_id = tru_id_of(app, check)
    deadline = time.monotonic() + timeout
    while True:
        attempts = [a for a in requests.get(f"{app.stack.truid.base_url}/_sandbox/callbacks", timeout=5).json()
                    if a["check_id"] == truid_id]
        if len(attempts) >= expected or time.monotonic() > deadline:
            return attempts
        time.sleep(0.1)


def tru_id_of(app: App, check: dict[str, Any]) -> str:
    return next(str(c["check_id"]) for c in app.stack.truid_simulator.check_summaries()
                if c["reference_id"] == check["check_id"])


def v01_check_opened(app: App, number: str = NUMBER, sim: str | None = None,
                     fault: str | None = None) -> dict[str, Any]:
    """A v0.1 check whose phone opened its URL; `fault` shapes this check's callback (no other's)."""
    app.stack.configure_truid(api_version="v0.1")
    app.stack.configure_api(allow_unbound_checks=True)  # v0.1: binding none
    check = app.started(number)
    if fault:
        app.truid_callback_fault(fault, truid_check_id=tru_id_of(app, check))
    app.phone(sim or number).open(check["check_url"])
    return check


def test_create_carries_a_per_check_callback_url(app: App):
    check = app.started(NUMBER)

    create = next(r for r in app.truid_requests() if r["method"] == "POST" and r["path"].endswith("/checks"))
    url = json.loads(create["body"])["callback_url"]
    assert url.startswith(f"{app.stack.gateway.callback_url}/truid/{check['check_id']}.")


def test_a_signed_callback_settles_a_v01_check_after_reading_it_back(app: App):
    check = v01_check_opened(app)

    assert callbacks(app, check, expected=2)[-1]["status_code"] == 200
    assert app.item(check["check_id"])["status"]["S"] == "VERIFIED"
    reads = [r for r in app.truid_requests() if r["method"] == "GET" and check_path(r, app)]
    assert reads, "the check was not read back from tru.ID"


@pytest.fixture
def main_secret_out_of_reach(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], None]]:
    """Call it to run the functions as provider_callback runs on AWS: without SECRET_ID (and its IAM grant)."""

    def cut() -> None:
        monkeypatch.delenv("SECRET_ID")
        forget_function_caches()

    yield cut
    monkeypatch.undo()
    forget_function_caches()


def test_a_callback_settles_a_check_with_only_the_callback_secret_readable(app: App, main_secret_out_of_reach):
    app.stack.configure_truid(api_version="v0.1")
    app.stack.configure_api(allow_unbound_checks=True)  # v0.1: binding none
    check = app.started(NUMBER)
    main_secret_out_of_reach()

    app.phone(NUMBER).open(check["check_url"])

    assert callbacks(app, check, expected=2)[-1]["status_code"] == 200
    assert app.item(check["check_id"])["status"]["S"] == "VERIFIED"


def test_a_callback_for_a_provider_that_pushes_nothing_is_404_without_opening_its_record(
        app: App, main_secret_out_of_reach):
    started = app.start("+34600000012", provider="camara")  # its record holds the sealed number
    assert started.status_code == 201, started.text
    main_secret_out_of_reach()

    response = requests.post(f"{app.stack.gateway.callback_url}/camara/{started.json()['check_id']}.guess",
                             json={}, timeout=15)

    assert response.status_code == 404


def check_path(entry: dict[str, Any], app: App) -> bool:
    return "/phone_check/v0.1/checks/" in entry["path"]


def test_a_signed_error_callback_of_a_v02_check_fails_it_without_a_poll(app: App):
    check = app.started("+447400900299")  # the check ends ERROR mno_server_error
    app.phone("+447400900299").open(check["check_url"])

    callbacks(app, check)

    item = app.item(check["check_id"])
    assert (item["status"]["S"], item["reason"]["S"]) == ("FAILED", "PROVIDER_ERROR")


def test_req22_a_completed_callback_verifies_only_once_truid_confirms_it(app: App):
    """Right after completion tru.ID still answers PENDING to one read (its documented lag): the first
    callback says COMPLETED with match true, the read-back does not, so nothing changes and tru.ID is
    asked to deliver again; the retry's read-back confirms, and only then the check is VERIFIED."""
    check = v01_check_opened(app)

    first, retry = callbacks(app, check, expected=2)

    assert json.loads(first["body"])["match"] is True
    assert (first["status_code"], retry["status_code"]) == (503, 200)
    assert app.item(check["check_id"])["raw_code"]["S"] == "COMPLETED"


@pytest.mark.parametrize("mode", ["tamper_body", "bad_signature", "stale_date", "unknown_kid", "no_signature"])
def test_req23_a_callback_whose_signature_does_not_hold_is_rejected_and_changes_nothing(app: App, mode):
    check = v01_check_opened(app, fault=mode)

    first = callbacks(app, check)[0]

    assert first["status_code"] == 403
    assert app.item(check["check_id"])["status"]["S"] == "PENDING"


def test_req24_a_callback_delivered_twice_makes_one_transition(app: App, captured_logs):
    check = v01_check_opened(app, fault="twice")

    attempts = callbacks(app, check, expected=2)

    assert attempts[0]["body"] == attempts[1]["body"] and attempts[0]["headers"] == attempts[1]["headers"]
    assert attempts[-1]["status_code"] == 200
    assert app.item(check["check_id"])["status"]["S"] == "VERIFIED"
    assert captured_logs.getvalue().count("callback settled the check") == 1


def test_req25_a_replayed_callback_changes_nothing_once_final(app: App):
    check = v01_check_opened(app)
    callbacks(app, check, expected=2)
    before = app.item(check["check_id"])
    truid_id = tru_id_of(app, check)

    replay = requests.post(f"{app.stack.truid.base_url}/_sandbox/callbacks/{truid_id}/redeliver", timeout=10)

    assert replay.status_code == 200 and app.item(check["check_id"]) == before


def test_req21_a_signed_callback_sent_to_another_checks_url_is_rejected(app: App):
    first = v01_check_opened(app)
    delivered = callbacks(app, first, expected=2)[-1]
    requests.delete(f"{app.stack.truid.base_url}/_sandbox/callbacks", timeout=5)
    second = app.started("+447400900204")
    create = [r for r in app.truid_requests() if r["method"] == "POST" and r["path"].endswith("/checks")][-1]
    other_url = json.loads(create["body"])["callback_url"]

    response = requests.post(other_url, data=delivered["body"].encode(), headers=delivered["headers"], timeout=10)

    assert response.status_code == 403
    assert app.item(second["check_id"])["status"]["S"] == "PENDING"
    assert app.item(first["check_id"])["status"]["S"] == "VERIFIED"


def test_a_rotated_signing_key_is_fetched_from_the_jwks(app: App):
    before = v01_check_opened(app)
    callbacks(app, before, expected=2)
    requests.post(f"{app.stack.truid.base_url}/_sandbox/rotate-callback-key", json={"drop_old": True}, timeout=5)
    requests.delete(f"{app.stack.truid.base_url}/_sandbox/callbacks", timeout=5)

    check = v01_check_opened(app, "+447400900206")

    assert callbacks(app, check, expected=2)[-1]["status_code"] == 200
    assert app.item(check["check_id"])["status"]["S"] == "VERIFIED"
