"""The simulated operator's subscriber records: when each number's current SIM took it (a SIM swap, or a new
line). The simulated network keeps them; the simulated SIM-swap answers (tru.ID SubscriberCheck and SIMCheck,
CAMARA SIM Swap) read them through the network's `GET /subscribers/{msisdn}`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

MAX_HOURS_AGO = 100_000
HOUR_SECONDS = 3600


def hours_ago(value: object) -> float | None:
    """A `sim_changed_hours_ago` as given to the network: None (never changed) or 0 to 100000 hours."""
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= MAX_HOURS_AGO:
        raise ValueError(f"sim_changed_hours_ago must be a number of hours, 0 to {MAX_HOURS_AGO}, got {value!r}")
    return float(value)


class SimChanges:
    """msisdn -> when its current SIM took the number (None: the line never changed SIM)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._changed_at: dict[str, float | None] = {}

    def record(self, msisdn: str, changed_hours_ago: float | None) -> None:
        """The SIM a phone joins with holds the number from now on, since `changed_hours_ago`."""
        at = None if changed_hours_ago is None else self._clock() - changed_hours_ago * HOUR_SECONDS
        with self._lock:
            self._changed_at[msisdn] = at

    def subscriber(self, msisdn: str) -> dict[str, Any] | None:
        """{msisdn, sim_changed_at (epoch seconds or null)}; None for a number no SIM ever held."""
        with self._lock:
            if msisdn not in self._changed_at:
                return None
            return {"msisdn": msisdn, "sim_changed_at": self._changed_at[msisdn]}


def changed_within(sim_changed_at: float | None, now: float, seconds: float) -> bool:
    """Whether the SIM took the number within the last `seconds` (at or after now - seconds)."""
    return sim_changed_at is not None and sim_changed_at >= now - seconds
