"""Start budgets: how many checks one number, one source IP and the whole deployment may start in a
window (template parameter `Limits`, environment `LIMITS`, parsed once per container). Counters are
fixed-window items in the checks table (store.counters), so every container counts together, and
each is spent before the check is recorded or any provider is called."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from silentcheck import observability, tokens
from silentcheck.errors import RateLimited
from silentcheck.store import counters

DEFAULT_LIMITS = ('{"number": {"count": 5, "window_seconds": 600}, "ip": {"count": 60, "window_seconds": 600},'
                  ' "global": {"count": 10000, "window_seconds": 86400}}')
# The order budgets are spent in: the caller's own address first, so an address past its budget spends
# nobody else's (it cannot lock a number out); the deployment's budget last, so a refused start costs it nothing.
_SCOPES = ("ip", "number", "global")
_DETAIL = {
    "number": "Too many checks for this phone number",
    "ip": "Too many checks from this address",
    "global": "This deployment's check budget is spent",
}


class LimitsInvalid(RuntimeError):
    """The LIMITS setting cannot be used; the message says where and how to fix it."""


@dataclass(frozen=True)
class Budget:
    count: int
    window_seconds: int


@dataclass(frozen=True)
class Limits:
    budgets: Mapping[str, Budget]  # by scope ("number", "ip", "global"); a scope not here has no limit


def _budget(scope: str, raw: Any) -> Budget | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) != {"count", "window_seconds"}:
        raise LimitsInvalid(f'LIMITS {scope} must be {{"count": N, "window_seconds": S}} or null (no limit)')
    for key, value in raw.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise LimitsInvalid(f"LIMITS {scope}.{key} must be a positive integer")
    return Budget(raw["count"], raw["window_seconds"])


def parse(text: str) -> Limits:
    """The limits from their JSON text; LimitsInvalid says exactly what is wrong."""
    try:
        raw = json.loads(text)
    except ValueError as error:
        raise LimitsInvalid(f"LIMITS is not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise LimitsInvalid(f"LIMITS must be a JSON object with any of the keys {', '.join(_SCOPES)}")
    unknown = set(raw) - set(_SCOPES)
    if unknown:
        raise LimitsInvalid(f"LIMITS has unknown keys {sorted(unknown)}; allowed: {', '.join(_SCOPES)}")
    budgets = {scope: _budget(scope, raw.get(scope)) for scope in _SCOPES}
    return Limits({scope: budget for scope, budget in budgets.items() if budget is not None})


@cache
def limits() -> Limits:
    """The deployment's limits, read once per container from LIMITS (the defaults when unset)."""
    return parse(os.environ.get("LIMITS") or DEFAULT_LIMITS)


def spend(config: Limits, pepper: str, number_e164: str, source_ip: str | None, now: int) -> None:
    """Count one start against each budget in turn (address, number, deployment); RateLimited (with the
    seconds until that window ends) at the first that is spent. Budgets counted before it stay counted:
    the request was made."""
    key = tokens.subkey(pepper, "limits")
    subjects = {"number": number_e164, "ip": source_ip, "global": "all"}
    for scope in _SCOPES:
        budget, subject = config.budgets.get(scope), subjects[scope]
        if budget is None or subject is None:
            continue
        window = now // budget.window_seconds
        window_end = (window + 1) * budget.window_seconds
        if not counters.take(scope, tokens.derive(key, subject), window, budget.count, window_end):
            observability.count(observability.Metric.STARTS_REFUSED, reason=RateLimited.code, scope=scope)
            raise RateLimited(f"{_DETAIL[scope]}: at most {budget.count} per {budget.window_seconds} s. "
                              f"Retry after {window_end - now} s.", retry_after=window_end - now)

