"""A result the customer's backend can trust, for each provider, through the real handlers, DynamoDB
Local and the simulated providers: no verdict without the completion code, and an attestation that an
independent verifier (PyJWT with the served JWKS) accepts, and rejects once anything is altered."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
import requests

from sandbox.stack import SigningSlot
from silentcheck import clock
from tests.integration.conftest import App
from tests.integration.device_flows import DEVICE_FLOWS, TRUID, DeviceFlow, opened, prepare, settle, start

AUDIENCE = "silentcheck"  # the template's AttestationAudience default, which the sandbox deploys


@pytest.fixture(params=DEVICE_FLOWS)
def flow(request: pytest.FixtureRequest, app: App) -> Iterator[DeviceFlow]:
    chosen: DeviceFlow = request.param
    prepare(app, chosen)
    yield chosen
    settle(app, chosen)


def verified_claims(app: App, attestation: str, audience: str = AUDIENCE, leeway: int = 0,
                    verify_iat: bool = True) -> dict[str, Any]:
    """What the customer's backend does (docs/integration.md): the key from the served JWKS by `kid`,
    then signature, algorithm, issuer, audience and expiry."""
    signing_key = jwt.PyJWKClient(f"{app.api}/.well-known/jwks.json", cache_keys=False).get_signing_key_from_jwt(
        attestation)
    claims: dict[str, Any] = jwt.decode(
        attestation, signing_key.key, algorithms=["ES256"], audience=audience, issuer=app.api, leeway=leeway,
        options={"require": ["iss", "aud", "sub", "jti", "iat", "exp"], "verify_iat": verify_iat})
    return claims


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _with_claims(attestation: str, **changes: Any) -> str:
    header, payload, signature = attestation.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return ".".join([header, _b64(json.dumps({**claims, **changes}).encode()), signature])


def _verified_attestation(app: App, flow: DeviceFlow) -> tuple[dict[str, Any], str]:
    check = start(app, flow)
    code = opened(app, flow, check, flow.number)
    view = app.poll(check, code=code).json()
    assert view["status"] == "VERIFIED", view
    return check, str(view["attestation"])


# -- no verdict oracle ----------------------------------------------------------------------------------

def test_another_sims_phone_leaves_a_poll_without_the_code_pending(app: App, flow: DeviceFlow):
    check = start(app, flow)
    opened(app, flow, check, flow.other_sim)

    view = app.poll(check).json()

    assert view["status"] == "PENDING" and "attestation" not in view


def test_another_sims_phone_leaves_a_poll_without_the_code_expired_after_expires_at(
        app: App, flow: DeviceFlow, monkeypatch: pytest.MonkeyPatch):
    check = start(app, flow)
    opened(app, flow, check, flow.other_sim)
    later = clock.now() + 3600
    monkeypatch.setattr(clock, "now", lambda: later)

    view = app.poll(check).json()

    assert (view["status"], view["reason"]) == ("EXPIRED", "DEVICE_TIMEOUT")


def test_another_sims_phone_reads_not_verified_with_the_code(app: App, flow: DeviceFlow):
    check = start(app, flow)
    code = opened(app, flow, check, flow.other_sim)

    view = app.poll(check, code=code).json()

    assert view["status"] == "NOT_VERIFIED"
    assert verified_claims(app, view["attestation"])["status"] == "NOT_VERIFIED"


# -- the attestation ------------------------------------------------------------------------------------

def test_the_right_sim_with_the_code_gets_an_attestation_an_independent_verifier_accepts(app: App, flow: DeviceFlow):
    check, attestation = _verified_attestation(app, flow)

    claims = verified_claims(app, attestation)

    assert (claims["sub"], claims["phone_number"], claims["jti"]) == (flow.number, flow.number, check["check_id"])
    assert (claims["status"], claims["binding"], claims["provider"]) == ("VERIFIED", "device", flow.provider)
    assert 0 < claims["exp"] - claims["iat"] <= 300


@pytest.mark.parametrize("change", [{"phone_number": "+447400900004"}, {"sub": "+447400900004"},
                                    {"status": "VERIFIED", "jti": "another-check"}, {"exp": 4102444800}],
                         ids=["phone_number", "sub", "jti", "exp"])
def test_an_attestation_with_any_claim_altered_is_rejected(app: App, change: dict[str, Any]):
    _, attestation = _verified_attestation(app, TRUID)

    with pytest.raises(jwt.InvalidSignatureError):
        verified_claims(app, _with_claims(attestation, **change))


def test_an_attestation_with_an_altered_signature_is_rejected(app: App):
    _, attestation = _verified_attestation(app, TRUID)
    header, payload, signature = attestation.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[5] ^= 0x01

    with pytest.raises(jwt.InvalidSignatureError):
        verified_claims(app, ".".join([header, payload, _b64(bytes(raw))]))


def test_an_attestation_for_another_audience_is_rejected(app: App):
    _, attestation = _verified_attestation(app, TRUID)

    with pytest.raises(jwt.InvalidAudienceError):
        verified_claims(app, attestation, audience="https://another-backend.example")


def test_an_attestation_past_its_exp_is_rejected(app: App):
    _, attestation = _verified_attestation(app, TRUID)

    with pytest.raises(jwt.ExpiredSignatureError):
        # As the backend would check it 301 s from now (a negative leeway moves "now" forward; iat, which
        # would then lie in the past, is not what this test is about).
        verified_claims(app, attestation, leeway=-301, verify_iat=False)


def test_every_read_serves_the_same_attestation(app: App):
    check = start(app, TRUID)
    code = opened(app, TRUID, check, TRUID.number)

    first, second = (app.poll(check, code=code).json()["attestation"] for _ in range(2))

    assert first == second


def test_the_number_is_not_kept_once_the_attestation_is_signed(app: App):
    check, _ = _verified_attestation(app, TRUID)
    item = app.item(check["check_id"])

    assert "sealed_subject" not in item and "sealed_attestation" in item
    assert TRUID.number.lstrip("+") not in json.dumps(item, default=str)


def test_a_refusal_at_start_is_attested_to_the_poll_token_alone(app: App):
    response = app.start("+447400900098", provider="truid")  # the simulated tru.ID refuses 98 at create
    check = response.json()
    view = app.poll(check).json()

    assert view["status"] == check["status"] == "FAILED"
    assert verified_claims(app, view["attestation"])["reason"] == view["reason"]


# -- the JWKS --------------------------------------------------------------------------------------------

def test_the_jwks_serves_the_signing_key_publicly_and_cacheably(app: App):
    response = requests.get(f"{app.api}/.well-known/jwks.json", timeout=10)

    assert response.status_code == 200
    assert response.headers["Cache-Control"].startswith("public, max-age=")
    (key,) = response.json()["keys"]
    assert (key["kty"], key["crv"], key["alg"], key["use"], key["kid"]) == (
        "EC", "P-256", "ES256", "sig", app.stack.signing_key_id)
    assert "d" not in key


# -- rotating the signing key (docs/integration.md): publish, wait past the JWKS cache, sign, retire ------

Deploy = Callable[[SigningSlot, bool], None]


@pytest.fixture
def rotation(app: App) -> Iterator[Deploy]:
    """Deploy the signing keys with (ActiveSigningKey, KeepPreviousSigningKey); the template's defaults again
    afterwards, for the tests that follow."""
    yield app.stack.deploy_signing_keys
    app.stack.deploy_signing_keys()


def _jwks(app: App) -> dict[str, Any]:
    response = requests.get(f"{app.api}/.well-known/jwks.json", timeout=10)
    assert response.status_code == 200
    served: dict[str, Any] = response.json()
    return served


def _kid(attestation: str) -> str:
    kid: str = jwt.get_unverified_header(attestation)["kid"]
    return kid


def _verified_with(jwks: dict[str, Any], app: App, attestation: str) -> dict[str, Any]:
    """What a backend does with the JWK Set it cached earlier: the key by `kid`, then the usual checks."""
    key = jwt.PyJWKSet.from_dict(jwks)[_kid(attestation)]
    claims: dict[str, Any] = jwt.decode(attestation, key.key, algorithms=["ES256"], audience=AUDIENCE,
                                        issuer=app.api)
    return claims


def test_publishing_the_next_key_serves_it_before_anything_is_signed_with_it(
        app: App, rotation: Deploy):
    current = app.stack.signing_key_id
    rotation("blue", True)
    published = [key["kid"] for key in _jwks(app)["keys"]]
    _, attestation = _verified_attestation(app, TRUID)

    assert published[0] == current and len(published) == 2
    assert _kid(attestation) == current


def test_after_the_switch_a_backends_jwks_cached_at_publication_verifies_the_new_signature(
        app: App, rotation: Deploy):
    rotation("blue", True)
    cached = _jwks(app)  # a verifier's copy, kept for up to max-age
    rotation("green", True)
    _, attestation = _verified_attestation(app, TRUID)

    assert _kid(attestation) == app.stack.signing_key_id
    assert _kid(attestation) in [key["kid"] for key in cached["keys"]]
    assert _verified_with(cached, app, attestation)["status"] == "VERIFIED"


def test_attestations_signed_before_the_switch_still_verify_after_it(app: App, rotation: Deploy):
    _, before = _verified_attestation(app, TRUID)
    rotation("blue", True)
    rotation("green", True)
    _, after = _verified_attestation(app, TRUID)

    assert _kid(before) != _kid(after)
    assert verified_claims(app, before)["status"] == verified_claims(app, after)["status"] == "VERIFIED"


def test_retiring_the_previous_key_leaves_only_the_signing_key_published(app: App,
                                                                          rotation: Deploy):
    rotation("blue", True)
    rotation("green", True)
    rotation("green", False)

    assert [key["kid"] for key in _jwks(app)["keys"]] == [app.stack.signing_key_id]
