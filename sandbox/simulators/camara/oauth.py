"""OAuth/OIDC building blocks of the simulated CAMARA aggregator: its configuration, scopes, forms,
client authentication (client_secret_basic, private_key_jwt) and single-use access tokens."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import jwt

from sandbox.simulators.camara.config import CamaraClient
from sandbox.simulators.keypool import b64url
from sandbox.simulators.wsgi import Headers, Request, Response, basic_client, json_response

CIBA_GRANT = "urn:openid:params:grant-type:ciba"
JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
VERIFY_SCOPE = "number-verification:verify"
SHARE_SCOPE = "number-verification:device-phone-number:read"
OLD_VERIFY_SCOPE = "number-verification-verify-read"
OLD_SHARE_SCOPE = "number-verification-share-read"
# CAMARA SIM Swap (sim-swap.yaml `security`): one scope per operation, or `sim-swap` for both.
SIM_SWAP_SCOPES = frozenset({"sim-swap", "sim-swap:check", "sim-swap:retrieve-date"})
ASSERTION_ALGS = ("RS256", "ES256")
MAX_ASSERTION_LIFETIME = 300
NO_STORE: Headers = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))

E164 = re.compile(r"\+[1-9][0-9]{4,14}")
_PURPOSE = re.compile(r"dpv:[A-Za-z][A-Za-z0-9]*")
_OLD_FORM = re.compile(r"(dpv:[A-Za-z][A-Za-z0-9]*)#([a-z-]+)")
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
CODE_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")


# -- OAuth error answers and forms -----------------------------------------------------------------

def oauth_error(status: int, error: str, description: str, headers: Headers = ()) -> Response:
    return json_response(status, {"error": error, "error_description": description}, headers=(*NO_STORE, *headers))


def invalid_client(description: str, basic_attempted: bool = False) -> Response:
    headers: Headers = (("WWW-Authenticate", 'Basic realm="camara"'),) if basic_attempted else ()
    return oauth_error(401, "invalid_client", description, headers)


def parse_form(request: Request) -> dict[str, str] | Response:
    """The x-www-form-urlencoded body, or the OAuth error that says why it is not one."""
    try:
        return request.form()
    except ValueError as invalid:
        return oauth_error(400, "invalid_request", str(invalid))


# -- scopes, login hints, PKCE ----------------------------------------------------------------------

@dataclass(frozen=True)
class Scopes:
    text: str  # as requested, returned in the token response
    purpose: str  # dpv:<Purpose>
    verify: bool
    share: bool
    openid: bool
    sim_swap: frozenset[str] = frozenset()  # the SIM Swap scopes granted (SIM_SWAP_SCOPES)


def parse_scope(value: str) -> Scopes | str:
    """The NV scopes, in the new (`dpv:X number-verification:verify`) or old (`dpv:X#…-verify-read`) form;
    a string says why the scope is refused."""
    tokens = value.split(" ")
    if not value or "" in tokens:
        return "scope is missing or has empty tokens"
    if len(set(tokens)) != len(tokens):
        return "a scope token is repeated"
    openid = "openid" in tokens
    rest = [t for t in tokens if t != "openid"]
    if any("#" in t for t in rest):
        match = _OLD_FORM.fullmatch(rest[0]) if len(rest) == 1 else None
        if match is None or match[2] not in (OLD_VERIFY_SCOPE, OLD_SHARE_SCOPE):
            return ("the old form allows one dpv:<Purpose>#number-verification-verify-read "
                    "(or -share-read) token, plus openid")
        return Scopes(value, match[1], match[2] == OLD_VERIFY_SCOPE, match[2] == OLD_SHARE_SCOPE, openid)
    purposes = [t for t in rest if t.startswith("dpv:")]
    if len(purposes) != 1 or not _PURPOSE.fullmatch(purposes[0]):
        return "the scope must carry exactly one purpose, dpv:<Purpose>"
    apis = [t for t in rest if not t.startswith("dpv:")]
    unknown = sorted(set(apis) - {VERIFY_SCOPE, SHARE_SCOPE} - SIM_SWAP_SCOPES)
    if unknown:
        return f"unknown scope: {' '.join(unknown)}"
    if not apis:
        return f"the scope must include {VERIFY_SCOPE}, {SHARE_SCOPE} or a SIM Swap scope"
    return Scopes(value, purposes[0], VERIFY_SCOPE in apis, SHARE_SCOPE in apis, openid,
                  frozenset(apis) & SIM_SWAP_SCOPES)


def login_hint_number(value: str) -> str | None:
    """The E.164 number of a `tel:+…` or `+…` login_hint, else None."""
    number = value.removeprefix("tel:")
    return number if E164.fullmatch(number) else None


def authorized_scopes(query: Mapping[str, str], require_pkce: bool) -> Scopes | tuple[str, str]:
    """The scopes of a plain query-mode code request with a state, S256 PKCE, prompt=none and a well-formed
    login_hint; else the (error, description) that refuses it, the first in this order."""
    scopes = parse_scope(query.get("scope", ""))
    response_type, hint = query.get("response_type"), query.get("login_hint")
    challenge, method = query.get("code_challenge"), query.get("code_challenge_method")
    rules = (
        (not response_type, "invalid_request", "response_type is required"),
        (response_type != "code", "unsupported_response_type", "only response_type=code is supported"),
        ("request" in query, "request_not_supported", "request objects are not supported"),
        ("request_uri" in query, "request_uri_not_supported", "request_uri is not supported"),
        (query.get("response_mode", "query") != "query", "invalid_request", "only response_mode=query is supported"),
        (isinstance(scopes, str), "invalid_scope", str(scopes)),
        (not query.get("state"), "invalid_request", "state is required"),
        (method not in (None, "S256"), "invalid_request", "code_challenge_method must be S256 (plain is refused)"),
        (challenge is None and method is not None, "invalid_request", "code_challenge_method without code_challenge"),
        (challenge is None and require_pkce, "invalid_request",
         "PKCE is required: code_challenge and code_challenge_method=S256"),
        (challenge is not None and method is None, "invalid_request",
         "code_challenge_method=S256 is required (the default, plain, is refused)"),
        (challenge is not None and not CODE_CHALLENGE.fullmatch(challenge), "invalid_request",
         "code_challenge must be a base64url SHA-256 (43 characters)"),
        (query.get("prompt", "none") != "none", "invalid_request",
         "Number Verification allows no user interaction: prompt must be none"),
        (hint is not None and login_hint_number(hint) is None, "invalid_request",
         "login_hint must be tel:+E164 or +E164"),
        (query.get("nonce") == "", "invalid_request", "nonce must not be empty"),
    )
    refusal = next(((error, description) for refused, error, description in rules if refused), None)
    if refusal is None and not isinstance(scopes, str):
        return scopes
    return refusal or ("invalid_scope", str(scopes))


def s256(verifier: str) -> str:
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def pkce_failure(challenge: str | None, verifier: str | None) -> str | None:
    """Why the code_verifier does not answer the stored challenge (RFC 7636 §4.6), or None."""
    if challenge is None:
        return "code_verifier sent but no code_challenge was" if verifier is not None else None
    if verifier is None:
        return "code_verifier is required"
    if not _VERIFIER.fullmatch(verifier):
        return "code_verifier must be 43-128 unreserved characters"
    if not hmac.compare_digest(s256(verifier), challenge):
        return "code_verifier does not match the code_challenge"
    return None


def msisdn_hash(msisdn: str) -> str:
    return hashlib.sha256(msisdn.encode()).hexdigest()


# -- client authentication --------------------------------------------------------------------------

def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _jwk_alg(jwk: Mapping[str, Any]) -> str | None:
    if jwk.get("kty") == "RSA":
        return "RS256"
    if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
        return "ES256"
    return None


class ClientAuthenticator:
    """Exactly one of client_secret_basic or private_key_jwt per request; remembers assertion jtis."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._seen_jtis: dict[tuple[str, str], float] = {}  # (client_id, jti) -> keep until

    def authenticate(self, request: Request, form: Mapping[str, str], clients: Mapping[str, CamaraClient],
                     issuer: str, endpoints: Collection[str]) -> str | Response:
        """The authenticated client_id, or the 401 invalid_client to answer. `endpoints`: the URLs an
        assertion's `aud` may name for a client that wants the endpoint rather than the issuer."""
        authorization = request.headers.get("authorization")
        uses_assertion = "client_assertion" in form or "client_assertion_type" in form
        if "client_secret" in form:
            return invalid_client("client_secret in the body is not accepted; use HTTP Basic or private_key_jwt")
        if authorization is not None and uses_assertion:
            return invalid_client("use exactly one client authentication method", basic_attempted=True)
        if authorization is not None:  # RFC 6749 §2.3.1: both halves form-urlencoded before base64
            client_id = basic_client(request, lambda cid: getattr(clients.get(cid), "client_secret", None)) \
                or invalid_client("Basic credentials malformed, of another client or another secret", True)
        elif uses_assertion:
            client_id = self._assertion(form, clients, issuer, endpoints)
        else:
            return invalid_client("client authentication is required")
        if isinstance(client_id, Response):
            return client_id
        if form.get("client_id", client_id) != client_id:
            return invalid_client("client_id does not match the authenticated client")
        return client_id

    def _assertion(self, form: Mapping[str, str], clients: Mapping[str, CamaraClient], issuer: str,
                   endpoints: Collection[str]) -> str | Response:
        assertion = form.get("client_assertion", "")
        if form.get("client_assertion_type") != JWT_BEARER_ASSERTION or not assertion:
            return invalid_client(f"client_assertion_type must be {JWT_BEARER_ASSERTION} with a client_assertion")
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return invalid_client("client_assertion is not a JWT")
        alg, iss = header.get("alg"), claims.get("iss")
        if alg not in ASSERTION_ALGS:
            return invalid_client("client_assertion must be signed with RS256 or ES256")
        if not isinstance(iss, str):
            return invalid_client("client_assertion iss (the client_id) is required")
        client = clients.get(iss)
        if client is None or client.public_jwk is None:
            return invalid_client("unknown client or private_key_jwt not registered")
        jwk = client.public_jwk
        if alg != _jwk_alg(jwk) or jwk.get("alg", alg) != alg:
            return invalid_client("the assertion's alg does not fit the registered key")
        if "kid" in header and "kid" in jwk and header["kid"] != jwk["kid"]:
            return invalid_client("the assertion's kid is not the registered key")
        try:
            key = jwt.PyJWK(dict(jwk), algorithm=alg).key
            jwt.decode(assertion, key, algorithms=[alg],
                       options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                                "verify_aud": False, "verify_iss": False, "verify_sub": False,
                                "verify_jti": False})
        except jwt.PyJWTError:
            return invalid_client("client_assertion signature does not verify")
        problem = _audience_problem(claims.get("aud"), client.assertion_audience, issuer, endpoints)
        problem = problem or self._claims_problem(claims, iss)
        return invalid_client(problem) if problem else iss

    def _claims_problem(self, claims: Mapping[str, Any], client_id: str) -> str | None:
        now = self._clock()
        exp, iat, nbf, jti = (claims.get(k) for k in ("exp", "iat", "nbf", "jti"))
        if claims.get("sub") != client_id:
            return "client_assertion sub must equal iss (the client_id)"
        if not _number(exp):
            return "client_assertion exp is required"
        if exp <= now:
            return "client_assertion has expired"
        issued = now
        if iat is not None:
            if not _number(iat) or iat > now + 5:
                return "client_assertion iat is not a past NumericDate"
            issued = float(iat)
        if exp - issued > MAX_ASSERTION_LIFETIME:
            return f"client_assertion lifetime exceeds {MAX_ASSERTION_LIFETIME} s"
        if nbf is not None and (not _number(nbf) or nbf > now):
            return "client_assertion is not valid yet"
        if not isinstance(jti, str) or not jti:
            return "client_assertion jti is required"
        with self._lock:
            for key in [k for k, until in self._seen_jtis.items() if until < now]:
                del self._seen_jtis[key]
            if (client_id, jti) in self._seen_jtis:
                return "client_assertion jti has been used before"
            self._seen_jtis[(client_id, jti)] = float(exp)
        return None


