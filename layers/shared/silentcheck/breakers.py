"""Circuit breakers per provider, counted in the checks table (store.counters) so every container sees
the same state: a provider that keeps failing is skipped for a while instead of adding its timeout to
every check. The verdicts (open now? does this failure trip it?) are routing's."""

from __future__ import annotations

from silentcheck import observability, routing
from silentcheck.config import CircuitBreaker
from silentcheck.deps import Counters


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
    if not routing.breaker_trips(counters.count_failure(provider, now, config.window_seconds), config):
        return False
    counters.open_breaker(provider, now, now + config.open_seconds)
    observability.count(observability.Metric.BREAKER_OPENED, provider=provider)
    return True


def record_success(counters: Counters, provider: str, state: dict[str, int] | None) -> None:
    """A provider that answered closes its breaker; nothing is written when there was nothing to close."""
    if state is None or (state["failures"] == 0 and state["open_until"] == 0):
        return
    counters.close_breaker(provider)
