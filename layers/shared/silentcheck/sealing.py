"""Encryption at rest for the few values a PENDING check keeps but must never store in the clear
(the number a CAMARA /verify needs, a CIBA auth_req_id): AES-256-GCM bound to the check id."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from typing import TYPE_CHECKING

from silentcheck import credentials, tokens
from silentcheck.config import settings

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE_BYTES = 12


class SealBroken(Exception):
    """The sealed value was tampered with, moved to another check, or the pepper changed."""


def may_open() -> bool:
    """Whether this function may open sealed values: only the functions that read the main secret (its
    pepper keys the seal). provider_callback, behind a public URL, has no SECRET_ID: the checks it reads
    carry no sealed values, so a flaw there cannot decrypt the numbers kept for attestations."""
    return settings().secret_id is not None


def _aead() -> AESGCM:
    return _aead_for(credentials.pepper())


@lru_cache(maxsize=2)
def _aead_for(pepper: str) -> AESGCM:
    """The cipher for one pepper: its key derived once per container, anew when the pepper rotates (the key
    of the cache is the pepper, so a value sealed under the old one no longer opens)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(tokens.subkey(pepper, "seal/v1"))


def seal(values: dict[str, str], check_id: str) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    ciphertext = _aead().encrypt(nonce, json.dumps(values).encode(), check_id.encode())
    return nonce + ciphertext


def unseal(blob: bytes, check_id: str) -> dict[str, str]:
    from cryptography.exceptions import InvalidTag

    try:
        plaintext = _aead().decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], check_id.encode())
    except (InvalidTag, ValueError):
        raise SealBroken(f"sealed values of check {check_id[:8]}… cannot be opened") from None
    values = json.loads(plaintext)
    return {str(k): str(v) for k, v in values.items()}


def forget() -> None:
    """Drop the cached cipher (caches.reset_caches)."""
    _aead_for.cache_clear()
