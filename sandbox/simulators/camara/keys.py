"""The simulated CAMARA aggregator's ID tokens, signed by its current key, sound or defective."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

from sandbox.simulators.keypool import KeySet, b64url

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


def _unsigned_input(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return ".".join(b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims))


def id_token(keys: KeySet, claims: dict[str, Any], defect: str | None = None) -> str | None:
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
    elif defect in ("missing_iat", "missing_sub"):
        del claims[defect.removeprefix("missing_")]
    key = keys.current
    if defect == "bad_signature":
        head, body, signature = key.sign_jwt(claims).split(".")
        spoiled = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
        spoiled[0] ^= 0x01
        return f"{head}.{body}.{b64url(bytes(spoiled))}"
    if defect == "alg_none":
        return _unsigned_input({"alg": "none", "typ": "JWT", "kid": key.kid}, claims) + "."
    if defect == "hs256":
        signing_input = _unsigned_input({"alg": "HS256", "typ": "JWT", "kid": key.kid}, claims)
        return f"{signing_input}.{b64url(hmac.new(key.public_pem(), signing_input.encode(), hashlib.sha256).digest())}"
    if defect == "unknown_kid":
        key = keys.stranger()
    elif defect == "rotated":
        key = keys.rotate()
    return key.sign_jwt(claims)
