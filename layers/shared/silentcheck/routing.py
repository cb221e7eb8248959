"""Decisions only, no I/O: which providers may serve a request and in which order, whether a refusal
falls back to the next one, which candidate comes next (`Fallback`), and the circuit breakers' verdict.
The service carries them out; the table they read is config.routing()."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from silentcheck import providers
from silentcheck.checks import Outcome, Reason, Status
from silentcheck.config import CircuitBreaker, RoutingTable
from silentcheck.deps import Providers
from silentcheck.errors import InvalidRequest
from silentcheck.phone import PhoneNumber
from silentcheck.providers.base import DeviceNetwork, TakesOperatorToken

# A refusal that another provider may not share: try the next one. NOT_ON_MOBILE_DATA is not among
# them: every other device-hop provider needs mobile data too (only the operator-token flow does not).
FALL_BACK_ON = frozenset({Reason.CARRIER_UNSUPPORTED, Reason.PROVIDER_ERROR, Reason.PROVIDER_REJECTED})
COVERAGE_PROVIDER = "truid"  # tru.ID's Coverage API answers for the device IP


def plan(table: RoutingTable, number: PhoneNumber, requested: str | None, operator_token: bool,
         registry: Providers = providers) -> tuple[str, ...]:
    """The providers to try for this request, in order; InvalidRequest when the app asks for too much."""
    known = registry.names()
    if requested is not None:
        if requested not in known:
            raise InvalidRequest(f"provider must be one of: {', '.join(known)}")
        allowed = sorted(table.app_may_choose - table.disabled)
        if requested not in allowed:
            raise InvalidRequest(f"this deployment does not let apps choose provider {requested!r}; leave provider "
                                 "out" + (f" or use one of: {', '.join(allowed)}" if allowed else ""))
        candidates: tuple[str, ...] = (requested,)
    else:
        candidates = table.candidates(number)
    if not operator_token:
        return candidates
    pool = candidates if requested is not None else (*candidates, *table.enabled())
    takes = {n for n in known if isinstance(registry.get(n), TakesOperatorToken)}
    takers = tuple(dict.fromkeys(n for n in pool if n in takes))
    if not takers:
        taking = [n for n in table.enabled() if n in takes]
        raise InvalidRequest(f"provider {requested} does not take an operator_token; leave provider out"
                             + (f" or use {', '.join(taking)}" if taking else "") if requested is not None
                             else "no provider of this deployment takes an operator_token")
    return takers


def may_fall_back(outcome: Outcome) -> bool:
    return outcome.status is Status.FAILED and outcome.reason in FALL_BACK_ON


def serving(table: RoutingTable, candidates: tuple[str, ...], device: DeviceNetwork) -> tuple[str, ...]:
    """The candidates that serve the device's network: tru.ID per its coverage answer, the others per
    the table's `networks` (a provider without a list serves every network)."""
    kept = []
    for name in candidates:
        if name == COVERAGE_PROVIDER:
            if device.coverage_provider_serves:
                kept.append(name)
        elif device.network_id is None or table.serves(name, device.network_id):
            kept.append(name)
    return tuple(kept)


def breaker_is_open(state: Mapping[str, int] | None, now: int) -> bool:
    """Whether a provider's breaker (its `open_until`, epoch seconds) skips it now."""
    return state is not None and state["open_until"] > now


def breaker_trips(failures: int, config: CircuitBreaker) -> bool:
    """Whether this many outage-type failures within the window open the breaker."""
    return failures >= config.failures


NO_PROVIDER_SERVES = Outcome.failed(Reason.CARRIER_UNSUPPORTED, "no_provider_serves_this_network")
CIRCUIT_OPEN = Outcome.failed(Reason.PROVIDER_ERROR, "circuit_open")


@dataclass
class Fallback:
    """Offering one check to its candidates in turn: `next()` names the provider to offer it to (skipping
    those whose breaker is open), `refused()` records a refusal and says whether another one gets a turn.
    What the check ends with when nobody accepts: `outcome` from `last_tried`, and `attempts`."""

    candidates: tuple[str, ...]
    open_breakers: frozenset[str] = frozenset()
    attempts: list[str] = field(default_factory=list)  # "<provider>:<reason>:<raw code>", in order
    outcome: Outcome = NO_PROVIDER_SERVES
    last_tried: str | None = None
    _position: int = field(default=0, init=False, repr=False)
    _over: bool = field(default=False, init=False, repr=False)

    def next(self) -> str | None:
        """The next provider to offer the check to; None when fallback is over."""
        while not self._over and self._position < len(self.candidates):
            name = self.candidates[self._position]
            self._position += 1
            if name in self.open_breakers:
                self.attempts.append(f"{name}:skipped:circuit_open")
                if self.last_tried is None:
                    self.outcome = CIRCUIT_OPEN
                continue
            self.last_tried = name
            return name
        return None

    def refused(self, name: str, outcome: Outcome) -> bool:
        """Record that `name` refused with `outcome`; True when the check falls back to a later candidate."""
        self.outcome = outcome
        self.attempts.append(f"{name}:{outcome.reason or outcome.status}:{outcome.raw_code}")
        self._over = not may_fall_back(outcome) or self._position == len(self.candidates)
        return not self._over
