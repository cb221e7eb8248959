"""An Idempotency-Key used as an oracle: in app mode nobody has an API key, so a key alone named a start. Whoever
presented another user's key with the right number got that user's answer (poll token included), and every
wrong number was a free 422 saying so. A key now belongs to the address that sent it, and a reused key costs
what a start costs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests

from sandbox.device import bound_session
from tests.integration.conftest import App

VICTIM, OTHER = "+447400900002", "+447400900004"
ATTACKER_ADDRESS = "127.0.0.66"


@pytest.fixture
def app_mode(app: App) -> Iterator[App]:
    app.stack.configure_api(client_auth="none")
    yield app
    app.stack.configure_api()


def _start(session: requests.Session, app: App, number: str, key: str) -> requests.Response:
    return session.post(f"{app.api}/checks", json={"phone_number": number}, headers={"Idempotency-Key": key},
                        timeout=15)


def test_another_users_key_neither_replays_their_start_nor_tells_their_number(app_mode: App):
    key = str(uuid.uuid4())
    with bound_session(app_mode.phone(VICTIM).ip) as victim:
        theirs = _start(victim, app_mode, VICTIM, key).json()

    with bound_session(ATTACKER_ADDRESS) as attacker:
        right_guess = _start(attacker, app_mode, VICTIM, key)
    with bound_session("127.0.0.67") as attacker:
        wrong_guess = _start(attacker, app_mode, OTHER, key)

    assert right_guess.status_code == 201 and right_guess.json()["poll_token"] != theirs["poll_token"]
    assert right_guess.json()["check_id"] != theirs["check_id"]
    assert wrong_guess.status_code == 201  # not 422: a wrong guess looks like any start


def test_trying_numbers_against_one_key_spends_the_start_budgets(app_mode: App):
    app_mode.stack.configure_limits({"ip": {"count": 3, "window_seconds": 600}})
    key = str(uuid.uuid4())
    with bound_session(ATTACKER_ADDRESS) as attacker:
        first = _start(attacker, app_mode, VICTIM, key)
        tries = [_start(attacker, app_mode, number, key).status_code for number in (OTHER, "+447400900006")]
        after = _start(attacker, app_mode, "+447400900008", str(uuid.uuid4()))

    assert (first.status_code, tries) == (201, [422, 422])
    assert (after.status_code, after.json()["code"]) == (429, "RATE_LIMITED")
