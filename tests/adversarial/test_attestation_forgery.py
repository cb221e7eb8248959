"""Attacks on the attestation a customer's backend trusts: forged, re-aimed and replayed JWS.

Attacker: an app user in app mode who hands their backend an attestation. They hold real attestations for their
own number, can read the public JWKS, and can build any JWS they like (alg `none`, HS256 keyed with the public
key, a `kid` or `jku` of their own, an ECDSA signature with r = s = 0), or reuse an attestation meant for another
backend or already presented once.
Assumption: the backend verifies exactly as docs/integration.md's Python snippet does (the snippet is run from
the guide itself), with the JWKS served at /.well-known/jwks.json.
What must hold: every forgery is rejected; only an untouched attestation for the backend's own audience, about
the number its user claims, presented for the first time, is accepted."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.integration.conftest import App, completion_code
from tests.integration.test_integration_guide import AUDIENCE, snippet

ATTACKER, VICTIM = "+447400900004", "+447400900002"


@pytest.fixture
def guide() -> ModuleType:
    """docs/integration.md's Python verifier, run from the guide itself."""
    module = ModuleType("verify_attestation")
    exec(compile(snippet("verify_attestation.py"), "verify_attestation.py", "exec"), module.__dict__)
    return module


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segments(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = token.split(".")
    return (json.loads(base64.urlsafe_b64decode(header + "==")), json.loads(base64.urlsafe_b64decode(payload + "==")))


def _compact(header: dict[str, Any], claims: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}".encode()
    return f"{signing_input.decode()}.{_b64(sign(signing_input))}"


def own_attestation(app: App) -> str:
    """A genuine VERIFIED attestation for the attacker's own number."""
    check = app.started(ATTACKER)
    view = app.poll(check, completion_code(app.open_on_own_phone(check, ATTACKER))).json()
    assert view["status"] == "VERIFIED"
    return str(view["attestation"])


def about_the_victim(genuine: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, claims = _segments(genuine)
    return header, {**claims, "sub": VICTIM, "phone_number": VICTIM, "jti": "forged-" + claims["jti"]}


def _public_pem(app: App) -> bytes:
    jwks_client = jwt.PyJWKClient(f"{app.api}/.well-known/jwks.json")
    key = jwks_client.get_signing_keys()[0].key
    pem: bytes = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem


def _forge(app: App, genuine: str, how: str) -> str:
    header, claims = about_the_victim(genuine)
    if how == "alg_none":
        return _compact({**header, "alg": "none"}, claims, lambda _: b"")
    if how == "hs256_with_the_public_key":
        pem = _public_pem(app)
        return _compact({**header, "alg": "HS256"}, claims, lambda data: hmac.new(pem, data, hashlib.sha256).digest())
    if how == "ecdsa_r_s_zero":
        return _compact(header, claims, lambda _: bytes(64))
    key = ec.generate_private_key(ec.SECP256R1())
    attackers = jwt.encode(claims, key, algorithm="ES256", headers={"kid": "attacker-key"})
    if how == "attackers_kid":
        return attackers
    if how == "attackers_jku":
        return jwt.encode(claims, key, algorithm="ES256",
                          headers={"kid": "attacker-key", "jku": "http://127.0.0.1:9/attacker-jwks.json"})
    if how == "genuine_kid_attackers_key":
        return jwt.encode(claims, key, algorithm="ES256", headers={"kid": header["kid"]})
    raise AssertionError(how)


FORGERIES = ["alg_none", "hs256_with_the_public_key", "ecdsa_r_s_zero", "attackers_kid", "attackers_jku",
             "genuine_kid_attackers_key"]


def verify(app: App, snippet: ModuleType, token: str, *, phone_number: str = VICTIM, audience: str = AUDIENCE,
           seen: set[str] | None = None) -> dict[str, Any]:
    claims: dict[str, Any] = snippet.verify_attestation(
        token, api_url=app.api, audience=audience, phone_number=phone_number,
        jwks_client=jwt.PyJWKClient(f"{app.api}/.well-known/jwks.json"), seen=set() if seen is None else seen)
    return claims


def rejected(snippet: ModuleType) -> tuple[type[Exception], ...]:
    return (jwt.PyJWTError, snippet.AttestationRejected)


@pytest.mark.parametrize("how", FORGERIES)
def test_a_forged_attestation_for_the_victims_number_is_rejected(app: App, guide: ModuleType, how: str):
    forged = _forge(app, own_attestation(app), how)

    with pytest.raises(rejected(guide)):
        verify(app, guide, forged)


def test_the_attackers_own_attestation_is_rejected_for_the_victims_number(app: App, guide: ModuleType):
    with pytest.raises(guide.AttestationRejected):
        verify(app, guide, own_attestation(app), phone_number=VICTIM)


def test_an_attestation_issued_for_another_audience_is_rejected(app: App, guide: ModuleType):
    with pytest.raises(jwt.InvalidAudienceError):
        verify(app, guide, own_attestation(app), phone_number=ATTACKER, audience="another-backend")


def test_a_replayed_attestation_is_rejected(app: App, guide: ModuleType):
    genuine, seen = own_attestation(app), set[str]()
    verify(app, guide, genuine, phone_number=ATTACKER, seen=seen)  # the first presentation is accepted

    with pytest.raises(guide.AttestationRejected):
        verify(app, guide, genuine, phone_number=ATTACKER, seen=seen)
