"""tru.ID SubscriberCheck v0.2: PhoneCheck v0.2's device flow and code exchange, one check, plus the SIM-change
answer (`period` at create, `no_sim_change` and `sim_change_within` in the result). Pure: no I/O. Facts:
specs/truid models/subscriber_check/SubscriberCheckResourceModels.v0.2.yaml, models/sim_check/."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from silentcheck.checks import Check
from silentcheck.sim_swap import HOUR_MINUTES, HoursRange, SimSwapAnswer

PHONE_CHECK, SUBSCRIBER_CHECK = "phone_check", "subscriber_check"
SCOPE = "subscriber_check"  # the OAuth scope SubscriberCheck's endpoints need
PERIOD_MINUTES = (60, 540_000)  # `period`: 60 minutes to 540,000 minutes (375 days)
HOURS = HoursRange(PERIOD_MINUTES[0] // HOUR_MINUTES, PERIOD_MINUTES[1] // HOUR_MINUTES)
# `sim_change_within` is the top of a window, in minutes; above 525,600 it only says "more than a year".
_LAST_WINDOW_MINUTES = 525_600


def product_of(check: Check) -> str:
    """Which tru.ID product the check was created with: SubscriberCheck when it asked about the SIM."""
    return SUBSCRIBER_CHECK if check.attributes.get("product") == SUBSCRIBER_CHECK else PHONE_CHECK


def scope_for(check: Check, scope: str) -> str:
    """The OAuth scope reading the check needs: SubscriberCheck's own, else `scope` (PhoneCheck's)."""
    return SCOPE if product_of(check) == SUBSCRIBER_CHECK else scope


def period_minutes(hours: int) -> int:
    return hours * HOUR_MINUTES


def answer(body: Any, check: Check) -> SimSwapAnswer | None:
    """The SIM-swap answer of a COMPLETED SubscriberCheck (the PATCH response); None for a PhoneCheck (or a
    body that is no JSON object: result_outcome refuses it)."""
    hours = check.sim_swap_hours
    if product_of(check) != SUBSCRIBER_CHECK or hours is None or not isinstance(body, Mapping):
        return None
    no_change = body.get("no_sim_change")
    if not isinstance(no_change, bool):  # tru.ID left it out: the operator gave no answer
        return SimSwapAnswer.unavailable(hours, "no_sim_change:missing")
    if body.get("no_sim_change_period", period_minutes(hours)) != period_minutes(hours):
        return SimSwapAnswer.unavailable(hours, "no_sim_change_period:mismatch")  # an answer to another question
    within = body.get("sim_change_within")
    window = None
    if isinstance(within, int) and not isinstance(within, bool) and 0 < within <= _LAST_WINDOW_MINUTES:
        window = -(-within // HOUR_MINUTES)
    return SimSwapAnswer(hours, swapped=not no_change, changed_within_hours=window,
                         raw_code=f"no_sim_change:{str(no_change).lower()}")
