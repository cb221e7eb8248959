"""OAuth 2.0 and OpenID Connect client plumbing the adapters share: discovery, JWKS and signing keys
(CAMARA's ID tokens, tru.ID's callback signatures), ID token validation, client authentication
(client_secret_basic for CAMARA's and tru.ID's token calls, private_key_jwt), PKCE, and client
credentials tokens cached until shortly before they expire (tru.ID). Standards, not one provider:
RFC 6749, RFC 7636, RFC 7523, RFC 9207, OIDC Core and Discovery."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote_plus

from silentcheck import clock, provider_http, tokens
from silentcheck.checks import Outcome, Reason
from silentcheck.providers.base import ProviderRefused, http_failure, safe_code, unavailable

# Asymmetric algorithms only: `none` and HS* (whose key would be a value we share) are never accepted.
ID_TOKEN_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"})
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLOCK_SKEW_SECONDS = 60
ASSERTION_LIFETIME_SECONDS = 60  # CAMARA: at most 300
METADATA_CACHE_SECONDS = 3600
TOKEN_MARGIN_SECONDS = 60  # a cached access token is renewed this long before it expires

TokenEndpointAuthMethod = Literal["client_secret_basic", "private_key_jwt"]
# The `aud` of a private_key_jwt assertion: the URL of the endpoint it is sent to (RFC 7523 §3, CIBA Core
# §7.1), or the issuer identifier alone (FAPI 2.0 Security Profile §5.3.2.1, draft-ietf-oauth-rfc7523bis).
AssertionAudience = Literal["token_endpoint", "issuer"]


class OidcError(Exception):
    """A protocol failure, with a short code for the record (never a token or a claim value)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


_ENDPOINT_KEYS = ("authorization_endpoint", "token_endpoint", "jwks_uri", "backchannel_authentication_endpoint")


@dataclass(frozen=True)
class Metadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str | None = None
    backchannel_authentication_endpoint: str | None = None
    iss_parameter_supported: bool = False

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], issuer: str) -> Metadata:
        missing = [k for k in ("authorization_endpoint", "token_endpoint") if not raw.get(k)]
        if missing:
            raise OidcError(f"metadata_missing:{','.join(missing)}")
        insecure = [k for k in _ENDPOINT_KEYS if raw.get(k) and not provider_http.is_secure_url(str(raw[k]))]
        if insecure:  # plain http would carry the client's credentials and tokens in clear
            raise OidcError(f"metadata_not_https:{','.join(insecure)}")
        return cls(
            issuer=issuer,
            authorization_endpoint=str(raw["authorization_endpoint"]),
            token_endpoint=str(raw["token_endpoint"]),
            jwks_uri=str(raw["jwks_uri"]) if raw.get("jwks_uri") else None,
            backchannel_authentication_endpoint=(str(raw["backchannel_authentication_endpoint"])
                                                 if raw.get("backchannel_authentication_endpoint") else None),
            iss_parameter_supported=raw.get("authorization_response_iss_parameter_supported") is True,
        )


@dataclass(frozen=True)
class AuthenticatedForm:
    """A form POST that authenticates the client: the body and the headers to send with it."""

    data: dict[str, str]
    headers: dict[str, str]


@dataclass(frozen=True)
class TokenEndpointAuth:
    """How we authenticate to an authorization server's token endpoint (RFC 8414's
    `token_endpoint_auth_method`)."""

    method: TokenEndpointAuthMethod
    client_id: str
    client_secret: str | None = None
    private_key: str | None = None  # PEM
    key_id: str | None = None
    signing_alg: str = "RS256"
    assertion_audience: AssertionAudience = "token_endpoint"

    def apply(self, form: dict[str, str], endpoint: str, issuer: str) -> AuthenticatedForm:
        """`form`, authenticated for a POST to `endpoint` of the authorization server `issuer`."""
        if self.method == "client_secret_basic":
            return AuthenticatedForm(form, {"Authorization": basic_authorization(self.client_id,
                                                                                 self.client_secret or "")})
        audience = issuer if self.assertion_audience == "issuer" else endpoint
        assertion = client_assertion(self, audience)
        return AuthenticatedForm({**form, "client_assertion_type": CLIENT_ASSERTION_TYPE,
                                  "client_assertion": assertion}, {})


