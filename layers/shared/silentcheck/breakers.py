"""Circuit breakers per provider, counted in the checks table (store.counters) so every container sees
the same state: a provider that keeps failing is skipped for a while instead of adding its timeout to
every check. Every read and write of a breaker is here, and so are its verdicts (open now? does this
failure open it?); the thresholds are the routing table's `circuit_breaker` (routing.py parses them).

Every start needs its candidates' breakers, so a container reads them at most once per READ_CACHE_SECONDS
(one BatchGetItem) instead of once per start: the breaker items are never read by every request
(docs/capacity.md). A breaker opened or closed by another container is seen here that much later; one this
container opens, counts against or closes is seen at once."""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass

from silentcheck import observability
from silentcheck.deps import Counters

READ_CACHE_SECONDS = 5
_State = tuple[int, dict[str, int] | None]  # (read at, the breaker's state; None: it has no item)
_read_by_counters: weakref.WeakKeyDictionary[object, dict[str, _State]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class CircuitBreaker:
    failures: int = 5  # outage-type failures (5xx, 429, timeouts) within the window…
    window_seconds: int = 60
    open_seconds: int = 30  # …skip the provider for this long

    def trips(self, failures: int) -> bool:
        """Whether this many outage-type failures within the window open the breaker."""
        return failures >= self.failures


def is_open(state: Mapping[str, int] | None, now: int) -> bool:
    """Whether a provider's breaker (its `open_until`, epoch seconds) skips it now."""
    return state is not None and state["open_until"] > now


def _read(counters: Counters) -> dict[str, _State]:
    """What was read through these counters (store.counters in a container; a test's fake has its own)."""
    return _read_by_counters.setdefault(counters, {})


def states(counters: Counters, names: tuple[str, ...], now: int) -> dict[str, dict[str, int]]:
    """The candidates' breaker states (counters.breaker_states), read again only for those this container
    has not read in the last READ_CACHE_SECONDS."""
    read = _read(counters)
    stale = tuple(n for n in names if n not in read or now - read[n][0] >= READ_CACHE_SECONDS)
    if stale:
        found = counters.breaker_states(stale)
        read.update({name: (now, found.get(name)) for name in stale})
    return {name: dict(state) for name in names if (state := read[name][1]) is not None}


def open_among(counters: Counters, names: tuple[str, ...], now: int) -> frozenset[str]:
    """The candidates whose breaker skips them now (their states read as `states` reads them)."""
    return frozenset(name for name, state in states(counters, names, now).items() if is_open(state, now))


def forget() -> None:
    """Drop the breaker states read so far (caches.reset_caches)."""
    _read_by_counters.clear()


def _remember(counters: Counters, provider: str, now: int, failures: int, window_start: int,
              open_until: int) -> None:
    _read(counters)[provider] = (now, {"failures": failures, "window_start": window_start, "open_until": open_until})


def record_failure(counters: Counters, provider: str, now: int, config: CircuitBreaker,
                   number_key: str | None = None) -> bool:
    """Count an outage-type failure; opens the breaker at the threshold. True when it is open now. With the
    check's `number_key`, a number counts once per window: a caller who found a number the provider fails on
    cannot open the breaker for everyone by starting it again and again (docs/security.md, Hostile requests)."""
    if number_key is not None:
        window = now // config.window_seconds
        if not counters.take("breaker_number", f"{provider}.{number_key}", window, 1,
                             (window + 1) * config.window_seconds):
            return False
    failures = counters.count_failure(provider, now, config.window_seconds)
    known = _read(counters).get(provider, (now, None))[1] or {"window_start": now, "open_until": 0}
    _remember(counters, provider, now, failures, known["window_start"], known["open_until"])
    if not config.trips(failures):
        return False
    counters.open_breaker(provider, now, now + config.open_seconds)
    _remember(counters, provider, now, 0, now, now + config.open_seconds)
    observability.count(observability.Metric.BREAKER_OPENED, provider=provider)
    return True


def record_success(counters: Counters, provider: str, now: int) -> None:
    """A provider that answered closes its breaker; nothing is written when there was nothing to close (as
    its state was last read or written here: by `open_among` for this start)."""
    state = _read(counters).get(provider, (now, None))[1]
    if state is None or (state["failures"] == 0 and state["open_until"] == 0):
        return
    counters.close_breaker(provider)
    _remember(counters, provider, now, 0, state["window_start"], 0)
