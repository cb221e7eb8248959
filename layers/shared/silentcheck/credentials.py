"""The deployment's two JSON secrets, each read once and cached per container.

The main secret (SECRET_ID) holds the pepper and the credentials only the API's functions use (CAMARA,
Infobip). The callback secret (CALLBACK_SECRET_ID) holds only what the public provider_callback function
needs (tru.ID's credentials, to read a check back); that function gets no SECRET_ID and no IAM grant on
the main secret, so a flaw behind its public URL reaches neither the pepper nor the other credentials."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from silentcheck import aws, clock
from silentcheck.config import settings


@dataclass(frozen=True)
class _Cached:
    value: dict[str, Any]
    read_at: int


_lock = threading.Lock()
_cached: dict[str, _Cached] = {}


def _read(secret_id: str) -> dict[str, Any]:
    """The parsed secret; refreshed after SECRET_CACHE_SECONDS so rotation takes effect."""
    with _lock:
        now = clock.now()
        cached = _cached.get(secret_id)
        if cached is None or now - cached.read_at >= settings().secret_cache_seconds:
            response = aws.client("secretsmanager").get_secret_value(SecretId=secret_id)
            value = json.loads(response["SecretString"])
            if not isinstance(value, dict):
                raise RuntimeError("a silentcheck secret must be a JSON object")
            cached = _cached[secret_id] = _Cached(value, now)
        return cached.value


def secret() -> dict[str, Any]:
    """The main secret. A function without SECRET_ID (provider_callback) may not read it."""
    secret_id = settings().secret_id
    if secret_id is None:
        raise RuntimeError("this function has no SECRET_ID: it may read only the callback secret")
    return _read(secret_id)


def _section(value: dict[str, Any], name: str) -> dict[str, Any]:
    found = value.get(name) or {}
    if not isinstance(found, dict):
        raise RuntimeError(f"secret key {name!r} must be a JSON object")
    return found


def section(name: str) -> dict[str, Any]:
    """One provider's part of the main secret, e.g. section("camara"); empty when not configured."""
    return _section(secret(), name)


def callback_section(name: str) -> dict[str, Any]:
    """One provider's part of the callback secret, e.g. callback_section("truid"); empty when not configured."""
    return _section(_read(settings().callback_secret_id), name)


def pepper() -> str:
    value = secret().get("pepper")
    if not isinstance(value, str) or len(value) < 16:
        raise RuntimeError("secret key 'pepper' must be a string of at least 16 characters")
    return value


def forget() -> None:
    """Drop the cached secrets (tests, and after a rotation is known to have happened)."""
    with _lock:
        _cached.clear()
