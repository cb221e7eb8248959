"""Attacks on the public callback URL: forged and replayed provider callbacks.

Attacker: anyone on the internet who knows provider_callback's function URL (it is public by necessity), the
victim's check id (they started the check) and what a provider's callback looks like; in the strongest case, a
genuine callback of their own check (URL and body) or the victim check's callback URL leaked to them.
Assumption: they cannot read the per-check capability Infobip or tru.ID was given, nor sign as tru.ID.
What must hold: no callback moves the victim's check: a callback needs the check's own capability, its body must
name the provider's reference for that check, tru.ID's must carry tru.ID's signature and is re-read from tru.ID,
and a final check never changes again."""

from __future__ import annotations

import json
from typing import Any

import requests

from silentcheck import tokens
from tests.integration.conftest import App, completion_code

INFOBIP_VICTIM, INFOBIP_ATTACKER = "+447400900112", "+447400900134"
TRUID_VICTIM = "+447400900002"


def _started(app: App, number: str, provider: str) -> dict[str, Any]:
    response = app.start(number, provider=provider)
    assert response.status_code == 201, response.text
    check: dict[str, Any] = response.json()
    return check


def _infobip_verify_calls(app: App) -> list[dict[str, Any]]:
    logged = requests.get(f"{app.stack.infobip.base_url}/_sandbox/requests", timeout=5).json()
    return [json.loads(entry["body"]) for entry in logged if entry["path"] == "/mi/verification/1/verify"]


def _infobip_tokens(app: App) -> list[str]:
    return [str(summary["token"]) for summary in
            requests.get(f"{app.stack.infobip.base_url}/_sandbox/checks", timeout=5).json()]


def _settled(app: App) -> None:
    assert app.stack.infobip_simulator.courier.wait_idle(10)


def _hold_infobip_results(app: App) -> None:
    response = requests.post(f"{app.stack.infobip.base_url}/_sandbox/delivery", json={"mode": "never"}, timeout=5)
    assert response.status_code == 201, response.text


def test_a_forged_infobip_valid_for_the_victims_check_id_with_a_guessed_capability_is_refused(app: App):
    _hold_infobip_results(app)
    check = _started(app, INFOBIP_VICTIM, "infobip")
    before = app.item(check["check_id"])

    forged = requests.post(f"{app.stack.gateway.callback_url}/infobip/{check['check_id']}.{tokens.new_token()}",
                           json={"result": "VALID", "token": _infobip_tokens(app)[-1]}, timeout=10)

    assert forged.status_code == 404
    assert app.item(check["check_id"]) == before


def test_a_forged_truid_completed_match_for_the_victims_check_id_is_refused(app: App):
    check = _started(app, TRUID_VICTIM, "truid")
    before = app.item(check["check_id"])

    forged = requests.post(f"{app.stack.gateway.callback_url}/truid/{check['check_id']}.{tokens.new_token()}",
                           json={"check_id": check["check_id"], "status": "COMPLETED", "match": True}, timeout=10)

    assert forged.status_code == 404
    assert app.item(check["check_id"]) == before


def test_the_attackers_own_valid_callback_replayed_under_the_victims_check_id_is_refused(app: App):
    own_check = _started(app, INFOBIP_ATTACKER, "infobip")
    app.phone(INFOBIP_ATTACKER).open(own_check["check_url"])
    _settled(app)
    own_url, own_token = _infobip_verify_calls(app)[-1]["callbackUrl"], _infobip_tokens(app)[-1]
    _hold_infobip_results(app)
    victim_check = _started(app, INFOBIP_VICTIM, "infobip")
    before = app.item(victim_check["check_id"])
    own_secret = own_url.rpartition("/")[2].partition(".")[2]

    replayed = requests.post(f"{own_url.rpartition('/')[0]}/{victim_check['check_id']}.{own_secret}",
                             json={"result": "VALID", "token": own_token}, timeout=10)

    assert replayed.status_code == 404
    assert app.item(victim_check["check_id"]) == before


def test_the_attackers_own_valid_result_posted_to_the_victims_leaked_callback_url_is_refused(app: App):
    own_check = _started(app, INFOBIP_ATTACKER, "infobip")
    app.phone(INFOBIP_ATTACKER).open(own_check["check_url"])
    _settled(app)
    own_token = _infobip_tokens(app)[-1]
    _hold_infobip_results(app)
    victim_check = _started(app, INFOBIP_VICTIM, "infobip")
    victim_url = _infobip_verify_calls(app)[-1]["callbackUrl"]
    before = app.item(victim_check["check_id"])

    replayed = requests.post(victim_url, json={"result": "VALID", "token": own_token}, timeout=10)

    assert replayed.status_code >= 400
    assert app.item(victim_check["check_id"]) == before


def test_a_genuine_callback_replayed_after_the_verdict_changes_nothing(app: App):
    check = _started(app, INFOBIP_VICTIM, "infobip")
    opened = app.phone(INFOBIP_ATTACKER).open(check["check_url"])  # the attacker's phone: INVALID
    _settled(app)
    before = app.item(check["check_id"])

    replay = requests.post(f"{app.stack.infobip.base_url}/_sandbox/callbacks/{_infobip_tokens(app)[-1]}/redeliver",
                           timeout=10)

    assert replay.status_code == 200
    assert app.item(check["check_id"]) == before
    assert app.poll(check, completion_code(opened)).json()["status"] == "NOT_VERIFIED"
