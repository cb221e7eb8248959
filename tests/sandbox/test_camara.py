"""The simulated CAMARA Number Verification aggregator over real HTTP on loopback, beside the simulated
mobile network, driven by simulated phones (cellular and Wi-Fi) and a backend-like HTTP client."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from sandbox.device import OpenResult, Phone, bound_session
from sandbox.simulators.camara import RESUME_PATH, CamaraClient, CamaraConfig, CamaraSimulator, make_app
from sandbox.simulators.network_client import register_partner
from tests.servers import SwappableServer, basic_auth

SIM = "+447400900002"
OTHER_NUMBER = "+447400900013"
REDIRECT_URI = "https://app.example.com/camara/return?flow=signup"
PURPOSE = "dpv:FraudPreventionAndDetection"
VERIFY = f"openid {PURPOSE} number-verification:verify"
SHARE = f"openid {PURPOSE} number-verification:device-phone-number:read"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-extra"
NONCE = "n-0S6_WzA2Mj"
CIBA = "urn:openid:params:grant-type:ciba"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
NOT_BY_NETWORK = "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK"

BASIC = ("basic-client", "basic-secret")
MOCK = ("mock_sandbox_app_id", "mock_sandbox_app_secret")
SYMBOLS = ("symbols-client", "b64+/x==%3A:é secret")  # every character form-encoding changes
RS_CLIENT, ES_CLIENT, LAX_CLIENT = "rs-client", "es-client", "lax-client"
ISSUER_AUD_CLIENT = "fapi-client"  # wants the issuer as its assertions' audience
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_JWK = {**RSAAlgorithm.to_jwk(RSA_KEY.public_key(), as_dict=True), "kid": "rs-key", "alg": "RS256"}
EC_JWK = {**ECAlgorithm.to_jwk(EC_KEY.public_key(), as_dict=True), "kid": "es-key"}
SIGNERS: dict[str, tuple[Any, str, str]] = {RS_CLIENT: (RSA_KEY, "RS256", "rs-key"),
                                             ES_CLIENT: (EC_KEY, "ES256", "es-key"),
                                             ISSUER_AUD_CLIENT: (EC_KEY, "ES256", "es-key")}
CLIENTS = {
    BASIC[0]: CamaraClient(redirect_uris=(REDIRECT_URI,), client_secret=BASIC[1]),
    MOCK[0]: CamaraClient(redirect_uris=(REDIRECT_URI,), client_secret=MOCK[1], mode="mock"),
    SYMBOLS[0]: CamaraClient(redirect_uris=(REDIRECT_URI,), client_secret=SYMBOLS[1]),
    RS_CLIENT: CamaraClient(redirect_uris=(REDIRECT_URI,), public_jwk=RSA_JWK),
    ES_CLIENT: CamaraClient(redirect_uris=(REDIRECT_URI,), public_jwk=EC_JWK),
    ISSUER_AUD_CLIENT: CamaraClient(redirect_uris=(REDIRECT_URI,), public_jwk=EC_JWK, assertion_audience="issuer"),
    LAX_CLIENT: CamaraClient(redirect_uris=(REDIRECT_URI,), client_secret="lax-secret", require_pkce=False),
}
R13_BAD_NUMBERS = ["string_value", "1234567890", "+12334foo22222", "+00012230304913849", "123", "++49565456787"]


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def sha256_hex(number: str) -> str:
    return hashlib.sha256(number.encode()).hexdigest()


class Clock:
    def __init__(self) -> None:
        self.now = float(int(time.time()))  # real time, so PyJWT accepts the ID tokens as fresh

    def __call__(self) -> float:
        return self.now


@dataclass
class Aggregator:
    """A running simulator plus what a backend (token, API calls) and a phone (authorize) do with it."""

    base_url: str
    sim: CamaraSimulator
    clock: Clock
    network_url: str
    http: requests.Session = field(default_factory=requests.Session)

    # -- the front channel ------------------------------------------------------------------------

    def authorize_url(self, **overrides: Any) -> str:
        params = {"response_type": "code", "client_id": BASIC[0], "redirect_uri": REDIRECT_URI, "scope": VERIFY,
                  "state": "st-" + uuid.uuid4().hex, "nonce": NONCE, "prompt": "none",
                  "code_challenge": s256(VERIFIER), "code_challenge_method": "S256", **overrides}
        return f"{self.base_url}/authorize?" + urlencode({k: v for k, v in params.items() if v is not None})

    def authorize(self, phone: Phone, **overrides: Any) -> dict[str, str]:
        """The query of the redirect to the client that ends the phone's trip."""
        return final_redirect(phone.open(self.authorize_url(**overrides)))

    def code(self, phone: Phone, **overrides: Any) -> str:
        params = self.authorize(phone, **overrides)
        assert "code" in params, params
        return params["code"]

    # -- the back channel -------------------------------------------------------------------------

    def post_token(self, data: dict[str, str], auth: Any = BASIC, **kwargs: Any) -> requests.Response:
        return self.http.post(f"{self.base_url}/token", data=data, auth=auth, timeout=10, **kwargs)

    def redeem(self, code: str, auth: Any = BASIC, **overrides: Any) -> requests.Response:
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
                "code_verifier": VERIFIER, **overrides}
        return self.post_token({k: v for k, v in data.items() if v is not None}, auth)

    def tokens(self, phone: Phone, client: tuple[str, str] = BASIC, **overrides: Any) -> dict[str, Any]:
        response = self.redeem(self.code(phone, client_id=client[0], **overrides), auth=client)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def access_token(self, phone: Phone, **overrides: Any) -> str:
        return str(self.tokens(phone, **overrides)["access_token"])

    def assertion(self, client_id: str, **claims: Any) -> dict[str, str]:
        key, alg, kid = SIGNERS[client_id]
        now = int(self.clock.now)
        payload = {"iss": client_id, "sub": client_id, "aud": f"{self.base_url}/token", "iat": now,
                   "exp": now + 60, "jti": uuid.uuid4().hex, **claims}
        payload = {k: v for k, v in payload.items() if v is not None}
        token = jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})
        return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": token}

    def bc_authorize(self, data: dict[str, str], auth: Any = BASIC) -> requests.Response:
        return self.http.post(f"{self.base_url}/bc-authorize", data=data, auth=auth, timeout=10)

    def ciba_start(self, msisdn: str = SIM, scope: str = VERIFY) -> str:
        hint = f"operatortoken:{self.sim.mint_operator_token(msisdn)}"
        response = self.bc_authorize({"scope": scope, "login_hint": hint})
        assert response.status_code == 200, response.text
        return str(response.json()["auth_req_id"])

    def poll(self, auth_req_id: str) -> requests.Response:
        return self.post_token({"grant_type": CIBA, "auth_req_id": auth_req_id})

    def verify(self, token: str | None, body: Any = None, headers: dict[str, str] | None = None,
               **kwargs: Any) -> requests.Response:
        headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
        if body is not None:
            kwargs["json"] = body
        return self.http.post(f"{self.base_url}/number-verification/v2/verify", headers=headers, timeout=10,
                              **kwargs)

    def share(self, token: str | None, headers: dict[str, str] | None = None) -> requests.Response:
        headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
        return self.http.get(f"{self.base_url}/number-verification/v2/device-phone-number", headers=headers,
                             timeout=10)

    def jwks(self) -> jwt.PyJWKSet:
        return jwt.PyJWKSet.from_dict(self.http.get(f"{self.base_url}/jwks", timeout=5).json())

    def admin(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.http.request(method, f"{self.base_url}/_sandbox/{path}", timeout=5, **kwargs)

    def fault(self, endpoint: str, **spec: Any) -> None:
        response = self.admin("POST", "faults", json={"endpoint": endpoint, **spec})
        assert response.status_code == 201, response.text


def final_redirect(opened: OpenResult) -> dict[str, str]:
    """The phone stops at the client's (non-loopback) redirect_uri: the last hop's Location."""
    assert opened.error == "sdk_redirect_error", (opened.status, opened.body, opened.error_description)
    location = opened.hops[-1].location or ""
    assert location.startswith(REDIRECT_URI + "&"), location
    return dict(parse_qsl(urlsplit(location).query))


def assert_oauth_error(response: requests.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["error"] == error, body
    return body


def assert_error_info(response: requests.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"status", "code", "message"} and (body["status"], body["code"]) == (status, code)
    assert body["message"]


def claims_of(id_token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(id_token, options={"verify_signature": False})
    return claims


# -- fixtures -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def camara_server() -> Iterator[SwappableServer]:
    server = SwappableServer()
    yield server
    server.stop()


@pytest.fixture
def make_aggregator(camara_server: SwappableServer, network_url: str) -> Iterator[Callable[..., Aggregator]]:
    made: list[Aggregator] = []

    def make(**overrides: Any) -> Aggregator:
        clock = Clock()
        config = CamaraConfig(**{"network_url": network_url, "clock": clock, **overrides})
        simulator = CamaraSimulator(config, CLIENTS)
        aggregator = Aggregator(camara_server.serve(make_app(simulator)), simulator, clock, config.network_url)
        if config.network_url == network_url:
            register_partner(network_url, f"{aggregator.base_url}{RESUME_PATH}")
        aggregator.http.trust_env = False
        made.append(aggregator)
        return aggregator

    yield make
    for aggregator in made:
        aggregator.http.close()


@pytest.fixture
def agg(make_aggregator: Callable[..., Aggregator]) -> Aggregator:
    return make_aggregator()


@pytest.fixture
def phone(network_url: str) -> Phone:
    return Phone.join(network_url, SIM)


@pytest.fixture
def wifi_phone(network_url: str) -> Phone:
    return Phone.join(network_url, SIM, bearer="wifi")


# -- discovery and keys -----------------------------------------------------------------------------

def test_discovery_advertises_the_endpoints_and_capabilities(agg: Aggregator) -> None:
    meta = agg.http.get(f"{agg.base_url}/.well-known/openid-configuration", timeout=5).json()
    base = agg.base_url
    assert (meta["issuer"], meta["authorization_endpoint"], meta["token_endpoint"]) == (
        base, f"{base}/authorize", f"{base}/token")
    assert (meta["backchannel_authentication_endpoint"], meta["jwks_uri"]) == (f"{base}/bc-authorize", f"{base}/jwks")
    assert meta["response_types_supported"] == ["code"]
    assert meta["grant_types_supported"] == ["authorization_code", CIBA]
    assert meta["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "private_key_jwt"]
    assert meta["token_endpoint_auth_signing_alg_values_supported"] == ["RS256", "ES256"]
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["backchannel_token_delivery_modes_supported"] == ["poll"]
    assert meta["subject_types_supported"] == ["pairwise"]
    assert {"openid", "number-verification:verify", "number-verification:device-phone-number:read"} <= set(
        meta["scopes_supported"])
    assert meta["authorization_response_iss_parameter_supported"] is True


def test_discovery_says_iss_is_not_sent_when_configured_so(make_aggregator: Callable[..., Aggregator]) -> None:
    agg = make_aggregator(send_iss=False)
    meta = agg.http.get(f"{agg.base_url}/.well-known/openid-configuration", timeout=5).json()
    assert meta["authorization_response_iss_parameter_supported"] is False


def test_public_url_is_the_issuer(make_aggregator: Callable[..., Aggregator]) -> None:
    agg = make_aggregator(public_url="https://aggregator.example/")
    meta = agg.http.get(f"{agg.base_url}/.well-known/openid-configuration", timeout=5).json()
    assert (meta["issuer"], meta["token_endpoint"]) == ("https://aggregator.example",
                                                        "https://aggregator.example/token")


def test_jwks_publishes_public_rsa_signing_keys(agg: Aggregator) -> None:
    [key] = agg.http.get(f"{agg.base_url}/jwks", timeout=5).json()["keys"]
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    assert {"kid", "n", "e"} <= set(key) and "d" not in key


def test_jwks_verifies_the_issued_id_token(agg: Aggregator, phone: Phone) -> None:
    id_token = agg.tokens(phone)["id_token"]
    kid = jwt.get_unverified_header(id_token)["kid"]
    claims = jwt.decode(id_token, agg.jwks()[kid].key, algorithms=["RS256"], audience=BASIC[0], issuer=agg.base_url)
    assert claims["nonce"] == NONCE


def test_rotate_keys_adds_a_new_current_key_and_keeps_the_old(agg: Aggregator, phone: Phone) -> None:
    old_kid = agg.jwks().keys[0].key_id
    rotated = agg.admin("POST", "rotate-keys").json()
    assert [k.key_id for k in agg.jwks().keys] == [old_kid, rotated["kid"]]
    assert jwt.get_unverified_header(agg.tokens(phone)["id_token"])["kid"] == rotated["kid"]


def test_rotate_keys_can_drop_the_old_key(agg: Aggregator) -> None:
    rotated = agg.admin("POST", "rotate-keys", json={"drop_old": True}).json()
    assert [k.key_id for k in agg.jwks().keys] == [rotated["kid"]]


# -- /authorize: the network-authenticated code flow -------------------------------------------------

def test_authorize_sends_the_device_through_header_enrichment(agg: Aggregator) -> None:
    response = agg.http.get(agg.authorize_url(), allow_redirects=False, timeout=5)
    location = urlsplit(response.headers["Location"])
    assert response.status_code == 302
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{agg.network_url}/he/authorize"
    query = dict(parse_qsl(location.query))
    assert query["return_to"] == f"{agg.base_url}/authorize/continue" and len(query["session"]) >= 32


def test_code_flow_from_a_cellular_phone_yields_code_state_and_iss(agg: Aggregator, phone: Phone) -> None:
    params = agg.authorize(phone, state="xyz-123")
    assert set(params) == {"flow", "code", "state", "iss"}
    assert (params["flow"], params["state"], params["iss"]) == ("signup", "xyz-123", agg.base_url)
    assert len(base64.urlsafe_b64decode(params["code"] + "==")) >= 16


def test_codes_are_fresh_for_every_flow(agg: Aggregator, phone: Phone) -> None:
    assert len({agg.code(phone) for _ in range(3)}) == 3


def test_wifi_phone_gets_login_required(agg: Aggregator, wifi_phone: Phone) -> None:
    params = agg.authorize(wifi_phone, state="s1")
    assert (params["error"], params["state"], params["iss"]) == ("login_required", "s1", agg.base_url)
    assert "mobile data" in params["error_description"]


def _resume_url(agg: Aggregator, phone: Phone, http: requests.Session) -> str:
    """`phone` opens /authorize and makes the operator's hop; the URL the hop sent it back to."""
    with bound_session(phone.ip) as device:
        hop = device.get(agg.authorize_url(state="s1"), allow_redirects=False, timeout=5).headers["Location"]
        resume: str = device.get(hop, allow_redirects=False, timeout=5).headers["Location"]
        http.cookies.update(device.cookies)
    assert resume.startswith(f"{agg.base_url}/authorize/continue?")
    return resume


def test_authorize_sets_a_device_cookie(agg: Aggregator) -> None:
    response = agg.http.get(agg.authorize_url(), allow_redirects=False, timeout=5)
    assert response.headers["Set-Cookie"].startswith("camara_device=")


def test_a_flow_resumed_from_another_device_ends_in_access_denied(agg: Aggregator, phone: Phone,
                                                                    network_url: str) -> None:
    other = Phone.join(network_url, SIM)
    with requests.Session() as cookies:
        resume = _resume_url(agg, phone, cookies)
        with bound_session(other.ip) as elsewhere:
            elsewhere.cookies.update(cookies.cookies)  # even with the phone's cookie
            response = elsewhere.get(resume, allow_redirects=False, timeout=5)

    params = _error_redirect(response)
    assert (params["error"], params["state"]) == ("access_denied", "s1") and "code" not in params


def test_a_flow_resumed_without_the_cookie_set_at_authorize_ends_in_access_denied(agg: Aggregator,
                                                                                  phone: Phone) -> None:
    with requests.Session() as cookies:
        resume = _resume_url(agg, phone, cookies)
    with bound_session(phone.ip) as device:  # the same address, a fresh cookie jar
        response = device.get(resume, allow_redirects=False, timeout=5)

    assert _error_redirect(response)["error"] == "access_denied"


def test_unregistered_redirect_uri_is_refused_without_redirect(agg: Aggregator, phone: Phone) -> None:
    opened = phone.open(agg.authorize_url(redirect_uri="https://evil.example/cb"))
    assert (opened.status, len(opened.hops), opened.error) == (400, 1, None)
    assert opened.hops[0].location is None and "redirect_uri" in opened.body


def test_redirect_uri_must_match_exactly(agg: Aggregator, phone: Phone) -> None:
    opened = phone.open(agg.authorize_url(redirect_uri=REDIRECT_URI + "&x=1"))
    assert (opened.status, opened.hops[0].location) == (400, None)


def test_unknown_client_is_refused_without_redirect(agg: Aggregator, phone: Phone) -> None:
    opened = phone.open(agg.authorize_url(client_id="nobody"))
    assert (opened.status, opened.hops[0].location) == (400, None)


def test_missing_pkce_is_invalid_request(agg: Aggregator, phone: Phone) -> None:
    params = agg.authorize(phone, code_challenge=None, code_challenge_method=None)
    assert params["error"] == "invalid_request" and "PKCE" in params["error_description"]


@pytest.mark.parametrize("method", ["plain", None])
def test_pkce_other_than_s256_is_invalid_request(agg: Aggregator, phone: Phone, method: str | None) -> None:
    assert agg.authorize(phone, code_challenge_method=method)["error"] == "invalid_request"


def test_pkce_is_optional_for_a_client_registered_without_it(agg: Aggregator, phone: Phone) -> None:
    code = agg.code(phone, client_id=LAX_CLIENT, code_challenge=None, code_challenge_method=None)
    assert agg.redeem(code, auth=(LAX_CLIENT, "lax-secret"), code_verifier=None).status_code == 200


def test_missing_state_is_invalid_request(agg: Aggregator, phone: Phone) -> None:
    params = agg.authorize(phone, state=None)
    assert params["error"] == "invalid_request" and "state" not in params


def test_response_type_other_than_code_is_unsupported(agg: Aggregator, phone: Phone) -> None:
    assert agg.authorize(phone, response_type="token")["error"] == "unsupported_response_type"


@pytest.mark.parametrize("scope", [
    VERIFY,
    f"{PURPOSE} number-verification:verify",
    f"openid {PURPOSE}#number-verification-verify-read",
    f"{PURPOSE}#number-verification-verify-read",
    SHARE,
    f"openid {PURPOSE}#number-verification-share-read",
    f"openid {PURPOSE} number-verification:verify number-verification:device-phone-number:read",
    f"openid {PURPOSE} number-verification:verify sim-swap:check",  # SIM Swap in the same token
    f"openid {PURPOSE} number-verification:verify sim-swap",
])
def test_accepted_scope_forms_get_a_code(agg: Aggregator, phone: Phone, scope: str) -> None:
    assert "code" in agg.authorize(phone, scope=scope)


@pytest.mark.parametrize("scope", [
    "openid number-verification:verify",  # no purpose
    f"openid {PURPOSE} dpv:ServiceProvision number-verification:verify",  # two purposes
    f"openid {PURPOSE}",  # no API scope
    f"openid {PURPOSE} number-verification:verify device-location:verify",  # a scope this aggregator does not know
    f"openid {PURPOSE}#number-verification-verify-read number-verification:verify",  # forms mixed
    f"openid {PURPOSE}#sim-swap",
    "openid  dpv:FraudPreventionAndDetection number-verification:verify",  # empty token
    "",
])
def test_other_scopes_are_invalid_scope(agg: Aggregator, phone: Phone, scope: str) -> None:
    assert agg.authorize(phone, scope=scope)["error"] == "invalid_scope"


@pytest.mark.parametrize("prompt", ["login", "consent"])
def test_prompt_other_than_none_is_invalid_request(agg: Aggregator, phone: Phone, prompt: str) -> None:
    assert agg.authorize(phone, prompt=prompt)["error"] == "invalid_request"


@pytest.mark.parametrize("hint", [f"tel:{SIM}", SIM])
def test_login_hint_accepts_tel_and_plain_e164(agg: Aggregator, phone: Phone, hint: str) -> None:
    assert "code" in agg.authorize(phone, login_hint=hint)


@pytest.mark.parametrize("hint", ["447400900002", "tel:447400900002", "operatortoken:abc", "tel:+44 7700 900002"])
def test_login_hint_in_another_form_is_invalid_request(agg: Aggregator, phone: Phone, hint: str) -> None:
    assert agg.authorize(phone, login_hint=hint)["error"] == "invalid_request"


@pytest.mark.parametrize(("number", "error"), [
    ("+447400900091", "access_denied"), ("+447400900092", "consent_required"), ("+447400900093", "server_error"),
])
def test_login_hint_trigger_numbers_end_in_an_error(agg: Aggregator, phone: Phone, number: str, error: str) -> None:
    params = agg.authorize(phone, login_hint=f"tel:{number}", state="s9")
    assert (params["error"], params["state"], params["iss"]) == (error, "s9", agg.base_url)


def test_trigger_numbers_do_not_apply_to_mock_clients(agg: Aggregator, phone: Phone) -> None:
    assert "code" in agg.authorize(phone, client_id=MOCK[0], login_hint="+447400900091")


def test_iss_is_left_out_when_configured_so(make_aggregator: Callable[..., Aggregator], phone: Phone) -> None:
    agg = make_aggregator(send_iss=False)
    assert "iss" not in agg.authorize(phone)
    assert "iss" not in agg.authorize(phone, response_type="token")


def test_mock_client_gets_a_code_off_mobile_data(agg: Aggregator, wifi_phone: Phone) -> None:
    assert "code" in agg.authorize(wifi_phone, client_id=MOCK[0])


def test_continue_without_a_known_session_is_refused_without_redirect(agg: Aggregator) -> None:
    response = agg.http.get(f"{agg.base_url}/authorize/continue?session=forged", allow_redirects=False, timeout=5)
    assert (response.status_code, response.headers.get("Location")) == (400, None)


def test_a_session_continues_once(agg: Aggregator, phone: Phone) -> None:
    opened = phone.open(agg.authorize_url())
    continue_url = opened.hops[-1].url
    assert urlsplit(continue_url).path == "/authorize/continue"
    response = agg.http.get(continue_url, allow_redirects=False, timeout=5)
    assert (response.status_code, response.headers.get("Location")) == (400, None)


# -- /token: authorization_code -------------------------------------------------------------------

def test_code_redeems_for_a_bearer_token_without_refresh_token(agg: Aggregator, phone: Phone) -> None:
    response = agg.redeem(agg.code(phone))
    body = response.json()
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "id_token"}
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("Bearer", 300, VERIFY)


def test_token_expires_in_follows_the_configuration(make_aggregator: Callable[..., Aggregator],
                                                    phone: Phone) -> None:
    agg = make_aggregator(token_expires_in=120)
    assert agg.tokens(phone)["expires_in"] == 120


def test_no_id_token_without_openid(agg: Aggregator, phone: Phone) -> None:
    assert "id_token" not in agg.tokens(phone, scope=f"{PURPOSE} number-verification:verify")


def test_id_token_carries_the_oidc_claims_with_a_pairwise_sub(agg: Aggregator, phone: Phone) -> None:
    claims = claims_of(agg.tokens(phone)["id_token"])
    assert (claims["iss"], claims["aud"], claims["azp"], claims["nonce"], claims["amr"]) == (
        agg.base_url, BASIC[0], BASIC[0], NONCE, ["nba"])
    assert claims["exp"] - claims["iat"] == 300 and claims["auth_time"] <= claims["iat"]
    assert SIM not in claims["sub"] and SIM[1:] not in claims["sub"] and sha256_hex(SIM) != claims["sub"]


def test_pairwise_sub_is_stable_per_client_and_line(agg: Aggregator, phone: Phone) -> None:
    first, second = (claims_of(agg.tokens(phone)["id_token"])["sub"] for _ in range(2))
    mock = claims_of(agg.tokens(phone, client=MOCK)["id_token"])["sub"]
    assert first == second != mock


def test_id_token_has_no_nonce_when_none_was_sent(agg: Aggregator, phone: Phone) -> None:
    assert "nonce" not in claims_of(agg.tokens(phone, nonce=None)["id_token"])


def test_wrong_verifier_is_invalid_grant(agg: Aggregator, phone: Phone) -> None:
    assert_oauth_error(agg.redeem(agg.code(phone), code_verifier="x" * 43), 400, "invalid_grant")


def test_missing_verifier_is_invalid_grant(agg: Aggregator, phone: Phone) -> None:
    assert_oauth_error(agg.redeem(agg.code(phone), code_verifier=None), 400, "invalid_grant")


def test_code_reuse_is_invalid_grant_and_revokes_the_token(agg: Aggregator, phone: Phone) -> None:
    code = agg.code(phone)
    token = agg.redeem(code).json()["access_token"]
    assert_oauth_error(agg.redeem(code), 400, "invalid_grant")
    assert_error_info(agg.verify(token, {"phoneNumber": SIM}), 401, "UNAUTHENTICATED")


def test_redirect_uri_mismatch_at_token_is_invalid_grant(agg: Aggregator, phone: Phone) -> None:
    code = agg.code(phone)
    assert_oauth_error(agg.redeem(code, redirect_uri="https://app.example.com/camara/return"), 400, "invalid_grant")


def test_missing_redirect_uri_at_token_is_invalid_grant(agg: Aggregator, phone: Phone) -> None:
    assert_oauth_error(agg.redeem(agg.code(phone), redirect_uri=None), 400, "invalid_grant")


def test_expired_code_is_invalid_grant(agg: Aggregator, phone: Phone) -> None:
    code = agg.code(phone)
    agg.clock.now += 61
    assert_oauth_error(agg.redeem(code), 400, "invalid_grant")


def test_code_of_another_client_is_invalid_grant(agg: Aggregator, phone: Phone) -> None:
    code = agg.code(phone)
    assert_oauth_error(agg.redeem(code, auth=MOCK), 400, "invalid_grant")
    assert agg.redeem(code).status_code == 200


def test_unknown_code_is_invalid_grant(agg: Aggregator) -> None:
    assert_oauth_error(agg.redeem("no-such-code"), 400, "invalid_grant")


def test_unknown_grant_type_is_unsupported(agg: Aggregator) -> None:
    assert_oauth_error(agg.post_token({"grant_type": "password"}), 400, "unsupported_grant_type")


def test_token_requires_a_form_body(agg: Aggregator, phone: Phone) -> None:
    response = agg.http.post(f"{agg.base_url}/token", auth=BASIC, timeout=5, json={
        "grant_type": "authorization_code", "code": agg.code(phone), "redirect_uri": REDIRECT_URI,
        "code_verifier": VERIFIER})
    assert_oauth_error(response, 400, "invalid_request")


def test_repeated_form_parameters_are_invalid_request(agg: Aggregator) -> None:
    response = agg.http.post(f"{agg.base_url}/token", auth=BASIC, timeout=5, data="grant_type=a&grant_type=b",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_oauth_error(response, 400, "invalid_request")


# -- client authentication ------------------------------------------------------------------------

def test_basic_with_a_wrong_secret_is_invalid_client(agg: Aggregator, phone: Phone) -> None:
    response = agg.redeem(agg.code(phone), auth=(BASIC[0], "wrong"))
    assert_oauth_error(response, 401, "invalid_client")
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_basic_credentials_are_form_decoded_after_base64(agg: Aggregator, phone: Phone) -> None:
    code = agg.code(phone, client_id=SYMBOLS[0])

    response = agg.redeem(code, auth=basic_auth(*SYMBOLS, form_encoded=True))

    assert response.status_code == 200, response.text


def test_basic_with_the_raw_pair_of_a_secret_that_needs_encoding_is_invalid_client(agg: Aggregator,
                                                                                 phone: Phone) -> None:
    code = agg.code(phone, client_id=SYMBOLS[0])

    response = agg.redeem(code, auth=basic_auth(*SYMBOLS, form_encoded=False))

    assert_oauth_error(response, 401, "invalid_client")


def test_client_secret_in_the_body_is_invalid_client(agg: Aggregator, phone: Phone) -> None:
    response = agg.redeem(agg.code(phone), auth=None, client_id=BASIC[0], client_secret=BASIC[1])
    assert_oauth_error(response, 401, "invalid_client")


def test_no_client_authentication_is_invalid_client(agg: Aggregator, phone: Phone) -> None:
    assert_oauth_error(agg.redeem(agg.code(phone), auth=None), 401, "invalid_client")


def test_two_client_authentication_methods_are_invalid_client(agg: Aggregator, phone: Phone) -> None:
    code = agg.code(phone, client_id=RS_CLIENT)
    assert_oauth_error(agg.redeem(code, auth=BASIC, **agg.assertion(RS_CLIENT)), 401, "invalid_client")


def test_key_only_client_cannot_use_basic(agg: Aggregator, phone: Phone) -> None:
    code = agg.code(phone, client_id=RS_CLIENT)
    assert_oauth_error(agg.redeem(code, auth=(RS_CLIENT, "")), 401, "invalid_client")


def test_secret_only_client_cannot_use_private_key_jwt(agg: Aggregator, phone: Phone) -> None:
    code = agg.code(phone)
    token = jwt.encode({"iss": BASIC[0], "sub": BASIC[0], "aud": f"{agg.base_url}/token", "jti": "j",
                        "exp": int(agg.clock.now) + 60}, RSA_KEY, algorithm="RS256")
    response = agg.redeem(code, auth=None, client_assertion_type=ASSERTION_TYPE, client_assertion=token)
    assert_oauth_error(response, 401, "invalid_client")


@pytest.mark.parametrize("client_id", [ES_CLIENT, RS_CLIENT])
def test_private_key_jwt_authenticates_the_client(agg: Aggregator, phone: Phone, client_id: str) -> None:
    code = agg.code(phone, client_id=client_id)
    response = agg.redeem(code, auth=None, **agg.assertion(client_id))
    assert response.status_code == 200, response.text
    assert claims_of(response.json()["id_token"])["aud"] == client_id


def test_private_key_jwt_of_a_client_wanting_the_issuer_accepts_the_issuer(agg: Aggregator, phone: Phone) -> None:
    code = agg.code(phone, client_id=ISSUER_AUD_CLIENT)
    response = agg.redeem(code, auth=None, **agg.assertion(ISSUER_AUD_CLIENT, aud=agg.base_url))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("aud", ["{base}/token", ["{base}"]], ids=["token_endpoint", "issuer_in_an_array"])
def test_private_key_jwt_of_a_client_wanting_the_issuer_refuses_any_other_audience(agg: Aggregator, phone: Phone,
                                                                                   aud: Any) -> None:
    audience = [a.format(base=agg.base_url) for a in aud] if isinstance(aud, list) else aud.format(base=agg.base_url)
    code = agg.code(phone, client_id=ISSUER_AUD_CLIENT)
    response = agg.redeem(code, auth=None, **agg.assertion(ISSUER_AUD_CLIENT, aud=audience))
    assert_oauth_error(response, 401, "invalid_client")


def test_private_key_jwt_of_a_client_wanting_the_endpoint_refuses_the_issuer(agg: Aggregator, phone: Phone) -> None:
    code = agg.code(phone, client_id=ES_CLIENT)
    assert_oauth_error(agg.redeem(code, auth=None, **agg.assertion(ES_CLIENT, aud=agg.base_url)), 401,
                       "invalid_client")


def test_private_key_jwt_replayed_jti_is_invalid_client(agg: Aggregator, phone: Phone) -> None:
    assertion = agg.assertion(ES_CLIENT)
    assert agg.redeem(agg.code(phone, client_id=ES_CLIENT), auth=None, **assertion).status_code == 200
    response = agg.redeem(agg.code(phone, client_id=ES_CLIENT), auth=None, **assertion)
    assert_oauth_error(response, 401, "invalid_client")


@pytest.mark.parametrize("claims", [
    {"aud": "https://other-aggregator.example/token"},
    {"exp": None},
    {"jti": None},
    {"sub": "someone-else"},
], ids=["wrong_aud", "no_exp", "no_jti", "sub_not_iss"])
def test_private_key_jwt_with_bad_claims_is_invalid_client(agg: Aggregator, phone: Phone,
                                                           claims: dict[str, Any]) -> None:
    code = agg.code(phone, client_id=ES_CLIENT)
    assert_oauth_error(agg.redeem(code, auth=None, **agg.assertion(ES_CLIENT, **claims)), 401, "invalid_client")


def test_private_key_jwt_living_longer_than_300_s_is_invalid_client(agg: Aggregator, phone: Phone) -> None:
    code = agg.code(phone, client_id=RS_CLIENT)
    assertion = agg.assertion(RS_CLIENT, exp=int(agg.clock.now) + 301)
    assert_oauth_error(agg.redeem(code, auth=None, **assertion), 401, "invalid_client")


def test_expired_private_key_jwt_is_invalid_client(agg: Aggregator, phone: Phone) -> None:
    code = agg.code(phone, client_id=RS_CLIENT)
    now = int(agg.clock.now)
    assertion = agg.assertion(RS_CLIENT, iat=now - 120, exp=now - 60)
    assert_oauth_error(agg.redeem(code, auth=None, **assertion), 401, "invalid_client")


def test_private_key_jwt_signed_by_another_key_is_invalid_client(agg: Aggregator, phone: Phone) -> None:
    code = agg.code(phone, client_id=ES_CLIENT)
    intruder = ec.generate_private_key(ec.SECP256R1())
    now = int(agg.clock.now)
    token = jwt.encode({"iss": ES_CLIENT, "sub": ES_CLIENT, "aud": f"{agg.base_url}/token", "iat": now,
                        "exp": now + 60, "jti": "j1"}, intruder, algorithm="ES256", headers={"kid": "es-key"})
    response = agg.redeem(code, auth=None, client_assertion_type=ASSERTION_TYPE, client_assertion=token)
    assert_oauth_error(response, 401, "invalid_client")


def test_private_key_jwt_with_hs256_is_invalid_client(agg: Aggregator, phone: Phone) -> None:
    code = agg.code(phone, client_id=RS_CLIENT)
    now = int(agg.clock.now)
    token = jwt.encode({"iss": RS_CLIENT, "sub": RS_CLIENT, "aud": f"{agg.base_url}/token", "iat": now,
                        "exp": now + 60, "jti": "j2"}, "a-shared-secret-of-32-bytes-len!", algorithm="HS256")
    response = agg.redeem(code, auth=None, client_assertion_type=ASSERTION_TYPE, client_assertion=token)
    assert_oauth_error(response, 401, "invalid_client")


# -- /verify ------------------------------------------------------------------------------------

def test_verify_is_true_for_the_line_behind_the_token(agg: Aggregator, phone: Phone) -> None:
    response = agg.verify(agg.access_token(phone), {"phoneNumber": SIM})
    assert (response.status_code, response.headers["Content-Type"]) == (200, "application/json")
    assert response.json() == {"devicePhoneNumberVerified": True}


def test_verify_is_false_for_another_number(agg: Aggregator, phone: Phone) -> None:
    assert agg.verify(agg.access_token(phone), {"phoneNumber": OTHER_NUMBER}).json() == {
        "devicePhoneNumberVerified": False}


@pytest.mark.parametrize(("hashed", "expected"), [
    (sha256_hex(SIM), True), (sha256_hex(SIM).upper(), True), (sha256_hex(OTHER_NUMBER), False),
    (sha256_hex(SIM[1:]), False),  # hashed without the "+"
])
def test_verify_compares_a_hashed_number_including_the_plus(agg: Aggregator, phone: Phone, hashed: str,
                                                            expected: bool) -> None:
    response = agg.verify(agg.access_token(phone), {"hashedPhoneNumber": hashed})
    assert response.json() == {"devicePhoneNumberVerified": expected}


def test_access_tokens_are_single_use(agg: Aggregator, phone: Phone) -> None:
    token = agg.access_token(phone)
    assert agg.verify(token, {"phoneNumber": SIM}).status_code == 200
    assert_error_info(agg.verify(token, {"phoneNumber": SIM}), 401, "UNAUTHENTICATED")


def test_verify_without_authorization_is_unauthenticated(agg: Aggregator) -> None:
    response = agg.verify(None, {"phoneNumber": SIM})
    assert_error_info(response, 401, "UNAUTHENTICATED")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_verify_with_an_unknown_token_is_unauthenticated(agg: Aggregator) -> None:
    assert_error_info(agg.verify("not-a-token", {"phoneNumber": SIM}), 401, "UNAUTHENTICATED")


def test_verify_with_an_expired_token_is_unauthenticated(agg: Aggregator, phone: Phone) -> None:
    token = agg.access_token(phone)
    agg.clock.now += 300
    assert_error_info(agg.verify(token, {"phoneNumber": SIM}), 401, "UNAUTHENTICATED")


def test_verify_with_a_basic_credential_is_unauthenticated(agg: Aggregator) -> None:
    response = agg.verify(None, {"phoneNumber": SIM}, headers={"Authorization": "Basic YTpi"})
    assert_error_info(response, 401, "UNAUTHENTICATED")


def test_verify_without_the_verify_scope_is_permission_denied(agg: Aggregator, phone: Phone) -> None:
    token = agg.access_token(phone, scope=SHARE)
    assert_error_info(agg.verify(token, {"phoneNumber": SIM}), 403, "PERMISSION_DENIED")


def test_verify_with_a_token_not_from_network_authentication_is_refused(agg: Aggregator) -> None:
    minted = agg.admin("POST", "access-tokens", json={"client_id": BASIC[0], "scope": VERIFY, "msisdn": SIM,
                                                      "amr": ["sms", "otp"]})
    assert minted.status_code == 201, minted.text
    assert_error_info(agg.verify(minted.json()["access_token"], {"phoneNumber": SIM}), 403, NOT_BY_NETWORK)


@pytest.mark.parametrize("body", [
    {}, {"phoneNumber": SIM, "hashedPhoneNumber": sha256_hex(SIM)}, {"additional_property": "foo_value"},
    {"phoneNumber": SIM, "additional_property": "foo_value"}, [SIM], {"phoneNumber": 447400900002},
], ids=["empty", "both", "unknown_only", "unknown_extra", "array", "number_not_string"])
def test_verify_body_must_hold_exactly_one_known_field(agg: Aggregator, phone: Phone, body: Any) -> None:
    assert_error_info(agg.verify(agg.access_token(phone), body), 400, "INVALID_ARGUMENT")


def test_verify_without_a_body_is_invalid_argument(agg: Aggregator, phone: Phone) -> None:
    assert_error_info(agg.verify(agg.access_token(phone)), 400, "INVALID_ARGUMENT")


def test_verify_with_malformed_json_is_invalid_argument(agg: Aggregator, phone: Phone) -> None:
    response = agg.verify(agg.access_token(phone), data='{"phoneNumber": ', headers={
        "Content-Type": "application/json"})
    assert_error_info(response, 400, "INVALID_ARGUMENT")


def test_verify_with_a_non_json_body_is_unsupported_media_type(agg: Aggregator, phone: Phone) -> None:
    response = agg.verify(agg.access_token(phone), data=f"phoneNumber={SIM}", headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    assert_error_info(response, 415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize("number", R13_BAD_NUMBERS)
def test_verify_rejects_a_phone_number_off_the_schema(agg: Aggregator, phone: Phone, number: str) -> None:
    assert_error_info(agg.verify(agg.access_token(phone), {"phoneNumber": number}), 400, "INVALID_ARGUMENT")


@pytest.mark.parametrize("hashed", [sha256_hex(SIM)[:63], sha256_hex(SIM) + "0", "g" * 64, SIM])
def test_verify_rejects_a_hashed_number_off_the_schema(agg: Aggregator, phone: Phone, hashed: str) -> None:
    assert_error_info(agg.verify(agg.access_token(phone), {"hashedPhoneNumber": hashed}), 400, "INVALID_ARGUMENT")


@pytest.mark.parametrize("correlator", ["b4333c46-49c0-4f62-80d7-f0ef930f1c46", "a_b:c;d.e/f<g>{h}", ""])
def test_verify_echoes_the_x_correlator(agg: Aggregator, phone: Phone, correlator: str) -> None:
    response = agg.verify(agg.access_token(phone), {"phoneNumber": SIM}, headers={"x-correlator": correlator})
    assert (response.status_code, response.headers["x-correlator"]) == (200, correlator)


def test_verify_echoes_the_x_correlator_on_errors(agg: Aggregator) -> None:
    response = agg.verify(None, {"phoneNumber": SIM}, headers={"x-correlator": "corr-401"})
    assert (response.status_code, response.headers["x-correlator"]) == (401, "corr-401")


@pytest.mark.parametrize("correlator", ["has space", "quote\"d", "x" * 257, "percent%20"])
def test_verify_with_an_invalid_x_correlator_is_invalid_argument(agg: Aggregator, phone: Phone,
                                                                 correlator: str) -> None:
    response = agg.verify(agg.access_token(phone), {"phoneNumber": SIM}, headers={"x-correlator": correlator})
    assert_error_info(response, 400, "INVALID_ARGUMENT")
    assert "x-correlator" not in response.headers


@pytest.mark.parametrize(("number", "status", "code"), [
    ("+447400900094", 403, NOT_BY_NETWORK), ("+447400900095", 503, "UNAVAILABLE"),
])
def test_verify_trigger_numbers_answer_errors(agg: Aggregator, phone: Phone, number: str, status: int,
                                              code: str) -> None:
    assert_error_info(agg.verify(agg.access_token(phone), {"phoneNumber": number}), status, code)


def test_unknown_api_path_is_not_found(agg: Aggregator) -> None:
    response = agg.http.get(f"{agg.base_url}/number-verification/v2/verify-hashed", timeout=5)
    assert_error_info(response, 404, "NOT_FOUND")


def test_api_version_follows_the_configuration(make_aggregator: Callable[..., Aggregator], phone: Phone) -> None:
    agg = make_aggregator(api_version="v1")
    token = agg.access_token(phone)
    response = agg.http.post(f"{agg.base_url}/number-verification/v1/verify", json={"phoneNumber": SIM},
                             headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert response.json() == {"devicePhoneNumberVerified": True}
    assert agg.verify(token, {"phoneNumber": SIM}).status_code == 404


# -- mock mode (Telefónica's sandbox convention) --------------------------------------------------

@pytest.mark.parametrize(("number", "second", "expected"), [
    ("+34666111331", 1_750_000_001, True), ("+34666111332", 1_750_000_000, False),
    ("+34666111333", 1_750_000_000, True), ("+34666111333", 1_750_000_001, False),
    ("+34666111330", 1_750_000_002, True), (SIM, 1_750_000_001, False),
])
def test_mock_mode_verify_follows_the_last_digit_then_the_clock(agg: Aggregator, phone: Phone, number: str,
                                                                 second: int, expected: bool) -> None:
    token = agg.access_token(phone, client=MOCK)
    agg.clock.now = second + 0.5
    assert agg.verify(token, {"phoneNumber": number}).json() == {"devicePhoneNumberVerified": expected}


def test_mock_mode_hashed_number_compares_with_the_line(agg: Aggregator, phone: Phone) -> None:
    token = agg.access_token(phone, client=MOCK)
    assert agg.verify(token, {"hashedPhoneNumber": sha256_hex(SIM)}).json() == {"devicePhoneNumberVerified": True}


def test_mock_mode_hashed_number_is_false_without_a_line(agg: Aggregator, wifi_phone: Phone) -> None:
    token = agg.access_token(wifi_phone, client=MOCK)
    response = agg.verify(token, {"hashedPhoneNumber": sha256_hex(SIM)})
    assert response.json() == {"devicePhoneNumberVerified": False}


# -- /device-phone-number ------------------------------------------------------------------------

def test_device_phone_number_returns_the_line_behind_the_token(agg: Aggregator, phone: Phone) -> None:
    response = agg.share(agg.access_token(phone, scope=SHARE), headers={"x-correlator": "c-1"})
    assert (response.status_code, response.headers["x-correlator"]) == (200, "c-1")
    assert response.json() == {"devicePhoneNumber": SIM}


def test_device_phone_number_accepts_the_old_share_scope(agg: Aggregator, phone: Phone) -> None:
    token = agg.access_token(phone, scope=f"openid {PURPOSE}#number-verification-share-read")
    assert agg.share(token).json() == {"devicePhoneNumber": SIM}


def test_device_phone_number_needs_the_share_scope(agg: Aggregator, phone: Phone) -> None:
    assert_error_info(agg.share(agg.access_token(phone)), 403, "PERMISSION_DENIED")


def test_device_phone_number_tokens_are_single_use(agg: Aggregator, phone: Phone) -> None:
    token = agg.access_token(phone, scope=SHARE)
    assert agg.share(token).status_code == 200
    assert_error_info(agg.share(token), 401, "UNAUTHENTICATED")


def test_device_phone_number_with_an_invalid_x_correlator_is_invalid_argument(agg: Aggregator,
                                                                              phone: Phone) -> None:
    response = agg.share(agg.access_token(phone, scope=SHARE), headers={"x-correlator": "bad value"})
    assert_error_info(response, 400, "INVALID_ARGUMENT")


# -- CIBA with a TS.43 operator token ---------------------------------------------------------------

def test_bc_authorize_answers_an_auth_req_id_with_expiry_and_interval(agg: Aggregator) -> None:
    token = agg.sim.mint_operator_token(SIM)
    response = agg.bc_authorize({"scope": VERIFY, "login_hint": f"operatortoken:{token}"})
    body = response.json()
    assert (response.status_code, set(body)) == (200, {"auth_req_id", "expires_in", "interval"})
    assert (body["expires_in"], body["interval"]) == (120, 2)


@pytest.mark.parametrize("hint", [None, f"tel:{SIM}", SIM])
def test_bc_authorize_requires_an_operatortoken_login_hint(agg: Aggregator, hint: str | None) -> None:
    data = {"scope": VERIFY, **({"login_hint": hint} if hint else {})}
    assert_oauth_error(agg.bc_authorize(data), 400, "invalid_request")


def test_bc_authorize_with_an_unknown_operator_token_is_unknown_user_id(agg: Aggregator) -> None:
    response = agg.bc_authorize({"scope": VERIFY, "login_hint": "operatortoken:forged"})
    assert_oauth_error(response, 400, "unknown_user_id")


def test_operator_tokens_are_single_use(agg: Aggregator) -> None:
    data = {"scope": VERIFY, "login_hint": f"operatortoken:{agg.sim.mint_operator_token(SIM)}"}
    assert agg.bc_authorize(data).status_code == 200
    assert_oauth_error(agg.bc_authorize(data), 400, "unknown_user_id")


def test_operator_tokens_expire_after_300_s(agg: Aggregator) -> None:
    data = {"scope": VERIFY, "login_hint": f"operatortoken:{agg.sim.mint_operator_token(SIM)}"}
    agg.clock.now += 300
    assert_oauth_error(agg.bc_authorize(data), 400, "unknown_user_id")


def test_bc_authorize_checks_the_scope_before_spending_the_operator_token(agg: Aggregator) -> None:
    data = {"scope": "openid number-verification:verify",
            "login_hint": f"operatortoken:{agg.sim.mint_operator_token(SIM)}"}
    assert_oauth_error(agg.bc_authorize(data), 400, "invalid_scope")
    assert agg.bc_authorize({**data, "scope": VERIFY}).status_code == 200


def test_bc_authorize_requires_client_authentication(agg: Aggregator) -> None:
    data = {"scope": VERIFY, "login_hint": f"operatortoken:{agg.sim.mint_operator_token(SIM)}"}
    assert_oauth_error(agg.bc_authorize(data, auth=None), 401, "invalid_client")


def test_bc_authorize_accepts_private_key_jwt_aimed_at_itself(agg: Aggregator) -> None:
    data = {"scope": VERIFY, "login_hint": f"operatortoken:{agg.sim.mint_operator_token(SIM)}",
            **agg.assertion(ES_CLIENT, aud=f"{agg.base_url}/bc-authorize")}
    assert agg.bc_authorize(data, auth=None).status_code == 200


def test_operator_token_control_mints_a_usable_token(agg: Aggregator) -> None:
    minted = agg.admin("POST", "operator-tokens", json={"msisdn": SIM})
    assert minted.status_code == 201
    hint = f"operatortoken:{minted.json()['operator_token']}"
    assert agg.bc_authorize({"scope": VERIFY, "login_hint": hint}).status_code == 200


def test_operator_token_control_requires_an_e164_msisdn(agg: Aggregator) -> None:
    assert agg.admin("POST", "operator-tokens", json={"msisdn": "447400900002"}).status_code == 400


def test_ciba_poll_after_the_interval_issues_a_ts43_token(agg: Aggregator) -> None:
    auth_req_id = agg.ciba_start()
    agg.clock.now += 2
    response = agg.poll(auth_req_id)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "refresh_token" not in body and claims_of(body["id_token"])["amr"] == ["ts43"]
    assert agg.verify(body["access_token"], {"phoneNumber": SIM}).json() == {"devicePhoneNumberVerified": True}


def test_ciba_pending_then_slow_down_then_token(agg: Aggregator) -> None:
    agg.fault("ciba", pending_polls=1)
    auth_req_id = agg.ciba_start()
    agg.clock.now += 2
    assert_oauth_error(agg.poll(auth_req_id), 400, "authorization_pending")
    agg.clock.now += 1
    assert_oauth_error(agg.poll(auth_req_id), 400, "slow_down")
    agg.clock.now += 6  # the interval is now 2 + 5 = 7 s
    assert_oauth_error(agg.poll(auth_req_id), 400, "slow_down")
    agg.clock.now += 12
    assert agg.poll(auth_req_id).status_code == 200


def test_ciba_poll_sooner_than_the_interval_is_slow_down(agg: Aggregator) -> None:
    assert_oauth_error(agg.poll(agg.ciba_start()), 400, "slow_down")


def test_ciba_poll_after_expiry_is_expired_token(agg: Aggregator) -> None:
    auth_req_id = agg.ciba_start()
    agg.clock.now += 120
    assert_oauth_error(agg.poll(auth_req_id), 400, "expired_token")


def test_ciba_token_is_issued_once(agg: Aggregator) -> None:
    auth_req_id = agg.ciba_start()
    agg.clock.now += 2
    assert agg.poll(auth_req_id).status_code == 200
    agg.clock.now += 2
    assert_oauth_error(agg.poll(auth_req_id), 400, "invalid_grant")


def test_ciba_unknown_auth_req_id_is_invalid_grant(agg: Aggregator) -> None:
    assert_oauth_error(agg.poll("unknown"), 400, "invalid_grant")


def test_ciba_auth_req_id_of_another_client_is_invalid_grant(agg: Aggregator) -> None:
    auth_req_id = agg.ciba_start()
    agg.clock.now += 2
    assert_oauth_error(agg.post_token({"grant_type": CIBA, "auth_req_id": auth_req_id}, auth=MOCK), 400,
                       "invalid_grant")


def test_ciba_error_fault_answers_the_next_poll_and_ends_the_request(agg: Aggregator) -> None:
    agg.fault("ciba", error="access_denied")
    auth_req_id = agg.ciba_start()
    agg.clock.now += 2
    assert_oauth_error(agg.poll(auth_req_id), 400, "access_denied")
    agg.clock.now += 2
    assert_oauth_error(agg.poll(auth_req_id), 400, "invalid_grant")


def test_ciba_works_for_a_phone_on_wifi(agg: Aggregator, wifi_phone: Phone) -> None:
    auth_req_id = agg.ciba_start(wifi_phone.sim, scope=SHARE)
    agg.clock.now += 2
    token = agg.poll(auth_req_id).json()["access_token"]
    assert agg.share(token).json() == {"devicePhoneNumber": SIM}


# -- faults: ID tokens ----------------------------------------------------------------------------

def _faulty_id_token(agg: Aggregator, phone: Phone, defect: str) -> str:
    agg.fault("token", id_token=defect)
    return str(agg.tokens(phone)["id_token"])


def _validate(agg: Aggregator, id_token: str, jwks: jwt.PyJWKSet | None = None) -> dict[str, Any]:
    key = (jwks or agg.jwks())[jwt.get_unverified_header(id_token)["kid"]].key
    claims: dict[str, Any] = jwt.decode(id_token, key, algorithms=["RS256"], audience=BASIC[0],
                                        issuer=agg.base_url, options={"require": ["exp", "iat", "sub"]})
    return claims


def test_bad_signature_fault_fails_verification(agg: Aggregator, phone: Phone) -> None:
    with pytest.raises(jwt.InvalidSignatureError):
        _validate(agg, _faulty_id_token(agg, phone, "bad_signature"))


def test_alg_none_fault_is_unsigned(agg: Aggregator, phone: Phone) -> None:
    id_token = _faulty_id_token(agg, phone, "alg_none")
    assert jwt.get_unverified_header(id_token)["alg"] == "none" and id_token.endswith(".")
    with pytest.raises(jwt.InvalidAlgorithmError):
        _validate(agg, id_token)


def test_hs256_fault_is_keyed_with_the_public_key_pem(agg: Aggregator, phone: Phone) -> None:
    id_token = _faulty_id_token(agg, phone, "hs256")
    pem = agg.sim.keys.current.public_pem()
    signing_input, _, signature = id_token.rpartition(".")
    expected = base64.urlsafe_b64encode(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()).rstrip(b"=")
    assert jwt.get_unverified_header(id_token)["alg"] == "HS256" and signature == expected.decode()
    with pytest.raises(jwt.InvalidAlgorithmError):
        _validate(agg, id_token)


@pytest.mark.parametrize(("defect", "error"), [
    ("wrong_iss", jwt.InvalidIssuerError), ("wrong_aud", jwt.InvalidAudienceError),
    ("expired", jwt.ExpiredSignatureError), ("missing_iat", jwt.MissingRequiredClaimError),
    ("missing_sub", jwt.MissingRequiredClaimError),
])
def test_claim_faults_fail_validation_with_a_good_signature(agg: Aggregator, phone: Phone, defect: str,
                                                            error: type[Exception]) -> None:
    id_token = _faulty_id_token(agg, phone, defect)
    with pytest.raises(error):
        _validate(agg, id_token)


def test_nonce_mismatch_fault_changes_only_the_nonce(agg: Aggregator, phone: Phone) -> None:
    claims = _validate(agg, _faulty_id_token(agg, phone, "nonce_mismatch"))
    assert claims["nonce"] != NONCE


def test_unknown_kid_fault_is_signed_by_a_key_outside_the_jwks(agg: Aggregator, phone: Phone) -> None:
    id_token = _faulty_id_token(agg, phone, "unknown_kid")
    assert jwt.get_unverified_header(id_token)["kid"] not in [k.key_id for k in agg.jwks().keys]


def test_rotated_fault_signs_with_a_new_key_published_in_the_jwks(agg: Aggregator, phone: Phone) -> None:
    cached = agg.jwks()
    id_token = _faulty_id_token(agg, phone, "rotated")
    kid = jwt.get_unverified_header(id_token)["kid"]
    assert kid not in [k.key_id for k in cached.keys]
    assert _validate(agg, id_token)["nonce"] == NONCE  # after refetching the JWKS


def test_missing_fault_leaves_out_the_id_token(agg: Aggregator, phone: Phone) -> None:
    agg.fault("token", id_token="missing")
    assert "id_token" not in agg.tokens(phone)


def test_id_token_faults_are_one_shot(agg: Aggregator, phone: Phone) -> None:
    agg.fault("token", id_token="wrong_iss")
    agg.tokens(phone)
    assert _validate(agg, agg.tokens(phone)["id_token"])["iss"] == agg.base_url


# -- faults: authorize, token, bc-authorize, verify --------------------------------------------------

def test_authorize_error_fault_ends_the_flow_in_that_error(agg: Aggregator, phone: Phone) -> None:
    agg.fault("authorize", error="interaction_required")
    params = agg.authorize(phone, state="s2")
    assert (params["error"], params["state"], params["iss"]) == ("interaction_required", "s2", agg.base_url)


def test_authorize_iss_fault_puts_a_wrong_iss_on_the_success_redirect(agg: Aggregator, phone: Phone) -> None:
    agg.fault("authorize", iss="https://other.example")
    params = agg.authorize(phone)
    assert "code" in params and params["iss"] == "https://other.example"


def test_authorize_omit_iss_fault_leaves_out_iss(agg: Aggregator, phone: Phone) -> None:
    agg.fault("authorize", omit_iss=True)
    params = agg.authorize(phone)
    assert "code" in params and "iss" not in params


def test_token_status_fault_answers_raw_without_spending_the_code(agg: Aggregator, phone: Phone) -> None:
    code = agg.code(phone)
    agg.fault("token", status=503)
    assert_oauth_error(agg.redeem(code), 503, "temporarily_unavailable")
    assert agg.redeem(code).status_code == 200


def test_token_fault_body_and_count(agg: Aggregator, phone: Phone) -> None:
    agg.fault("token", status=400, body={"error": "invalid_grant"}, count=2)
    code = agg.code(phone)
    assert [agg.redeem(code).json() for _ in range(2)] == [{"error": "invalid_grant"}] * 2
    assert agg.redeem(code).status_code == 200


def test_token_delay_fault_answers_late(agg: Aggregator, phone: Phone) -> None:
    code = agg.code(phone)
    agg.fault("token", delay_seconds=0.5)
    started = time.monotonic()
    assert agg.redeem(code).status_code == 200
    assert time.monotonic() - started >= 0.5


def test_bc_authorize_status_fault_answers_raw(agg: Aggregator) -> None:
    agg.fault("bc-authorize", status=503)
    data = {"scope": VERIFY, "login_hint": f"operatortoken:{agg.sim.mint_operator_token(SIM)}"}
    assert_oauth_error(agg.bc_authorize(data), 503, "temporarily_unavailable")


def test_verify_body_fault_answers_a_malformed_success(agg: Aggregator, phone: Phone) -> None:
    agg.fault("verify", status=200, body={"devicePhoneNumberVerified": "true"})
    response = agg.verify(agg.access_token(phone), {"phoneNumber": SIM}, headers={"x-correlator": "c-2"})
    assert (response.status_code, response.json(), response.headers["x-correlator"]) == (
        200, {"devicePhoneNumberVerified": "true"}, "c-2")


def test_verify_code_fault_answers_error_info(agg: Aggregator, phone: Phone) -> None:
    agg.fault("verify", status=403, code=NOT_BY_NETWORK)
    assert_error_info(agg.verify(agg.access_token(phone), {"phoneNumber": SIM}), 403, NOT_BY_NETWORK)


def test_verify_status_fault_answers_error_info_for_that_status(agg: Aggregator, phone: Phone) -> None:
    agg.fault("verify", status=503, headers={"Retry-After": "5"})
    response = agg.verify(agg.access_token(phone), {"phoneNumber": SIM})
    assert_error_info(response, 503, "UNAVAILABLE")
    assert response.headers["Retry-After"] == "5"


def test_verify_raw_body_fault_answers_that_text(agg: Aggregator, phone: Phone) -> None:
    agg.fault("verify", status=502, raw_body="<html>Bad Gateway</html>", content_type="text/html")
    response = agg.verify(agg.access_token(phone), {"phoneNumber": SIM})
    assert (response.status_code, response.headers["Content-Type"], response.text) == (
        502, "text/html", "<html>Bad Gateway</html>")


def test_verify_delay_fault_answers_normally_but_late(agg: Aggregator, phone: Phone) -> None:
    token = agg.access_token(phone)
    agg.fault("verify", delay_seconds=0.5)
    started = time.monotonic()
    assert agg.verify(token, {"phoneNumber": SIM}).json() == {"devicePhoneNumberVerified": True}
    assert time.monotonic() - started >= 0.5


def test_device_phone_number_fault_answers_raw(agg: Aggregator, phone: Phone) -> None:
    agg.fault("device-phone-number", status=200, body={"devicePhoneNumber": "447400900002"})
    assert agg.share(agg.access_token(phone, scope=SHARE)).json() == {"devicePhoneNumber": "447400900002"}


@pytest.mark.parametrize("spec", [
    {"endpoint": "nowhere", "status": 503},
    {"endpoint": "token", "id_token": "sparkly"},
    {"endpoint": "token", "body": {"error": "x"}},
    {"endpoint": "authorize", "status": 503},
    {"endpoint": "ciba", "pending_polls": -1},
    {"endpoint": "verify", "status": 999},
    {"endpoint": "verify", "code": "X"},
    {"endpoint": "token", "status": 503, "count": 0},
    {"endpoint": "verify", "delay_seconds": "3"},
])
def test_malformed_faults_are_refused(agg: Aggregator, spec: dict[str, Any]) -> None:
    assert agg.admin("POST", "faults", json=spec).status_code == 400


def test_faults_can_be_listed_and_cleared(agg: Aggregator, phone: Phone) -> None:
    agg.fault("token", status=503)
    assert agg.admin("GET", "faults").json() == [{"endpoint": "token", "status": 503, "count": 1}]
    assert agg.admin("DELETE", "faults").status_code == 204
    assert agg.redeem(agg.code(phone)).status_code == 200


# -- sandbox controls and plumbing ----------------------------------------------------------------

def test_request_log_records_calls_with_credentials_reduced_to_their_scheme(agg: Aggregator, phone: Phone) -> None:
    agg.redeem(agg.code(phone))
    logged = agg.admin("GET", "requests").json()
    [token_call] = [entry for entry in logged if entry["path"] == "/token"]
    assert token_call["method"] == "POST" and token_call["headers"]["Authorization"] == "Basic"
    assert [entry["remote_addr"] for entry in logged if entry["path"] == "/authorize"] == [phone.ip]
    assert not any(entry["path"].startswith("/_sandbox/") for entry in logged)


def test_request_log_can_be_cleared(agg: Aggregator) -> None:
    agg.http.get(f"{agg.base_url}/jwks", timeout=5)
    assert agg.admin("DELETE", "requests").status_code == 204
    assert agg.admin("GET", "requests").json() == []


def test_access_token_control_validates_its_input(agg: Aggregator) -> None:
    response = agg.admin("POST", "access-tokens", json={"client_id": BASIC[0], "scope": "openid"})
    assert response.status_code == 400


def test_unknown_path_is_a_json_404(agg: Aggregator) -> None:
    response = agg.http.get(f"{agg.base_url}/userinfo", timeout=5)
    assert (response.status_code, response.json()["error"]) == (404, "not_found")


def test_wrong_method_is_405(agg: Aggregator) -> None:
    response = agg.http.get(f"{agg.base_url}/token", timeout=5)
    assert (response.status_code, response.headers["Allow"]) == (405, "POST")


def _continue_without_the_phone(agg: Aggregator, continuation: str | None = None) -> requests.Response:
    """Starts a flow, then comes back to /authorize/continue directly, skipping the network hop."""
    started = agg.http.get(agg.authorize_url(), allow_redirects=False, timeout=5)
    session = dict(parse_qsl(urlsplit(started.headers["Location"]).query))["session"]
    params = {"session": session, **({"continuation": continuation} if continuation else {})}
    return agg.http.get(f"{agg.base_url}/authorize/continue", params=params, allow_redirects=False, timeout=10)


def _error_redirect(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    assert response.headers["Location"].startswith(REDIRECT_URI + "&")
    return dict(parse_qsl(urlsplit(response.headers["Location"]).query))


@pytest.mark.parametrize("continuation", [None, "a-continuation-the-network-never-handed-out"])
def test_a_device_that_skipped_the_network_hop_gets_no_authorization_response(
        agg: Aggregator, continuation: str | None) -> None:
    response = _continue_without_the_phone(agg, continuation)

    assert response.status_code == 400 and "Location" not in response.headers


def test_an_unreachable_network_ends_the_flow_in_temporarily_unavailable(
        make_aggregator: Callable[..., Aggregator]) -> None:
    agg = make_aggregator(network_url="http://127.0.0.1:9")
    assert _error_redirect(_continue_without_the_phone(agg, "any"))["error"] == "temporarily_unavailable"