def _audience_problem(aud: Any, wanted: str, issuer: str, endpoints: Collection[str]) -> str | None:
    if wanted == "issuer":
        return None if aud == issuer else f"client_assertion aud must be the issuer {issuer} alone, as a string"
    auds = aud if isinstance(aud, list) else [aud]
    if any(isinstance(a, str) and a in endpoints for a in auds):
        return None
    return f"client_assertion aud must be the URL of the endpoint: {' or '.join(sorted(endpoints))}"


# -- access tokens -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Grant:
    """What an access token stands for."""

    client_id: str
    scopes: Scopes
    msisdn: str | None
    amr: tuple[str, ...]


@dataclass
class _AccessToken:
    grant: Grant
    expires_at: float
    used: set[str] = field(default_factory=set)  # the APIs it has been presented to
    revoked: bool = False


class AccessTokens:
    """Single-use bearer tokens: one call per API the token is scoped for (CAMARA NV: one API call; a token
    that also carries SIM Swap's scope answers one SIM Swap call too); safe to share across threads."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, _AccessToken] = {}

    def issue(self, grant: Grant, expires_in: float) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = _AccessToken(grant, self._clock() + expires_in)
        return token

    def issued(self) -> list[str]:
        """Every access token issued so far (for tests that look for them where they must not be)."""
        with self._lock:
            return list(self._tokens)

    def consume(self, token: str, api: str = "number-verification") -> Grant | None:
        """The token's grant, spending it for `api`; None when unknown, expired, revoked or used for `api`."""
        now = self._clock()
        with self._lock:
            record = self._tokens.get(token)
            if record is None or api in record.used or record.revoked or now >= record.expires_at:
                return None
            record.used.add(api)
            return record.grant

    def revoke(self, token: str) -> None:
        with self._lock:
            record = self._tokens.get(token)
            if record is not None:
                record.revoked = True
