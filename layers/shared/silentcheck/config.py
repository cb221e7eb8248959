"""Every deployment setting in one place, parsed and validated once per container: the environment
(`settings()`), the routing table (`routing()`, environment ROUTING) and the start budgets (`limits()`,
environment LIMITS). `reset()` forgets all three, as a new container would."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydantic import BaseModel, Field, HttpUrl, ValidationError

from silentcheck import providers
from silentcheck.phone import PhoneNumber

# -- the environment ---------------------------------------------------------------------------------


class Settings(BaseModel, frozen=True):
    table_name: str = Field(min_length=3)
    idempotency_table_name: str | None = Field(default=None, min_length=3)  # start_check's Idempotency-Key records
    callback_secret_id: str = Field(min_length=1)  # what provider_callback needs; every function reads it
    secret_id: str | None = Field(default=None, min_length=1)  # the main secret; provider_callback has none
    public_api_url: HttpUrl | None = None
    callback_url: HttpUrl | None = None  # provider_callback's function URL; providers post results there
    check_ttl_seconds: int = Field(default=300, ge=60, le=600)
    retention_seconds: int = Field(default=86400, ge=60)
    provider_timeout_seconds: float = Field(default=8.0, gt=0, le=30)
    # Kept back from the invocation's remaining time so the outcome is recorded before Lambda stops it.
    record_margin_seconds: float = Field(default=3.0, ge=0, le=30)
    secret_cache_seconds: int = Field(default=300, ge=0)
    signing_key_id: str | None = None  # the KMS key that signs attestations (poll_result only)
    previous_signing_key_id: str | None = None  # still published in the JWKS during a rotation
    attestation_audience: str = Field(default="silentcheck", min_length=1)
    attestation_ttl_seconds: int = Field(default=300, ge=30, le=300)
    cors_allowed_origins: str = ""  # comma-separated web origins allowed to call the API (app mode)
    # Only the sandbox sets it (its simulators answer on 127.0.0.1 over plain http); a deployment never
    # does, so no provider URL, from the secret or a discovery document, can aim a call at loopback http
    # (the Lambda Runtime API listens there).
    sandbox_loopback_providers: bool = False
    # Flows with binding `none` (tru.ID v0.1, Infobip's no-redirect flow) verify whoever gets the check URL
    # opened on the right phone; they start only when the deployment says so (parameter AllowUnboundChecks).
    allow_unbound_checks: bool = False


_ENV = {
    "table_name": "TABLE_NAME",
    "callback_secret_id": "CALLBACK_SECRET_ID",
    "idempotency_table_name": "IDEMPOTENCY_TABLE_NAME",
    "secret_id": "SECRET_ID",
    "public_api_url": "PUBLIC_API_URL",
    "callback_url": "CALLBACK_URL",
    "check_ttl_seconds": "CHECK_TTL_SECONDS",
    "retention_seconds": "RETENTION_SECONDS",
    "provider_timeout_seconds": "PROVIDER_TIMEOUT_SECONDS",
    "record_margin_seconds": "RECORD_MARGIN_SECONDS",
    "secret_cache_seconds": "SECRET_CACHE_SECONDS",
    "signing_key_id": "SIGNING_KEY_ID",
    "previous_signing_key_id": "PREVIOUS_SIGNING_KEY_ID",
    "attestation_audience": "ATTESTATION_AUDIENCE",
    "attestation_ttl_seconds": "ATTESTATION_TTL_SECONDS",
    "cors_allowed_origins": "CORS_ALLOWED_ORIGINS",
    "sandbox_loopback_providers": "SANDBOX_LOOPBACK_PROVIDERS",
    "allow_unbound_checks": "ALLOW_UNBOUND_CHECKS",
}


@cache
def settings() -> Settings:
    """The environment's settings; RuntimeError names each variable that is wrong."""
    raw = {name: os.environ[var] for name, var in _ENV.items() if os.environ.get(var)}
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{_ENV[str(e['loc'][0])]}: {e['msg']}" for e in exc.errors())
        raise RuntimeError(f"invalid environment settings: {problems}") from None


# -- ROUTING: which providers may serve a number, in which order (template parameter `Routing`) --------

DEFAULT_ROUTING = '{"default": ["truid"], "app_may_choose": ["truid", "camara", "infobip"]}'
_ROUTING_KEYS = frozenset({"default", "countries", "disabled", "app_may_choose", "coverage_precheck", "networks",
                           "circuit_breaker", "sim_swap"})
_BREAKER_KEYS = frozenset({"failures", "window_seconds", "open_seconds"})


class RoutingInvalid(RuntimeError):
    """The ROUTING table cannot be used; the message says where and how to fix it."""


@dataclass(frozen=True)
class CircuitBreaker:
    failures: int = 5  # outage-type failures (5xx, 429, timeouts) within the window…
    window_seconds: int = 60
    open_seconds: int = 30  # …skip the provider for this long


@dataclass(frozen=True)
class RoutingTable:
    default: tuple[str, ...]
    countries: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # "44" or "GB" -> providers
    disabled: frozenset[str] = frozenset()
    app_may_choose: frozenset[str] = frozenset()
    coverage_precheck: bool = False  # ask tru.ID's coverage API about the caller's IP first
    networks: Mapping[str, frozenset[str]] = field(default_factory=dict)  # provider -> MCC+MNC it serves
    circuit_breaker: CircuitBreaker = CircuitBreaker()
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


def parse_routing(text: str) -> RoutingTable:
    """The table from its JSON text; RoutingInvalid says exactly what is wrong."""
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


@cache
def routing() -> RoutingTable:
    """The deployment's routing table, from ROUTING (a default when unset)."""
    return parse_routing(os.environ.get("ROUTING") or DEFAULT_ROUTING)


# -- LIMITS: how many checks one number, one address and the deployment may start (parameter `Limits`) --

DEFAULT_LIMITS = ('{"number": {"count": 5, "window_seconds": 600}, "ip": {"count": 60, "window_seconds": 600},'
                  ' "global": {"count": 10000, "window_seconds": 86400}}')
# The order budgets are spent in: the caller's own address first, so an address past its budget spends
# nobody else's (it cannot lock a number out); the deployment's budget last, so a refused start costs it nothing.
LIMIT_SCOPES = ("ip", "number", "global")
# A number's budget is places for addresses (limits.py): at least two, so one address never holds them all;
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
    global_shards: int = 1  # items the global budget's window is split over (GLOBAL_BUDGET_SHARDS; limits.py)


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


@cache
def limits() -> Limits:
    """The deployment's start budgets, from LIMITS (the defaults when unset), the global one split over
    GLOBAL_BUDGET_SHARDS items (template.yaml derives it from PeakStartsPerSecond)."""
    shards = os.environ.get("GLOBAL_BUDGET_SHARDS") or "1"
    if not shards.isdigit():
        raise LimitsInvalid(f"GLOBAL_BUDGET_SHARDS must be an integer from 1 to {MAX_GLOBAL_SHARDS}")
    return parse_limits(os.environ.get("LIMITS") or DEFAULT_LIMITS, int(shards))


def reset() -> None:
    """Forget every parsed setting: the next call reads the environment again, as a new container would."""
    settings.cache_clear()
    routing.cache_clear()
    limits.cache_clear()