def basic_authorization(client_id: str, client_secret: str) -> str:
    """The Authorization header of client_secret_basic: RFC 6749 §2.3.1 form-urlencodes (UTF-8, Appendix B)
    the id and the secret before they are joined by ':' and base64-encoded, so a server that decodes as
    the RFC says gets back exactly what was issued, whatever characters the secret holds."""
    pair = f"{quote_plus(client_id, safe='')}:{quote_plus(client_secret, safe='')}"
    return f"Basic {base64.b64encode(pair.encode('ascii')).decode('ascii')}"


def client_assertion(auth: TokenEndpointAuth, audience: str) -> str:
    """RFC 7523 client assertion: iss = sub = client_id, aud = the endpoint, a fresh jti, short-lived."""
    import jwt

    now = clock.now()
    claims = {"iss": auth.client_id, "sub": auth.client_id, "aud": audience, "jti": tokens.new_token(),
              "iat": now, "exp": now + ASSERTION_LIFETIME_SECONDS}
    headers = {"kid": auth.key_id} if auth.key_id else None
    return jwt.encode(claims, auth.private_key or "", algorithm=auth.signing_alg, headers=headers)


def pkce_challenge(verifier: str) -> str:
    """S256: BASE64URL(SHA256(verifier)) without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


# -- client credentials (RFC 6749 §4.4) ---------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    value: str
    refresh_after: float  # time.monotonic()


_tokens: dict[tuple[str, str, str], _Token] = {}
_tokens_lock = threading.Lock()


def client_credentials_token(token_endpoint: str, auth: TokenEndpointAuth, scope: str, *, fresh: bool = False) -> str:
    """An access token for `scope`, cached per endpoint, client and scope until TOKEN_MARGIN_SECONDS before it
    expires; `fresh` fetches a new one (the credentials may have been rotated). A failure is ProviderRefused
    with raw code token:<status>[:<error>] (RFC 6749 §5.2), token:<timeout|connection|too_large> or
    token:malformed: PROVIDER_REJECTED for our credentials or request, PROVIDER_ERROR (transient) for an outage."""
    key = (token_endpoint, auth.client_id, scope)
    with _tokens_lock:
        cached = _tokens.get(key)
        if cached and not fresh and time.monotonic() < cached.refresh_after:
            return cached.value
        request = auth.apply({"grant_type": "client_credentials", "scope": scope}, token_endpoint, token_endpoint)
        try:
            response = provider_http.send("POST", token_endpoint, headers=request.headers, data=request.data)
        except provider_http.ProviderUnavailable as failure:
            raise unavailable(failure.kind, "token:") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200:
            error = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), str) else None
            raise http_failure(response, f"token:{response.status_code}" + (f":{safe_code(error)}" if error else ""),
                               error=error)
        try:
            value, expires_in = str(body["access_token"]), int(body.get("expires_in", 3600))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ProviderRefused(Outcome.failed(Reason.PROVIDER_ERROR, "token:malformed"), transient=True) from None
        _tokens[key] = _Token(value, time.monotonic() + max(0, expires_in - TOKEN_MARGIN_SECONDS))
        return value


# -- discovery ----------------------------------------------------------------------------------

_metadata: dict[str, tuple[Metadata, float]] = {}
_metadata_lock = threading.Lock()


def discover(issuer: str) -> Metadata | None:
    """The issuer's published metadata (cached); None when it publishes none or cannot be reached."""
    with _metadata_lock:
        cached = _metadata.get(issuer)
        if cached and time.monotonic() - cached[1] < METADATA_CACHE_SECONDS:
            return cached[0]
    try:
        response = provider_http.send("GET", f"{issuer.rstrip('/')}/.well-known/openid-configuration")
    except provider_http.ProviderUnavailable:
        return None
    if response.status_code != 200:
        return None
    try:
        raw = response.json()
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    if raw.get("issuer") != issuer:  # OIDC Discovery §4.3: exact match, or the metadata is not this issuer's
        raise OidcError("metadata_issuer_mismatch")
    metadata = Metadata.from_mapping(raw, issuer)
    with _metadata_lock:
        _metadata[issuer] = (metadata, time.monotonic())
    return metadata


