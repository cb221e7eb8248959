"""The deployment's settings from the environment (`settings()`), parsed and validated once per container;
`reset()` forgets them, as a new container would. The routing table is routing.py's, the start budgets
(LIMITS) limits.py's. Imports nothing of ours."""

from __future__ import annotations

import os
from functools import cache

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


def reset() -> None:
    """Forget every parsed setting: the next call reads the environment again, as a new container would."""
    settings.cache_clear()
