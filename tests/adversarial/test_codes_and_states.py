"""Attacks on what the chain's end hands out: completion codes, the one-time return state, provider codes.

Attacker: an app user with their own phone and SIM, who starts a check for a victim's number V and one for
their own number, walks both chains on their own phone and holds everything those chains show them: the return
URLs (with our state and the provider's code) and their own check's completion code.
Assumption: the attacker can edit and replay any URL and poll with any value; they cannot see the victim's phone.
What must hold: no VERIFIED for V: a completion code is good for its own check only, a return state works once,
and a provider code only completes the provider check it was issued for, to the client that asked for it
(tru.ID: the check id must be ours and the PATCH must take the code; CAMARA: PKCE binds the code to our state)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests

from tests.integration.conftest import App, completion_code

VICTIM, ATTACKER = "+447400900002", "+447400900004"
CAMARA_VICTIM, CAMARA_ATTACKER = "+34600000012", "+34600000034"


def _query(url: str) -> dict[str, str]:
    return {name: values[-1] for name, values in parse_qs(urlsplit(url).query).items()}


def _with_query(url: str, **changes: str) -> str:
    return urlunsplit(urlsplit(url)._replace(query=urlencode({**_query(url), **changes})))


def _return(url: str) -> requests.Response:
    return requests.get(url, headers={"Accept": "application/json"}, timeout=15)


def _started(app: App, number: str, provider: str) -> dict[str, Any]:
    response = app.start(number, provider=provider)
    assert response.status_code == 201, response.text
    check: dict[str, Any] = response.json()
    return check


def test_the_completion_code_of_the_attackers_verified_check_does_not_open_the_victims(app: App):
    victim_check, own_check = app.started(VICTIM), app.started(ATTACKER)
    own_code = completion_code(app.open_on_own_phone(own_check, ATTACKER))
    assert app.poll(own_check, own_code).json()["status"] == "VERIFIED"

    response = app.poll(victim_check, own_code)

    assert (response.status_code, response.json()["code"]) == (403, "COMPLETION_CODE_INVALID")


def test_a_replayed_return_state_changes_nothing_and_hands_out_no_second_code(app: App):
    victim_check = app.started(VICTIM)
    return_url = app.return_url(victim_check, sim=ATTACKER)
    first = _return(return_url)

    replay = _return(return_url)

    assert (replay.status_code, replay.json()["code"]) == (400, "INVALID_RETURN")
    assert "completion_code" not in replay.json()
    assert app.poll(victim_check, first.json()["completion_code"]).json()["status"] == "NOT_VERIFIED"


@pytest.mark.parametrize("injected", [("code",), ("code", "check_id")], ids=["code", "code_and_check_id"])
def test_a_truid_code_from_the_attackers_own_check_injected_into_the_victims_return_does_not_verify(
        app: App, injected: tuple[str, ...]):
    victim_check, own_check = app.started(VICTIM), app.started(ATTACKER)
    victim_return = app.return_url(victim_check, sim=ATTACKER)  # the victim's chain, on the attacker's phone
    own_return = _query(app.return_url(own_check, sim=ATTACKER))  # a code tru.ID issued for a match

    answer = _return(_with_query(victim_return, **{name: own_return[name] for name in injected}))

    code = answer.json().get("completion_code") if answer.status_code == 200 else None
    assert app.poll(victim_check, code).json()["status"] != "VERIFIED"


def test_a_camara_code_from_the_attackers_own_authorization_injected_into_the_victims_return_does_not_verify(
        app: App):
    victim_check = _started(app, CAMARA_VICTIM, "camara")
    own_check = _started(app, CAMARA_ATTACKER, "camara")
    victim_return = app.return_url(victim_check, sim=CAMARA_ATTACKER)
    own_code = _query(app.return_url(own_check, sim=CAMARA_ATTACKER))["code"]  # issued for the attacker's line

    answer = _return(_with_query(victim_return, code=own_code))

    code = answer.json().get("completion_code") if answer.status_code == 200 else None
    assert app.poll(victim_check, code).json()["status"] != "VERIFIED"