# -- JWKS and ID tokens -------------------------------------------------------------------------

_jwks: dict[str, dict[str, Any]] = {}  # jwks_uri -> {kid: PyJWK}
_jwks_lock = threading.Lock()


def _fetch_jwks(jwks_uri: str) -> dict[str, Any]:
    import jwt

    try:
        response = provider_http.send("GET", jwks_uri)
    except provider_http.ProviderUnavailable as unavailable:
        raise OidcError(f"jwks_{unavailable.kind}") from None
    if response.status_code != 200:
        raise OidcError(f"jwks_http_{response.status_code}")
    try:
        keys = jwt.PyJWKSet.from_dict(response.json()).keys
    except (ValueError, jwt.PyJWTError):
        raise OidcError("jwks_malformed") from None
    by_kid = {str(key.key_id or ""): key for key in keys if key.public_key_use in (None, "sig")}
    with _jwks_lock:
        _jwks[jwks_uri] = by_kid
    return by_kid


def signing_key(jwks_uri: str, kid: str) -> Any:
    """The key `kid` of the JWKS at `jwks_uri` (a PyJWK); an unknown kid makes us refetch the JWKS once
    (key rotation). Callers pass only kids from messages that got past a capability or came from the
    token endpoint over TLS, so refetches cannot be driven by anyone."""
    with _jwks_lock:
        cached = _jwks.get(jwks_uri)
    keys = cached if cached is not None else _fetch_jwks(jwks_uri)
    if kid not in keys and cached is not None:
        keys = _fetch_jwks(jwks_uri)
    if kid not in keys:
        if not kid and len(keys) == 1:
            return next(iter(keys.values()))
        raise OidcError("id_token_unknown_kid")
    return keys[kid]


def validate_id_token(id_token: str, *, issuer: str, client_id: str, jwks_uri: str | None,
                      nonce: str | None) -> dict[str, Any]:
    """OIDC Core §3.1.3.7: signature by the issuer's key with an asymmetric alg, iss, aud (and azp),
    exp, iat, sub, nonce. Raises OidcError; the claims are never a source of the phone number."""
    import jwt

    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError:
        raise OidcError("id_token_malformed") from None
    alg = header.get("alg")
    if alg not in ID_TOKEN_ALGORITHMS:
        raise OidcError("id_token_alg_not_allowed")
    if not jwks_uri:
        raise OidcError("id_token_no_jwks_uri")
    key = signing_key(jwks_uri, str(header.get("kid") or ""))
    try:
        claims: dict[str, Any] = jwt.decode(
            id_token, key.key, algorithms=[alg], audience=client_id, issuer=issuer, leeway=CLOCK_SKEW_SECONDS,
            options={"require": ["iss", "sub", "aud", "exp", "iat"], "strict_aud": False},
        )
    except jwt.InvalidSignatureError:
        raise OidcError("id_token_bad_signature") from None
    except jwt.ExpiredSignatureError:
        raise OidcError("id_token_expired") from None
    except jwt.InvalidIssuerError:
        raise OidcError("id_token_wrong_iss") from None
    except jwt.InvalidAudienceError:
        raise OidcError("id_token_wrong_aud") from None
    except jwt.MissingRequiredClaimError as missing:
        raise OidcError(f"id_token_missing_{missing.claim}") from None
    except jwt.PyJWTError:
        raise OidcError("id_token_invalid") from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    # OIDC Core §3.1.3.7: azp is required with several audiences, and whenever present must be us.
    if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != client_id:
        raise OidcError("id_token_wrong_azp")
    if nonce is not None and not hmac.compare_digest(str(claims.get("nonce", "")).encode(), nonce.encode()):
        raise OidcError("id_token_nonce_mismatch")
    return claims


def forget() -> None:
    """Drop cached metadata, keys and access tokens (tests; a new container starts empty)."""
    with _tokens_lock:
        _tokens.clear()
    with _metadata_lock:
        _metadata.clear()
    with _jwks_lock:
        _jwks.clear()
