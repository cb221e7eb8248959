"""OAuth/OIDC building blocks of the simulated CAMARA aggregator: errors, forms, scopes, the authorization
request's rules, PKCE and single-use access tokens (client authentication is in client_auth.py)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sandbox.simulators.keypool import b64url
from sandbox.simulators.wsgi import Headers, Request, Response, json_response

CIBA_GRANT = "urn:openid:params:grant-type:ciba"
VERIFY_SCOPE = "number-verification:verify"
SHARE_SCOPE = "number-verification:device-phone-number:read"
OLD_VERIFY_SCOPE = "number-verification-verify-read"
OLD_SHARE_SCOPE = "number-verification-share-read"
# CAMARA SIM Swap (sim-swap.yaml `security`): one scope per operation, or `sim-swap` for both.
SIM_SWAP_SCOPES = frozenset({"sim-swap", "sim-swap:check", "sim-swap:retrieve-date"})
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
