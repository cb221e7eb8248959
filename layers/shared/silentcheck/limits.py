"""Spending the start budgets (config.Limits: how many checks one number, one source IP and the whole
deployment may start in a window). Counters are fixed-window items in the checks table (store.counters),
so every container counts together, and each is spent before the check is recorded or any provider is
called.

A number's budget counts addresses, not starts: at most `count` addresses may start checks for one
number in a window, each at most `count` times. So one address holds one of a number's `count` (≥ 2)
places whatever it sends, and cannot lock the number's owner out (docs/security.md, Abuse and cost).

Every start of the deployment spends the global budget, so its window is split over `global_shards` items
(config.Limits, from GLOBAL_BUDGET_SHARDS): each start adds to one shard picked at random, and shard i may
hold `count // shards` starts (plus one for the first `count % shards`), so together they hold exactly
`count`. DynamoDB serves about 1,000 write units a second per partition and a counter's write is one unit:
template.yaml gives one shard per 100 starts a second of PeakStartsPerSecond, so no shard sees more than a
tenth of a partition's writes (docs/capacity.md). A start that finds its shard full tries one other before
it is refused, so near the end of the window a start may be refused while another shard has a few left."""

from __future__ import annotations

import ipaddress
import secrets

from silentcheck import observability, tokens
from silentcheck.config import Budget, Limits
from silentcheck.deps import Counters
from silentcheck.errors import RateLimited

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


def _refuse(scope: str, detail: str, budget: Budget, now: int) -> RateLimited:
    window_end = _window(budget, now)[1]
    observability.count(observability.Metric.STARTS_REFUSED, reason=RateLimited.code, scope=scope)
    return RateLimited(f"{detail}: at most {budget.count} per {budget.window_seconds} s. "
                       f"Retry after {window_end - now} s.", retry_after=window_end - now)


def spend(config: Limits, pepper: str, number_e164: str, source_ip: str | None, now: int,
          counters: Counters) -> None:
    """Count one start against each budget in turn (the address's; the number's from this address, then the
    number's places for addresses; the deployment's); RateLimited (with the seconds until that window ends)
    at the first that is spent. Budgets counted before it stay counted: the request was made."""
    key = tokens.subkey(pepper, "limits")
    source_ip = counted_address(source_ip)
    ip = config.budgets.get("ip")
    if ip is not None and source_ip is not None:
        current, window_end = _window(ip, now)
        if not counters.take("ip", tokens.derive(key, source_ip), current, ip.count, window_end):
            raise _refuse("ip", "Too many checks from this address", ip, now)

    number = config.budgets.get("number")
    if number is not None:
        caller = source_ip or NO_ADDRESS
        current, window_end = _window(number, now)
        pair = tokens.derive(key, f"{number_e164} {caller}")
        if not counters.take("number_address", pair, current, number.count, window_end):
            raise _refuse("number_address", "Too many checks for this phone number from this address", number, now)
        if not counters.admit("number", tokens.derive(key, number_e164), tokens.derive(key, caller), current,
                              number.count, window_end):
            raise _refuse("number", "Too many addresses started checks for this phone number", number, now)

    deployment = config.budgets.get("global")
    if deployment is not None:
        current, window_end = _window(deployment, now)
        if not _take_global(counters, tokens.derive(key, "all"), current, deployment, window_end,
                            config.global_shards):
            raise _refuse("global", "This deployment's check budget is spent", deployment, now)


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
