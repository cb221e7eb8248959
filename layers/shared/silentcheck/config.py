"""The deployment's settings from the environment, parsed and validated once per container: the
environment variables (`settings()`) and the start budgets (`limits()`, environment LIMITS). `reset()`
forgets both, as a new container would. The routing table is routing.py's. Imports nothing of ours."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel, Field, HttpUrl, ValidationError

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
    limits.cache_clear()
