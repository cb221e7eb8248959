"""The simulated CAMARA aggregator's signing keys (JWKS, rotation) and its ID tokens, sound or defective."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from sandbox.simulators.keypool import KeyDraw

# What an `{"endpoint": "token", "id_token": X}` fault does to the next ID token.
ID_TOKEN_DEFECTS = frozenset({
    "bad_signature",  # RS256 with the current kid, signature bytes altered
    "alg_none",  # unsigned, alg "none"
    "hs256",  # HS256 keyed with the current public key's PEM (the RS/HS confusion attack)
    "wrong_iss",
    "wrong_aud",
    "expired",  # iat 10 min ago, exp 5 min ago
    "nonce_mismatch",  # a nonce that was never sent (also when none was)
    "missing_iat",
    "missing_sub",
    "unknown_kid",  # signed by a key that is not (and never will be) in the JWKS
    "rotated",  # the keys rotate first (old key kept), then the new current key signs
    "missing",  # no id_token in the response at all
})
WRONG_ISSUER = "https://wrong-issuer.example"
WRONG_AUDIENCE = "some-other-client"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _compact_json(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def _unsigned_input(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_compact_json(header)}.{_compact_json(claims)}"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls, draw: KeyDraw) -> SigningKey:
        return cls(secrets.token_urlsafe(12), draw.rsa_key())

    def public_jwk(self) -> dict[str, Any]:
        jwk = RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": self.kid})


class KeyRing:
    """The published keys; the last one signs. Safe to share across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._draw = KeyDraw("camara")
        self._keys = [SigningKey.generate(self._draw)]

    @property
    def current(self) -> SigningKey:
        with self._lock:
            return self._keys[-1]

    def rotate(self, drop_old: bool = False) -> SigningKey:
        key = SigningKey.generate(self._draw)
        with self._lock:
            self._keys = [key] if drop_old else [*self._keys, key]
        return key

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            keys = list(self._keys)
        return {"keys": [key.public_jwk() for key in keys]}

    def kids(self) -> list[str]:
        with self._lock:
            return [key.kid for key in self._keys]

    def id_token(self, claims: dict[str, Any], defect: str | None = None) -> str | None:
        """`claims` signed by the current key, or spoiled as `defect` (one of ID_TOKEN_DEFECTS) says."""
        claims = dict(claims)
        now = int(claims["iat"])
        if defect == "missing":
            return None
        if defect == "wrong_iss":
            claims["iss"] = WRONG_ISSUER
        elif defect == "wrong_aud":
            claims["aud"] = WRONG_AUDIENCE
        elif defect == "expired":
            claims.update(iat=now - 600, exp=now - 300, auth_time=min(claims.get("auth_time", now), now - 600))
        elif defect == "nonce_mismatch":
            claims["nonce"] = secrets.token_urlsafe(16)
        elif defect == "missing_iat":
            del claims["iat"]
        elif defect == "missing_sub":
            del claims["sub"]
        key = self.current
        if defect == "bad_signature":
            head, body, signature = key.sign(claims).split(".")
            spoiled = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
            spoiled[0] ^= 0x01
            return f"{head}.{body}.{_b64(bytes(spoiled))}"
        if defect == "alg_none":
            return _unsigned_input({"alg": "none", "typ": "JWT", "kid": key.kid}, claims) + "."
        if defect == "hs256":
            signing_input = _unsigned_input({"alg": "HS256", "typ": "JWT", "kid": key.kid}, claims)
            mac = hmac.new(key.public_pem(), signing_input.encode(), hashlib.sha256).digest()
            return f"{signing_input}.{_b64(mac)}"
        if defect == "unknown_kid":
            key = SigningKey.generate(self._draw)
        elif defect == "rotated":
            key = self.rotate()
        return key.sign(claims)
