"""The start budgets: LIMITS parsed once per container (`configured()`), and spending them (Limits: how many checks
one number, one source IP and the whole deployment may start in a window). Counters are fixed-window items in the
checks table (store.counters), so every container counts together. A start's own budgets (its address's, its
number's) are counted in the same transaction that records its check, and the deployment's right after: all before
any provider is called (docs/capacity.md, Calls per check).

A number's budget counts addresses, not starts: at most `count` addresses may start checks for one
number in a window, each at most `count` times. So one address holds one of a number's `count` (≥ 2)
places whatever it sends, and cannot lock the number's owner out (docs/security.md, Abuse and cost).

Every start of the deployment spends the global budget, so its window is split over `global_shards` items
(Limits, from GLOBAL_BUDGET_SHARDS): each start adds to one shard picked at random, and shard i may
hold `count // shards` starts (plus one for the first `count % shards`), so together they hold exactly
`count`. DynamoDB serves about 1,000 write units a second per partition and a counter's write is one unit:
template.yaml gives one shard per 100 starts a second of PeakStartsPerSecond, so no shard sees more than a
tenth of a partition's writes (docs/capacity.md). A start that finds its shard full tries one other before
it is refused, so near the end of the window a start may be refused while another shard has a few left."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from silentcheck import observability, tokens
from silentcheck.checks import Check
from silentcheck.deps import Counters, Store
from silentcheck.errors import RateLimited
from silentcheck.store.check_items import TransitionLost
from silentcheck.store.counters import BudgetSpent, Take

# -- LIMITS: how many checks one number, one address and the deployment may start (parameter `Limits`) --

DEFAULT_LIMITS = ('{"number": {"count": 5, "window_seconds": 600}, "ip": {"count": 60, "window_seconds": 600},'
                  ' "global": {"count": 10000, "window_seconds": 86400}}')
# The order budgets are spent in: the caller's own address first, so an address past its budget spends
# nobody else's (it cannot lock a number out); the deployment's budget last, so a refused start costs it nothing.
LIMIT_SCOPES = ("ip", "number", "global")
# A number's budget is places for addresses (below): at least two, so one address never holds them all;
# at most 1000, so one window's item of address digests stays far below DynamoDB's 400 KB.
NUMBER_PLACES = (2, 1000)
MAX_GLOBAL_SHARDS = 100


class LimitsInvalid(RuntimeError):
    """The LIMITS setting cannot be used; the message says where and how to fix it."""


@dataclass(frozen=True)
class Budget:
    count: int
    window_seconds: int


@dataclass(frozen=True)
class Limits:
    budgets: Mapping[str, Budget]  # by scope ("number", "ip", "global"); a scope not here has no limit
    global_shards: int = 1  # items the global budget's window is split over (GLOBAL_BUDGET_SHARDS)


def _budget(scope: str, raw: Any) -> Budget | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) != {"count", "window_seconds"}:
        raise LimitsInvalid(f'LIMITS {scope} must be {{"count": N, "window_seconds": S}} or null (no limit)')
    for key, value in raw.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise LimitsInvalid(f"LIMITS {scope}.{key} must be a positive integer")
    if scope == "number" and not NUMBER_PLACES[0] <= raw["count"] <= NUMBER_PLACES[1]:
        raise LimitsInvalid(f"LIMITS number.count must be {NUMBER_PLACES[0]} to {NUMBER_PLACES[1]}: it is how many "
                            "addresses may start checks for one number per window (each as many times), and one "
                            "address must never hold them all, or it could lock the number's owner out")
    return Budget(raw["count"], raw["window_seconds"])


@cache
def parse_limits(text: str, global_shards: int = 1) -> Limits:
    """The limits from their JSON text; LimitsInvalid says exactly what is wrong."""
    if not 1 <= global_shards <= MAX_GLOBAL_SHARDS:
        raise LimitsInvalid(f"GLOBAL_BUDGET_SHARDS must be an integer from 1 to {MAX_GLOBAL_SHARDS}")
    try:
        raw = json.loads(text)
    except ValueError as error:
        raise LimitsInvalid(f"LIMITS is not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise LimitsInvalid(f"LIMITS must be a JSON object with any of the keys {', '.join(LIMIT_SCOPES)}")
    unknown = set(raw) - set(LIMIT_SCOPES)
    if unknown:
        raise LimitsInvalid(f"LIMITS has unknown keys {sorted(unknown)}; allowed: {', '.join(LIMIT_SCOPES)}")
    budgets = {scope: _budget(scope, raw.get(scope)) for scope in LIMIT_SCOPES}
    return Limits({scope: budget for scope, budget in budgets.items() if budget is not None}, global_shards)


def configured() -> Limits:
    """The deployment's start budgets, from LIMITS (the defaults when unset), the global one split over
    GLOBAL_BUDGET_SHARDS items (template.yaml derives it from PeakStartsPerSecond); parsed at first use."""
    shards = os.environ.get("GLOBAL_BUDGET_SHARDS") or "1"
    if not shards.isdigit():
        raise LimitsInvalid(f"GLOBAL_BUDGET_SHARDS must be an integer from 1 to {MAX_GLOBAL_SHARDS}")
    return parse_limits(os.environ.get("LIMITS") or DEFAULT_LIMITS, int(shards))

NO_ADDRESS = "-"  # the one place every start without a source address shares (API Gateway always gives one)


def counted_address(source_ip: str | None) -> str | None:
    """What the budgets count as one address: an IPv4 address, or an IPv6 address's /64 (a phone's line and a
    home's router each get a whole /64, so one host could otherwise present 2^64 addresses)."""
    if source_ip is None:
        return None
    try:
        parsed = ipaddress.ip_address(source_ip)
    except ValueError:
        return source_ip
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def _window(budget: Budget, now: int) -> tuple[int, int]:
    """The budget's current window, and when it ends."""
    current = now // budget.window_seconds
    return current, (current + 1) * budget.window_seconds


