"""ID token validation (OIDC Core §3.1.3.7), client assertions and client credentials tokens, against a JWKS
and a token endpoint served on loopback."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sandbox.httpserver import serve
from silentcheck.providers import oauth
from silentcheck.providers.base import ProviderRefused

ISSUER = "https://op.example"
CLIENT = "client-1"
NONCE = "n-0123456789abcdef0123456789abcdef"


class _Keys:
    def __init__(self) -> None:
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "k1"
        self.published: list[dict[str, Any]] = [self.jwk(self.private, self.kid)]
        self.fetches = 0
        self.uri = ""

    @staticmethod
    def jwk(private: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
        return {**public, "kid": kid, "alg": "RS256", "use": "sig"}

    def app(self, environ, start_response):
        self.fetches += 1
        body = json.dumps({"keys": self.published}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


@pytest.fixture
def keys(moto_env) -> Iterator[_Keys]:
    keys = _Keys()
    server = serve(keys.app)
    keys.uri = f"{server.base_url}/jwks"
    yield keys
    server.stop()


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "ppid-1", "aud": CLIENT, "exp": now + 300, "iat": now, "nonce": NONCE}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _signed(keys: _Keys, claims: dict[str, Any] | None = None, **headers: Any) -> str:
    return jwt.encode(claims or _claims(), keys.private, algorithm="RS256", headers={"kid": keys.kid, **headers})


def _validate(keys: _Keys, token: str, nonce: str | None = NONCE) -> dict[str, Any]:
    return oauth.validate_id_token(token, issuer=ISSUER, client_id=CLIENT, jwks_uri=keys.uri, nonce=nonce)


def _rejected(keys: _Keys, token: str, nonce: str | None = NONCE) -> str:
    with pytest.raises(oauth.OidcError) as error:
        _validate(keys, token, nonce)
    return error.value.code


def test_a_token_signed_by_the_issuer_with_all_claims_is_accepted(keys):
    assert _validate(keys, _signed(keys))["sub"] == "ppid-1"


def test_a_token_signed_by_another_key_with_the_same_kid_is_rejected(keys):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(_claims(), other, algorithm="RS256", headers={"kid": keys.kid})

    assert _rejected(keys, token) == "id_token_bad_signature"


def test_alg_none_is_rejected(keys):
    token = jwt.encode(_claims(), "", algorithm="none")

    assert _rejected(keys, token) == "id_token_alg_not_allowed"


def test_hs256_signed_with_the_public_key_is_rejected(keys):
    import base64
    import hashlib
    import hmac

    public_pem = keys.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo)

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "kid": keys.kid}).encode())
    signing_input = f"{header}.{b64(json.dumps(_claims()).encode())}"
    token = f"{signing_input}.{b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())}"

    assert _rejected(keys, token) == "id_token_alg_not_allowed"


@pytest.mark.parametrize(("claims", "code"), [
    (lambda: _claims(iss="https://evil.example"), "id_token_wrong_iss"),
    (lambda: _claims(aud="someone-else"), "id_token_wrong_aud"),
    (lambda: _claims(exp=int(time.time()) - 3600), "id_token_expired"),
    (lambda: _claims(iat=None), "id_token_missing_iat"),
    (lambda: _claims(sub=None), "id_token_missing_sub"),
    (lambda: _claims(nonce="another-nonce"), "id_token_nonce_mismatch"),
    (lambda: _claims(nonce=None), "id_token_nonce_mismatch"),
    (lambda: _claims(aud=[CLIENT, "other"]), "id_token_wrong_azp"),
])
def test_a_token_with_a_bad_claim_is_rejected(keys, claims, code):
    # Claims are built when the test runs, not at collection: a long suite would expire them first.
    assert _rejected(keys, _signed(keys, claims())) == code


def test_several_audiences_are_accepted_when_azp_is_our_client(keys):
    assert _validate(keys, _signed(keys, _claims(aud=[CLIENT, "other"], azp=CLIENT)))


@pytest.mark.parametrize("aud", [CLIENT, [CLIENT]], ids=["string", "one_element_list"])
def test_an_azp_naming_another_client_is_rejected_even_with_one_audience(keys, aud):
    # OIDC Core §2: azp is the party the token was issued to; one that is not us means it was not ours.
    assert _rejected(keys, _signed(keys, _claims(aud=aud, azp="another-client"))) == "id_token_wrong_azp"


def test_one_audience_with_azp_naming_our_client_is_accepted(keys):
    assert _validate(keys, _signed(keys, _claims(aud=CLIENT, azp=CLIENT)))


def test_without_an_expected_nonce_the_nonce_claim_is_not_required(keys):
    assert _validate(keys, _signed(keys, _claims(nonce=None)), nonce=None)


def test_an_unknown_kid_refetches_the_jwks_once_and_then_verifies(keys):
    _validate(keys, _signed(keys))
    rotated = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keys.published.append(keys.jwk(rotated, "k2"))
    token = jwt.encode(_claims(), rotated, algorithm="RS256", headers={"kid": "k2"})

    assert _validate(keys, token) and keys.fetches == 2


def test_a_kid_not_in_the_refetched_jwks_is_rejected(keys):
    _validate(keys, _signed(keys))
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(_claims(), stranger, algorithm="RS256", headers={"kid": "k9"})

    assert _rejected(keys, token) == "id_token_unknown_kid"
    assert keys.fetches == 2


def test_a_known_kid_is_verified_from_the_cache(keys):
    _validate(keys, _signed(keys))
    _validate(keys, _signed(keys))

    assert keys.fetches == 1


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_client_assertion_carries_the_rfc_7523_claims_and_a_short_lifetime(moto_env, alg):
    private = (rsa.generate_private_key(public_exponent=65537, key_size=2048) if alg == "RS256"
               else ec.generate_private_key(ec.SECP256R1()))
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    auth = oauth.TokenEndpointAuth("private_key_jwt", CLIENT, private_key=pem, key_id="ck", signing_alg=alg)

    assertion = oauth.client_assertion(auth, "https://op.example/token")
    claims = jwt.decode(assertion, private.public_key(), algorithms=[alg], audience="https://op.example/token")

    assert (claims["iss"], claims["sub"], jwt.get_unverified_header(assertion)["kid"]) == (CLIENT, CLIENT, "ck")
    assert 0 < claims["exp"] - claims["iat"] <= 300 and len(claims["jti"]) >= 22


def test_two_client_assertions_never_share_a_jti(moto_env):
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    auth = oauth.TokenEndpointAuth("private_key_jwt", CLIENT, private_key=pem)

    jtis = {jwt.decode(oauth.client_assertion(auth, "aud"), options={"verify_signature": False})["jti"]
            for _ in range(2)}

    assert len(jtis) == 2


def test_client_secret_basic_puts_the_secret_in_the_authorization_header_only():
    auth = oauth.TokenEndpointAuth("client_secret_basic", CLIENT, client_secret="s3cret")

    request = auth.apply({"grant_type": "authorization_code"}, "https://op.example/token", ISSUER)

    assert request.headers["Authorization"].startswith("Basic ") and "s3cret" not in json.dumps(request.data)


@pytest.mark.parametrize("secret", ["b64+/x==", "100%:sure", "with space", "é-ü-€", "plain"])
def test_client_secret_basic_form_encodes_id_and_secret_before_base64(secret):
    auth = oauth.TokenEndpointAuth("client_secret_basic", "id:1+2", client_secret=secret)

    scheme, _, value = auth.apply({}, "https://op.example/token", ISSUER).headers["Authorization"].partition(" ")

    raw_id, colon, raw_secret = base64.b64decode(value, validate=True).decode("ascii").partition(":")
    assert (scheme, colon) == ("Basic", ":")  # RFC 6749 §2.3.1: the server form-decodes each half
    assert (unquote_plus(raw_id), unquote_plus(raw_secret)) == ("id:1+2", secret)




# -- client credentials tokens (tru.ID's), cached in oauth -------------------------------------------


class _TokenEndpoint:
    """Answers each token request with what the test scripts: (status, body, headers)."""

    def __init__(self) -> None:
        self.answer: tuple[int, Any, dict[str, str]] = (200, {"access_token": "t", "expires_in": 3600}, {})
        self.requests: list[dict[str, str]] = []
        self.url = ""

    def app(self, environ, start_response):
        form = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)).decode()
        self.requests.append({**dict(pair.split("=", 1) for pair in form.split("&")),
                              "authorization": environ.get("HTTP_AUTHORIZATION", "")})
        status, body, headers = self.answer
        if isinstance(body, dict) and "access_token" in body:  # each token issued is a new one
            body = {**body, "access_token": f"{body['access_token']}-{len(self.requests)}"}
        raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
        start_response(f"{status} X", [("Content-Type", "application/json"), *headers.items()])
        return [raw]


@pytest.fixture
def token_endpoint(moto_env) -> Iterator[_TokenEndpoint]:
    endpoint = _TokenEndpoint()
    server = serve(endpoint.app)
    endpoint.url = f"{server.base_url}/oauth2/v1/token"
    oauth.forget()
    yield endpoint
    oauth.forget()
    server.stop()


AUTH = oauth.TokenEndpointAuth("client_secret_basic", CLIENT, "s3cret")


def test_a_client_credentials_token_is_asked_for_once_per_scope_and_then_cached(token_endpoint):
    first = oauth.client_credentials_token(token_endpoint.url, AUTH, "phone_check")
    again = oauth.client_credentials_token(token_endpoint.url, AUTH, "phone_check")
    other = oauth.client_credentials_token(token_endpoint.url, AUTH, "coverage")

    assert (first, again, other) == ("t-1", "t-1", "t-2")
    assert [(r["grant_type"], r["scope"]) for r in token_endpoint.requests] == [
        ("client_credentials", "phone_check"), ("client_credentials", "coverage")]
    assert token_endpoint.requests[0]["authorization"] == oauth.basic_authorization(CLIENT, "s3cret")


def test_a_fresh_token_is_asked_for_even_when_one_is_cached(token_endpoint):
    oauth.client_credentials_token(token_endpoint.url, AUTH, "phone_check")

    assert oauth.client_credentials_token(token_endpoint.url, AUTH, "phone_check", fresh=True) == "t-2"


def test_a_token_expiring_within_the_margin_is_not_reused(token_endpoint):
    token_endpoint.answer = (200, {"access_token": "t", "expires_in": oauth.TOKEN_MARGIN_SECONDS}, {})

    oauth.client_credentials_token(token_endpoint.url, AUTH, "phone_check")

    assert oauth.client_credentials_token(token_endpoint.url, AUTH, "phone_check") == "t-2"


@pytest.mark.parametrize(("answer", "raw_code", "reason", "transient", "retry_after"), [
    ((401, {"error": "invalid_client"}, {}), "token:401:invalid_client", "PROVIDER_REJECTED", False, None),
    ((401, {"title": "Unauthorized"}, {}), "token:401", "PROVIDER_REJECTED", False, None),
    ((503, {}, {"Retry-After": "7"}), "token:503", "PROVIDER_ERROR", True, 7),
    ((200, {"expires_in": 60}, {}), "token:malformed", "PROVIDER_ERROR", True, None),
    ((200, b"<html>", {}), "token:malformed", "PROVIDER_ERROR", True, None),
])
def test_a_token_request_that_fails_is_one_provider_failure(token_endpoint, answer, raw_code, reason, transient,
                                                            retry_after):
    token_endpoint.answer = answer

    with pytest.raises(ProviderRefused) as failed:
        oauth.client_credentials_token(token_endpoint.url, AUTH, "phone_check")

    assert (failed.value.outcome.raw_code, failed.value.outcome.reason, failed.value.transient,
            failed.value.retry_after) == (raw_code, reason, transient, retry_after)
