"""Attack 2: lock a victim's number out of verification from one address, by spending the number's start
budget before its owner can (the owner's own phone then gets 429 for the rest of the window)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox import stack as stacks
from sandbox.device import bound_session
from tests.integration.conftest import App
from tests.template_tools import start_budgets

VICTIM = "+447400900002"
ATTACKER_ADDRESS = "127.0.0.66"  # one address on loopback, not the victim's line


def _budgets(which: str) -> dict[str, Any]:
    if which == "template default":
        budgets: dict[str, Any] = json.loads(start_budgets()[0])  # the default PeakStartsPerSecond profile's
        return budgets
    return stacks.SANDBOX_LIMITS


@pytest.mark.parametrize("which", ["template default", "sandbox"])
def test_starts_for_a_number_from_one_address_do_not_lock_out_its_owner(app: App, which: str):
    budgets = _budgets(which)
    app.stack.configure_limits(budgets)
    app.stack.configure_api(client_auth="none")  # app mode: any app user may start checks
    try:
        with bound_session(ATTACKER_ADDRESS) as attacker:
            answers = [attacker.post(f"{app.api}/checks", json={"phone_number": VICTIM}, timeout=15).status_code
                       for _ in range(budgets["number"]["count"] + 3)]  # past the number's budget
        assert answers[-1] == 429  # the attacker was stopped, not let through

        with bound_session(app.phone(VICTIM).ip) as owner:
            answer = owner.post(f"{app.api}/checks", json={"phone_number": VICTIM}, timeout=15)
    finally:
        app.stack.configure_api()

    assert answer.status_code == 201, answer.text
