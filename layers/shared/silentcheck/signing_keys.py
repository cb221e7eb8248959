"""The signing keys: a compact JWS (ES256) signed by an AWS KMS key whose private half never leaves KMS,
and the JWK Set of the current and previous keys that verifies it (GET /.well-known/jwks.json)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from functools import cache
from typing import Any

from silentcheck import aws
from silentcheck.config import settings

ALGORITHM = "ES256"
KMS_ALGORITHM = "ECDSA_SHA_256"
KEY_SPEC = "ECC_NIST_P256"
_COORDINATE_BYTES = 32  # P-256


class SigningUnavailable(Exception):
    """No signing key is configured (SIGNING_KEY_ID), so no attestation can be issued."""


def key_id(configured: str) -> str:
    """The KMS key id (the JWS `kid`) of a configured key id or key ARN."""
    return configured.rpartition("key/")[2] if configured.startswith("arn:") else configured


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


class KmsSigner:
    """Signs with one KMS key (ECC_NIST_P256, SIGN_VERIFY): one Sign call per attestation."""

    def __init__(self, configured_key: str | None) -> None:
        self.configured_key = configured_key

    def sign(self, payload: Mapping[str, object]) -> str:
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        if not self.configured_key:
            raise SigningUnavailable("SIGNING_KEY_ID is not set: attestations cannot be signed")
        header = {"alg": ALGORITHM, "typ": "JWT", "kid": key_id(self.configured_key)}
        signing_input = f"{_b64(_json(header))}.{_b64(_json(payload))}"
        response = aws.client("kms").sign(KeyId=self.configured_key, Message=signing_input.encode(),
                                          MessageType="RAW", SigningAlgorithm=KMS_ALGORITHM)
        r, s = decode_dss_signature(response["Signature"])  # KMS answers DER; JWS wants r || s
        signature = r.to_bytes(_COORDINATE_BYTES, "big") + s.to_bytes(_COORDINATE_BYTES, "big")
        return f"{signing_input}.{_b64(signature)}"


@cache
def signer() -> KmsSigner:
    return KmsSigner(settings().signing_key_id)


@cache
def public_jwk(configured_key: str) -> dict[str, str]:
    """One key's public half as a JWK; public keys never change, so each is fetched once per container."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    response = aws.client("kms").get_public_key(KeyId=configured_key)
    public = load_der_public_key(response["PublicKey"])
    if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(public.curve, ec.SECP256R1):
        raise RuntimeError(f"signing key {key_id(configured_key)} is not an {KEY_SPEC} key")
    numbers = public.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64(numbers.x.to_bytes(_COORDINATE_BYTES, "big")),
        "y": _b64(numbers.y.to_bytes(_COORDINATE_BYTES, "big")),
        "kid": key_id(configured_key),
        "use": "sig",
        "alg": ALGORITHM,
    }


def jwks() -> dict[str, list[dict[str, str]]]:
    """The current key, and the previous one while a rotation is under way (docs/integration.md)."""
    configured = settings()
    keys = [key for key in (configured.signing_key_id, configured.previous_signing_key_id) if key]
    return {"keys": [public_jwk(key) for key in keys]}


def forget() -> None:
    """Drop the cached signer and public keys (tests, and the sandbox switching keys)."""
    signer.cache_clear()
    public_jwk.cache_clear()
