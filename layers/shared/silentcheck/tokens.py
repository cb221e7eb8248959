"""Random tokens and their stored hashes: the one place secrets are minted and compared."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


def new_token() -> str:
    """A 256-bit URL-safe random value (check ids, poll tokens, states, completion codes)."""
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """What is stored instead of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def matches(token: str | None, stored_digest: str | None) -> bool:
    """Constant-time comparison of a presented token with a stored digest."""
    if not token or not stored_digest:
        return False
    return hmac.compare_digest(digest(token), stored_digest)


def keyed_digest(key: str, value: str) -> str:
    """HMAC-SHA256 lookup key, so the table never holds a plaintext phone number."""
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


def subkey(secret: str, purpose: str) -> bytes:
    """A 256-bit key for one purpose, derived from a deployment secret (domain separation)."""
    return hmac.new(secret.encode(), f"silentcheck/{purpose}".encode(), hashlib.sha256).digest()


def derive(key: bytes, value: str) -> str:
    """A 256-bit URL-safe value only the key holder can compute from `value` (43 characters)."""
    mac = hmac.new(key, value.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

