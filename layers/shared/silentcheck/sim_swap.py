"""SIM swap in the same check: what the app may ask (`sim_swap.max_age_hours`), which providers can answer
it, and the answer a VERIFIED result carries (its own claim, signed with the verdict). Pure but for asking
the adapters what they can answer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from silentcheck.errors import InvalidRequest, SilentCheckError, SimSwapOutOfRange, SimSwapUnsupported

UNAVAILABLE = "SIM_SWAP_UNAVAILABLE"  # asked for, but the provider gave no answer: never a silent omission
HOUR_MINUTES = 60


@dataclass(frozen=True)
class HoursRange:
    """The `max_age_hours` a provider, as configured, can answer: min_hours to max_hours inclusive."""

    min_hours: int
    max_hours: int

    def covers(self, hours: int) -> bool:
        return self.min_hours <= hours <= self.max_hours


@dataclass(frozen=True)
class SimSwapAnswer:
    """What the provider said about the line's SIM within `max_age_hours`; `swapped` None: no answer."""

    max_age_hours: int
    swapped: bool | None
    changed_within_hours: int | None = None  # tru.ID's `sim_change_within` window, where the operator gives it
    raw_code: str | None = None  # the provider's own code, for the record and the logs

    @classmethod
    def unavailable(cls, max_age_hours: int, raw_code: str) -> SimSwapAnswer:
        return cls(max_age_hours, None, raw_code=raw_code)

    def claim(self) -> dict[str, Any]:
        """The `sim_swap` claim and view field: the answer, or the reason there is none."""
        if self.swapped is None:
            return {"max_age_hours": self.max_age_hours, "swapped": None, "reason": UNAVAILABLE}
        claim: dict[str, Any] = {"max_age_hours": self.max_age_hours, "swapped": self.swapped}
        if self.changed_within_hours is not None:
            claim["changed_within_hours"] = self.changed_within_hours
        return claim


@runtime_checkable
class AnswersSimSwap(Protocol):
    """A provider that can say, in the same check, whether the number's SIM changed lately."""

    def sim_swap_range(self) -> HoursRange | None:
        """The max_age_hours it can answer as configured now; None when it cannot answer at all."""
        ...


class _Registry(Protocol):
    def get(self, name: str) -> Any: ...


def requested_hours(value: object) -> int | None:
    """`sim_swap` of POST /checks: absent (None) or {"max_age_hours": <integer>}; InvalidRequest otherwise."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"max_age_hours"}:
        raise InvalidRequest('sim_swap must be an object with exactly one key, max_age_hours, e.g. '
                             '{"max_age_hours": 168}')
    hours = value["max_age_hours"]
    if not isinstance(hours, int) or isinstance(hours, bool):
        raise InvalidRequest("sim_swap.max_age_hours must be a whole number of hours")
    return hours


def ranges_of(candidates: tuple[str, ...], registry: _Registry,
              allowed: frozenset[str] | None = None) -> dict[str, HoursRange | None]:
    """What each candidate can answer; nothing for a provider the routing table does not let answer
    (`allowed`, ROUTING `sim_swap`; None: every one) or that is not configured."""
    ranges: dict[str, HoursRange | None] = {}
    for name in candidates:
        if allowed is not None and name not in allowed:
            ranges[name] = None
            continue
        try:
            adapter = registry.get(name)
            ranges[name] = adapter.sim_swap_range() if isinstance(adapter, AnswersSimSwap) else None
        except SilentCheckError:
            ranges[name] = None
    return ranges


def answering(candidates: tuple[str, ...], ranges: Mapping[str, HoursRange | None],
              hours: int) -> tuple[str, ...]:
    """The candidates, in order, that can answer `hours`. Refused before any provider call or budget: when
    no candidate can answer SIM swap at all (SimSwapUnsupported), or none can answer this many hours
    (SimSwapOutOfRange, naming each provider's limit)."""
    kept = tuple(name for name in candidates if (r := ranges.get(name)) is not None and r.covers(hours))
    if kept:
        return kept
    able = {name: r for name in candidates if (r := ranges.get(name)) is not None}
    if not able:
        raise SimSwapUnsupported(f"no provider that may serve this number answers sim_swap "
                                 f"({', '.join(candidates)} cannot); leave sim_swap out")
    limits = "; ".join(f"{name}: {r.min_hours} to {r.max_hours}" for name, r in able.items())
    raise SimSwapOutOfRange(f"sim_swap.max_age_hours {hours} cannot be answered; the providers for this number "
                            f"answer max_age_hours of {limits}", limits={n: [r.min_hours, r.max_hours]
                                                                         for n, r in able.items()})


def answer_of(requested: int | None, status_verified: bool, answer: SimSwapAnswer | None) -> SimSwapAnswer | None:
    """The SIM-swap answer a result shows: only on a VERIFIED check that asked for one (nobody learns the SIM
    history of a number the phone does not hold), and `unavailable` when the provider gave none."""
    if requested is None or not status_verified:
        return None
    return answer if answer is not None else SimSwapAnswer.unavailable(requested, "not_answered")
