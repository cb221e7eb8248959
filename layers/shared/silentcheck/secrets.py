"""The one JSON secret (credentials, provider base URLs, pepper), read once and cached per container."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from silentcheck import aws, tokens
from silentcheck.settings import settings


@dataclass(frozen=True)
class _Cached:
    value: dict[str, Any]
    read_at: int


_lock = threading.Lock()
_cached: _Cached | None = None


def secret() -> dict[str, Any]:
    """The parsed secret; refreshed after SECRET_CACHE_SECONDS so rotation takes effect."""
    global _cached
    with _lock:
        now = tokens.now()
        if _cached is None or now - _cached.read_at >= settings().secret_cache_seconds:
            response = aws.client("secretsmanager").get_secret_value(SecretId=settings().secret_id)
            value = json.loads(response["SecretString"])
            if not isinstance(value, dict):
                raise RuntimeError("the provider secret must be a JSON object")
            _cached = _Cached(value, now)
        return _cached.value


def section(name: str) -> dict[str, Any]:
    """One provider's part of the secret, e.g. section("truid"); empty when not configured."""
    value = secret().get(name) or {}
    if not isinstance(value, dict):
        raise RuntimeError(f"secret key {name!r} must be a JSON object")
    return value


def pepper() -> str:
    value = secret().get("pepper")
    if not isinstance(value, str) or len(value) < 16:
        raise RuntimeError("secret key 'pepper' must be a string of at least 16 characters")
    return value


def forget() -> None:
    """Drop the cached secret (tests, and after a rotation is known to have happened)."""
    global _cached
    with _lock:
        _cached = None
