"""CAMARA SIM Swap (API v2, `POST /check`) through the same aggregator, with the token of the same check:
its authorization request carries the `sim-swap:check` scope beside Number Verification's, and, the token
being three-legged, the body carries `maxAge` and no `phoneNumber` (the number comes from the token).
Facts: specs/camara-sim-swap/sim-swap.yaml."""

from __future__ import annotations

import uuid
from typing import Any

from silentcheck import provider_http
from silentcheck.observability import logger
from silentcheck.providers.base import safe_code
from silentcheck.sim_swap import HoursRange, SimSwapAnswer

SCOPE = "sim-swap:check"
MAX_AGE_HOURS = HoursRange(1, 2400)  # CreateCheckSimSwap.maxAge; an operator may allow less (400 OUT_OF_RANGE)


def hours_range(operator_limit: int | None) -> HoursRange:
    """What the aggregator answers: the spec's 1 to 2400 hours, or less where the operator says so."""
    top = MAX_AGE_HOURS.max_hours if operator_limit is None else min(operator_limit, MAX_AGE_HOURS.max_hours)
    return HoursRange(MAX_AGE_HOURS.min_hours, top)


def with_scope(scope: str) -> str:
    """The authorization request's scope with SIM Swap's added (once)."""
    return scope if SCOPE in scope.split() else f"{scope} {SCOPE}"


def check(api_base_url: str, access_token: str, hours: int, check_id: str) -> SimSwapAnswer:
    """POST {api_base_url}/check {"maxAge": hours}: `swapped`, or unavailable with the aggregator's code."""
    correlator = str(uuid.uuid4())
    headers = {"Authorization": f"Bearer {access_token}", "x-correlator": correlator, "Accept": "application/json"}
    logger.info("calling CAMARA SIM swap", check_id=check_id, x_correlator=correlator)
    try:
        response = provider_http.send("POST", f"{api_base_url}/check", headers=headers, json={"maxAge": hours})
    except provider_http.ProviderUnavailable as unavailable:
        return SimSwapAnswer.unavailable(hours, f"sim-swap:{unavailable.kind}")
    try:
        payload: Any = response.json()
    except ValueError:
        payload = None
    if response.status_code != 200:
        code = payload.get("code") if isinstance(payload, dict) else None
        raw = f"sim-swap:{response.status_code}" + (f":{safe_code(code)}" if isinstance(code, str) else "")
        logger.warning("SIM swap not answered", check_id=check_id, raw_code=raw)
        return SimSwapAnswer.unavailable(hours, raw)
    swapped = payload.get("swapped") if isinstance(payload, dict) else None
    if not isinstance(swapped, bool):  # only a JSON boolean is an answer
        return SimSwapAnswer.unavailable(hours, "sim-swap:malformed")
    return SimSwapAnswer(hours, swapped=swapped, raw_code=f"sim-swap:{str(swapped).lower()}")
