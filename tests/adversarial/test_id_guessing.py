"""Attack on the poll endpoint: guessing check ids and poll tokens.

Attacker: anyone who can call `GET /checks/{check_id}`, with their own valid check at hand, probing for other
checks (enumerating ids, trying their own poll token on a guessed id, a stolen id without its token).
Assumption: ids and poll tokens are 256-bit random values; the attacker compares status codes, bodies and
headers of the answers.
What must hold: an unknown id, a known id with a wrong or missing token, and a malformed id are answered exactly
alike, so no answer tells an existing check from a guess."""

from __future__ import annotations

import requests

from silentcheck import tokens
from tests.integration.conftest import App

_VARYING = {"date", "x-amzn-requestid", "x-amz-apigw-id", "x-amzn-trace-id", "content-length"}


def _answer(response: requests.Response) -> tuple[int, object, dict[str, str]]:
    headers = {name.lower(): value for name, value in response.headers.items() if name.lower() not in _VARYING}
    return response.status_code, response.json(), headers


def test_a_guessed_id_a_wrong_token_a_missing_token_and_a_malformed_id_are_answered_alike(app: App):
    victim_check, own_check = app.started("+447400900002"), app.started("+447400900004")

    answers = [
        app.poll({"check_id": tokens.new_token(), "poll_token": own_check["poll_token"]}),  # a guessed id
        app.poll(victim_check, token=own_check["poll_token"]),  # the attacker's own token on the victim's id
        requests.get(f"{app.api}/checks/{victim_check['check_id']}", timeout=10),  # no token at all
        app.poll({"check_id": "not-an-id", "poll_token": own_check["poll_token"]}),  # malformed
    ]

    first = _answer(answers[0])
    assert first[0] == 404
    assert [_answer(answer) for answer in answers[1:]] == [first] * 3
