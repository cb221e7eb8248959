"""Environment settings, parsed and validated once per container."""

from __future__ import annotations

import os
from functools import cache

from pydantic import BaseModel, Field, HttpUrl, ValidationError


class Settings(BaseModel, frozen=True):
    table_name: str = Field(min_length=3)
    secret_id: str = Field(min_length=1)
    public_api_url: HttpUrl | None = None
    callback_url: HttpUrl | None = None  # provider_callback's function URL; providers post results there
    check_ttl_seconds: int = Field(default=300, ge=60, le=600)
    retention_seconds: int = Field(default=86400, ge=60)
    provider_timeout_seconds: float = Field(default=8.0, gt=0, le=30)
    secret_cache_seconds: int = Field(default=300, ge=0)


_ENV = {
    "table_name": "TABLE_NAME",
    "secret_id": "SECRET_ID",
    "public_api_url": "PUBLIC_API_URL",
    "callback_url": "CALLBACK_URL",
    "check_ttl_seconds": "CHECK_TTL_SECONDS",
    "retention_seconds": "RETENTION_SECONDS",
    "provider_timeout_seconds": "PROVIDER_TIMEOUT_SECONDS",
    "secret_cache_seconds": "SECRET_CACHE_SECONDS",
}


@cache
def settings() -> Settings:
    raw = {field: os.environ[var] for field, var in _ENV.items() if os.environ.get(var)}
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{_ENV[str(e['loc'][0])]}: {e['msg']}" for e in exc.errors())
        raise RuntimeError(f"invalid environment settings: {problems}") from None
