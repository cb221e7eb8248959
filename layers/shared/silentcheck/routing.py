"""Which providers may serve a request and in which order: the deployment's table (`table()`, from the
environment's ROUTING, the template parameter `Routing`), and the decisions read from it, no I/O: the plan,
whether a refusal falls back to the next provider, which candidate comes next (`Fallback`). The service
carries them out; the breakers' state is breakers.py's."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from silentcheck import providers
from silentcheck.breakers import CircuitBreaker
from silentcheck.checks import Outcome, Reason, Status
from silentcheck.deps import Providers
from silentcheck.errors import InvalidRequest
from silentcheck.phone import PhoneNumber
from silentcheck.providers.base import DeviceNetwork, TakesOperatorToken

# A refusal that another provider may not share: try the next one. NOT_ON_MOBILE_DATA is not among
# them: every other device-hop provider needs mobile data too (only the operator-token flow does not).
FALL_BACK_ON = frozenset({Reason.CARRIER_UNSUPPORTED, Reason.PROVIDER_ERROR, Reason.PROVIDER_REJECTED})
COVERAGE_PROVIDER = "truid"  # tru.ID's Coverage API answers for the device IP

# -- the table ---------------------------------------------------------------------------------------

DEFAULT_ROUTING = '{"default": ["truid"], "app_may_choose": ["truid", "camara", "infobip"]}'
_ROUTING_KEYS = frozenset({"default", "countries", "disabled", "app_may_choose", "coverage_precheck", "networks",
                           "circuit_breaker", "sim_swap"})
_BREAKER_KEYS = frozenset({"failures", "window_seconds", "open_seconds"})


class RoutingInvalid(RuntimeError):
    """The ROUTING table cannot be used; the message says where and how to fix it."""


@dataclass(frozen=True)
class RoutingTable:
    default: tuple[str, ...]
    countries: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # "44" or "GB" -> providers
    disabled: frozenset[str] = frozenset()
    app_may_choose: frozenset[str] = frozenset()
    coverage_precheck: bool = False  # ask tru.ID's coverage API about the caller's IP first
    networks: Mapping[str, frozenset[str]] = field(default_factory=dict)  # provider -> MCC+MNC it serves
    circuit_breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    sim_swap: frozenset[str] | None = None  # providers that may answer `sim_swap`; None: every one that can

    def candidates(self, number: PhoneNumber) -> tuple[str, ...]:
        """Providers to try for the number, in order: its region's list, else its calling code's,
        else the default; disabled providers left out."""
        chosen = (self.countries.get(number.region or "") or self.countries.get(str(number.country_code))
                  or self.default)
        enabled = tuple(name for name in chosen if name not in self.disabled)
        return enabled or tuple(name for name in self.default if name not in self.disabled)

    def enabled(self) -> tuple[str, ...]:
        return tuple(name for name in providers.names() if name not in self.disabled)

    def serves(self, provider: str, network_id: str) -> bool:
        allowed = self.networks.get(provider)
        return allowed is None or network_id in allowed


def _names(value: Any, where: str) -> tuple[str, ...]:
    known = providers.names()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RoutingInvalid(f"ROUTING {where} must be a list of provider names ({', '.join(known)})")
    unknown = [v for v in value if v not in known]
    if unknown:
        raise RoutingInvalid(f"ROUTING {where} names unknown providers {unknown}; known: {', '.join(known)}")
    if len(set(value)) != len(value):
        raise RoutingInvalid(f"ROUTING {where} lists a provider twice")
    return tuple(value)


def _country_key(key: str) -> str:
    if key.isdigit() and 1 <= len(key) <= 3 and not key.startswith("0"):
        return key
    if len(key) == 2 and key.isalpha() and key.isupper():
        return key
    raise RoutingInvalid(f"ROUTING countries key {key!r} must be a calling code like \"44\" or an ISO 3166 "
                         "region like \"GB\"")


def _breaker(raw: Any) -> CircuitBreaker:
    if raw is None:
        return CircuitBreaker()
    if not isinstance(raw, dict) or not set(raw) <= _BREAKER_KEYS:
        raise RoutingInvalid(f"ROUTING circuit_breaker must be an object with {', '.join(sorted(_BREAKER_KEYS))}")
    for key, value in raw.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise RoutingInvalid(f"ROUTING circuit_breaker.{key} must be a positive integer")
    return CircuitBreaker(**raw)


@cache
def parse_table(text: str) -> RoutingTable:
    """The table from its JSON text (parsed once per text); RoutingInvalid says exactly what is wrong."""
    try:
        raw = json.loads(text)
    except ValueError as error:
        raise RoutingInvalid(f"ROUTING is not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise RoutingInvalid("ROUTING must be a JSON object with a \"default\" provider list")
    unknown = set(raw) - _ROUTING_KEYS
    if unknown:
        raise RoutingInvalid(f"ROUTING has unknown keys {sorted(unknown)}; allowed: {', '.join(sorted(_ROUTING_KEYS))}")
    if "default" not in raw:
        raise RoutingInvalid("ROUTING needs a \"default\" list, e.g. {\"default\": [\"truid\"]}")
    countries = raw.get("countries", {})
    if not isinstance(countries, dict):
        raise RoutingInvalid("ROUTING countries must be an object mapping calling codes or regions to lists")
    networks = raw.get("networks", {})
    if not isinstance(networks, dict) or not all(isinstance(v, list) for v in networks.values()):
        raise RoutingInvalid("ROUTING networks must map provider names to lists of MCC+MNC network ids")
    _names(list(networks), "networks")
    coverage = raw.get("coverage_precheck", False)
    if not isinstance(coverage, bool):
        raise RoutingInvalid("ROUTING coverage_precheck must be true or false")
    table = RoutingTable(
        default=_names(raw["default"], "default"),
        countries={_country_key(str(k)): _names(v, f"countries[{k!r}]") for k, v in countries.items()},
        disabled=frozenset(_names(raw.get("disabled", []), "disabled")),
        app_may_choose=frozenset(_names(raw.get("app_may_choose", []), "app_may_choose")),
        coverage_precheck=coverage,
        networks={k: frozenset(str(n) for n in v) for k, v in networks.items()},
        circuit_breaker=_breaker(raw.get("circuit_breaker")),
        sim_swap=frozenset(_names(raw["sim_swap"], "sim_swap")) if "sim_swap" in raw else None,
    )
    if not table.candidates(PhoneNumber("+0", 0, None)):
        raise RoutingInvalid("ROUTING default lists no enabled provider")
    return table


def table() -> RoutingTable:
    """The deployment's routing table, from ROUTING (a default when unset), parsed at its first use."""
    return parse_table(os.environ.get("ROUTING") or DEFAULT_ROUTING)


# -- the decisions -------------------------------------------------------------------------------------


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
