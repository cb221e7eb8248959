"""Spending the start budgets (config.Limits: how many checks one number, one source IP and the whole
deployment may start in a window). Counters are fixed-window items in the checks table (store.counters),
so every container counts together, and each is spent before the check is recorded or any provider is
called."""

from __future__ import annotations

from silentcheck import observability, tokens
from silentcheck.config import LIMIT_SCOPES, Limits
from silentcheck.deps import Counters
from silentcheck.errors import RateLimited

_DETAIL = {
    "number": "Too many checks for this phone number",
    "ip": "Too many checks from this address",
    "global": "This deployment's check budget is spent",
}


def spend(config: Limits, pepper: str, number_e164: str, source_ip: str | None, now: int,
          counters: Counters) -> None:
    """Count one start against each budget in turn (address, number, deployment); RateLimited (with the
    seconds until that window ends) at the first that is spent. Budgets counted before it stay counted:
    the request was made."""
    key = tokens.subkey(pepper, "limits")
    subjects = {"number": number_e164, "ip": source_ip, "global": "all"}
    for scope in LIMIT_SCOPES:
        budget, subject = config.budgets.get(scope), subjects[scope]
        if budget is None or subject is None:
            continue
        window = now // budget.window_seconds
        window_end = (window + 1) * budget.window_seconds
        if not counters.take(scope, tokens.derive(key, subject), window, budget.count, window_end):
            observability.count(observability.Metric.STARTS_REFUSED, reason=RateLimited.code, scope=scope)
            raise RateLimited(f"{_DETAIL[scope]}: at most {budget.count} per {budget.window_seconds} s. "
                              f"Retry after {window_end - now} s.", retry_after=window_end - now)

