"""Attack on CAMARA's CIBA flow: an operator token minted on another line.

Attacker: an app user whose phone runs the TS.43 entitlement exchange with their own operator (no mobile data
needed) and who starts a check for the victim's number with the token their own SIM obtained, or with a token
already spent.
Assumption: the aggregator ties a TS.43 token to the line that minted it and spends it once; silentcheck
sends it once and never reuses it.
What must hold: a token minted for another line never verifies the victim's number; a spent token starts
nothing."""

from __future__ import annotations

from collections.abc import Callable

from tests.integration.conftest import App
from tests.integration.test_camara_operator_token import poll_until_final

VICTIM, ATTACKER = "+34600000012", "+34600000034"


def test_an_operator_token_minted_on_the_attackers_line_does_not_verify_the_victims_number(
        app: App, advance: Callable[[float], None]):
    response = app.start(VICTIM, operator_token=app.operator_token(ATTACKER))
    assert response.status_code == 201, response.text

    view = poll_until_final(app, response.json(), advance)

    assert view["status"] != "VERIFIED"


def test_an_operator_token_replayed_from_an_earlier_check_starts_nothing(app: App):
    token = app.operator_token(VICTIM)
    first = app.start(VICTIM, operator_token=token)
    assert first.status_code == 201, first.text

    replayed = app.start(VICTIM, operator_token=token).json()

    assert replayed["status"] == "FAILED" and replayed["check_url"] is None