_REFUSALS = {  # scope: (its budget in Limits, what the caller is told)
    "ip": ("ip", "Too many checks from this address"),
    "number_address": ("number", "Too many checks for this phone number from this address"),
    "number": ("number", "Too many addresses started checks for this phone number"),
    "global": ("global", "This deployment's check budget is spent"),
}


def _refuse(scope: str, budget: Budget, now: int) -> RateLimited:
    window_end = _window(budget, now)[1]
    observability.count(observability.Metric.STARTS_REFUSED, reason=RateLimited.code, scope=scope)
    return RateLimited(f"{_REFUSALS[scope][1]}: at most {budget.count} per {budget.window_seconds} s. "
                       f"Retry after {window_end - now} s.", retry_after=window_end - now)


def _refused(spent: BudgetSpent, config: Limits, now: int) -> RateLimited:
    if spent.busy:  # the budget had room, but other starts for this address or number kept writing it
        observability.count(observability.Metric.STARTS_REFUSED, reason=RateLimited.code, scope=spent.scope)
        return RateLimited("Too many checks are starting at once for this address or phone number. "
                           "Retry after 1 s.", retry_after=1)
    return _refuse(spent.scope, config.budgets[_REFUSALS[spent.scope][0]], now)


def caller_budgets(config: Limits, pepper: str, number_e164: str, source_ip: str | None, now: int) -> list[Take]:
    """What one start counts against the caller's budgets, in the order a refusal names them: the
    address's; the number's from this address, then the number's places for addresses."""
    key = tokens.subkey(pepper, "limits")
    source_ip = counted_address(source_ip)
    budgets = []
    ip = config.budgets.get("ip")
    if ip is not None and source_ip is not None:
        current, window_end = _window(ip, now)
        budgets.append(Take("ip", tokens.derive(key, source_ip), current, ip.count, window_end))
    number = config.budgets.get("number")
    if number is not None:
        caller = source_ip or NO_ADDRESS
        current, window_end = _window(number, now)
        pair = tokens.derive(key, f"{number_e164} {caller}")
        budgets.append(Take("number_address", pair, current, number.count, window_end))
        budgets.append(Take("number", tokens.derive(key, number_e164), current, number.count, window_end,
                            member=tokens.derive(key, caller)))
    return budgets


def spend(config: Limits, pepper: str, number_e164: str, source_ip: str | None, now: int,
          counters: Counters) -> None:
    """Count one start that records no check (an answer that starts nothing) against every budget: the
    caller's together (all or nothing, one write), then the deployment's. RateLimited (with the seconds
    until that window ends) names the first that is spent; the caller's budgets stay counted when the
    deployment's refuses: the request was made."""
    try:
        counters.take_all(caller_budgets(config, pepper, number_e164, source_ip, now))
    except BudgetSpent as spent:
        raise _refused(spent, config, now) from None
    _spend_global(config, pepper, now, counters)


def spend_and_record(config: Limits, pepper: str, number_e164: str, source_ip: str | None, now: int,
                     counters: Counters, store: Store, check: Check) -> None:
    """Count one start against every budget and record its check, before any provider is called: the
    caller's budgets and the check in one write (store.create: all or nothing, so no budget is spent
    without its check recorded), then the deployment's. A start the deployment's budget refuses is
    withdrawn (made unusable, left to the table's TTL); the caller's budgets stay counted (the request was
    made)."""
    try:
        store.create(check, caller_budgets(config, pepper, number_e164, source_ip, now))
    except BudgetSpent as spent:
        raise _refused(spent, config, now) from None
    try:
        _spend_global(config, pepper, now, counters)
    except RateLimited:
        with contextlib.suppress(TransitionLost):  # a withdrawal that lost must not hide the refusal
            store.withdraw(check.check_id, now)
        raise


def _spend_global(config: Limits, pepper: str, now: int, counters: Counters) -> None:
    """The deployment's budget, in a write of its own: every start in the deployment shares its shards, and
    in a transaction concurrent starts on one shard would cancel each other (docs/capacity.md)."""
    deployment = config.budgets.get("global")
    if deployment is None:
        return
    current, window_end = _window(deployment, now)
    digest = tokens.derive(tokens.subkey(pepper, "limits"), "all")
    if not _take_global(counters, digest, current, deployment, window_end, config.global_shards):
        raise _refuse("global", deployment, now)


def shard_count(budget: Budget, shards: int, shard: int) -> int:
    """How many starts shard `shard` of `shards` may hold: together exactly `budget.count`."""
    return budget.count // shards + (1 if shard < budget.count % shards else 0)


def shard_subject(digest: str, shard: int) -> str:
    """The counted subject of one shard of the global budget (keys.limit's `subject`)."""
    return f"{digest}.{shard}"


def _take_global(counters: Counters, digest: str, window: int, budget: Budget, window_end: int, shards: int) -> bool:
    first = secrets.randbelow(shards)
    tries = (first,) if shards == 1 else (first, (first + 1 + secrets.randbelow(shards - 1)) % shards)
    for shard in tries:
        count = shard_count(budget, shards, shard)
        if count and counters.take("global", shard_subject(digest, shard), window, count, window_end):
            return True
    return False
