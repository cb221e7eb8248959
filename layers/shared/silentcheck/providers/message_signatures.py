"""Signed HTTP messages as tru.ID signs its callbacks (draft-cavage "Signing HTTP Messages" with an RSA
key from a JWKS, plus a `digest` header over the raw body). Facts: truid-phonecheck.md §5."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

REQUIRED_HEADERS = frozenset({"(request-target)", "host", "date", "digest"})
ALGORITHMS = frozenset({"rsa-sha256", "hs2019"})  # hs2019: the algorithm comes from the key (RSA here)
MAX_CLOCK_SKEW_SECONDS = 300
_PARAM = re.compile(r'(\w+)="([^"]*)"')


class SignatureInvalid(Exception):
    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def _digest_matches(header: str, body: bytes) -> bool:
    """`SHA-256=<base64>` (RFC 3230), or hex, which tru.ID's own example shows."""
    name, _, value = header.partition("=")
    if name.strip().upper() != "SHA-256" or not value:
        return False
    raw = hashlib.sha256(body).digest()
    candidates = (base64.b64encode(raw).decode(), raw.hex())
    return any(hmac.compare_digest(value.strip().encode(), c.encode()) for c in candidates)


def verify(method: str, path_and_query: str, headers: Mapping[str, str], body: bytes, now: int,
           public_key_for: Callable[[str], Any]) -> None:
    """Raise SignatureInvalid unless the message is signed, fresh, and its body is the one signed.
    `headers` have lower-case names; `public_key_for(key_id)` returns a cryptography RSA public key."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    scheme, _, rest = headers.get("authorization", "").partition(" ")
    if scheme != "Signature":
        raise SignatureInvalid("no_signature")
    params = dict(_PARAM.findall(rest))
    signed = params.get("headers", "date").lower().split()
    if params.get("algorithm", "").lower() not in ALGORITHMS:
        raise SignatureInvalid("algorithm")
    if not set(signed) >= REQUIRED_HEADERS or not params.get("keyId") or not params.get("signature"):
        raise SignatureInvalid("incomplete_signature")
    if not _digest_matches(headers.get("digest", ""), body):
        raise SignatureInvalid("digest")
    try:
        sent_at = parsedate_to_datetime(headers.get("date", "")).timestamp()
    except (TypeError, ValueError):
        raise SignatureInvalid("date") from None
    if abs(now - sent_at) > MAX_CLOCK_SKEW_SECONDS:
        raise SignatureInvalid("stale_date")
    lines = []
    for name in signed:
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {path_and_query}")
        elif name in headers:
            lines.append(f"{name}: {headers[name]}")
        else:
            raise SignatureInvalid("signed_header_missing")
    try:
        signature = base64.b64decode(params["signature"], validate=True)
    except (binascii.Error, ValueError):
        raise SignatureInvalid("signature_encoding") from None
    key = public_key_for(params["keyId"])
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureInvalid("key_type")
    try:
        key.verify(signature, "\n".join(lines).encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise SignatureInvalid("bad_signature") from None
