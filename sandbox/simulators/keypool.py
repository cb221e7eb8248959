"""The simulators' RSA signing keys: one key type, one set of published keys per simulator.

Making a 2048-bit key costs about 0.1 s of CPU, and the tests start hundreds of simulators, so keys are made once
per process and handed out again: a `KeySet` never draws the same key twice (rotations and the
"unknown key" faults need a key it has not published), while the next simulator of the same kind starts again
from the first key. Each kind (`truid`, `camara`) has a pool of its own, so no two providers share a key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

KEY_SIZE = 2048
_pools: defaultdict[str, list[rsa.RSAPrivateKey]] = defaultdict(list)
_pools_lock = threading.Lock()


def _pooled(kind: str, index: int) -> rsa.RSAPrivateKey:
    with _pools_lock:
        pool = _pools[kind]
        while len(pool) <= index:
            pool.append(rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE))
        return pool[index]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_uint(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass(frozen=True)
class SigningKey:
    """An RSA key pair; `kid` is its RFC 7638 JWK thumbprint."""

    kid: str
    private_key: rsa.RSAPrivateKey

    @classmethod
    def of(cls, private_key: rsa.RSAPrivateKey) -> SigningKey:
        numbers = private_key.public_key().public_numbers()
        canonical = json.dumps({"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)},
                               separators=(",", ":"), sort_keys=True)
        return cls(b64url(hashlib.sha256(canonical.encode()).digest()), private_key)

    def jwk(self) -> dict[str, str]:
        numbers = self.private_key.public_key().public_numbers()
        return {"kty": "RSA", "kid": self.kid, "alg": "RS256", "use": "sig",
                "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)}

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, data: bytes) -> bytes:
        """RSASSA-PKCS1-v1_5 with SHA-256 (RS256)."""
        return self.private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def sign_jwt(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": self.kid})


class KeySet:
    """A simulator's published keys: the current one signs, rotated-out ones stay published unless dropped, and
    a stranger (never published) signs the "unknown kid" faults. The JWKS lists the keys newest first or oldest
    first, as the provider does. The first key is made in the background at start; safe to share across threads."""

    def __init__(self, kind: str, newest_first: bool) -> None:
        self._kind = kind
        self._drawn = 0  # how many keys of the kind's pool this set has used
        self._newest_first = newest_first
        self._lock = threading.RLock()  # re-entered by _draw when the stranger is made
        self._keys: list[SigningKey] = []  # oldest first
        self._stranger: SigningKey | None = None
        self._ready = threading.Event()
        threading.Thread(target=self._make_first, name=f"{kind}-keygen", daemon=True).start()

    def _make_first(self) -> None:
        key = self._draw()
        with self._lock:
            self._keys.append(key)
        self._ready.set()

    def _draw(self) -> SigningKey:
        with self._lock:
            index, self._drawn = self._drawn, self._drawn + 1
        return SigningKey.of(_pooled(self._kind, index))

    @property
    def current(self) -> SigningKey:
        return self._published()[-1]

    def kids(self) -> list[str]:
        return [key.kid for key in self._listed()]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.jwk() for key in self._listed()]}

    def rotate(self, drop_old: bool = False) -> SigningKey:
        """A new current key; the old ones stay published unless `drop_old`."""
        self._ready.wait()
        key = self._draw()
        with self._lock:
            self._keys = [key] if drop_old else [*self._keys, key]
        return key

    def stranger(self) -> SigningKey:
        with self._lock:
            if self._stranger is None:
                self._stranger = self._draw()
            return self._stranger

    def _published(self) -> list[SigningKey]:
        self._ready.wait()
        with self._lock:
            return list(self._keys)

    def _listed(self) -> list[SigningKey]:
        keys = self._published()
        return keys[::-1] if self._newest_first else keys
