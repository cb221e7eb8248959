"""The grants of the simulated CAMARA aggregator: authorization codes, CIBA requests backed by TS.43
operator tokens, and the /token and /bc-authorize endpoints that turn them into access and ID tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.simulators.camara.client_auth import ClientAuthenticator
from sandbox.simulators.camara.config import CamaraClient, CamaraConfig
from sandbox.simulators.camara.faults import Fault, FaultQueue
from sandbox.simulators.camara.keys import id_token
from sandbox.simulators.camara.oauth import (
    CIBA_GRANT,
    E164,
    NO_STORE,
    AccessTokens,
    Grant,
    Scopes,
    oauth_error,
    parse_form,
    parse_scope,
    pkce_failure,
)
from sandbox.simulators.keypool import KeySet, b64url
from sandbox.simulators.wsgi import Request, Response, json_response

OPERATOR_TOKEN_TTL_SECONDS = 300
ID_TOKEN_TTL_SECONDS = 300
SLOW_DOWN_STEP_SECONDS = 5
OPERATOR_TOKEN_HINT = "operatortoken:"
_Issued = tuple[str, Grant, float, str | None]  # access token, its grant, auth_time, nonce
_OAUTH_STATUS_ERRORS = {400: "invalid_request", 401: "invalid_client", 403: "access_denied", 500: "server_error"}


def default_oauth_body(status: int) -> dict[str, str]:
    return {"error": _OAUTH_STATUS_ERRORS.get(status, "temporarily_unavailable"),
            "error_description": "Injected by the sandbox"}


@dataclass(frozen=True)
class PendingAuthorization:
    """An /authorize request waiting for the device to come back from the network hop."""

    client_id: str
    redirect_uri: str
    state: str
    scopes: Scopes
    code_challenge: str | None
    nonce: str | None
    login_hint: str | None  # E.164
    created_at: float
    fault: Fault | None  # an armed authorize fault this flow took


@dataclass
class _AuthCode:
    client_id: str
    redirect_uri: str
    code_challenge: str | None
    nonce: str | None
    scopes: Scopes
    msisdn: str | None
    auth_time: float
    expires_at: float
    used: bool = False
    access_token: str | None = None


@dataclass
class _CibaRequest:
    client_id: str
    scopes: Scopes
    msisdn: str
    auth_time: float
    expires_at: float
    interval: int
    last_poll: float
    pending_polls: int
    finished: bool = False


@dataclass
class _OperatorToken:
    msisdn: str
    expires_at: float
    used: bool = False


class GrantService:
    """Codes, CIBA requests and operator tokens in memory; safe to share across threads."""

    def __init__(self, config: CamaraConfig, clients: Callable[[], Mapping[str, CamaraClient]], keys: KeySet,
                 faults: FaultQueue, tokens: AccessTokens) -> None:
        self.config = config
        self._clients = clients
        self._keys = keys
        self._faults = faults
        self._tokens = tokens
        self._authenticator = ClientAuthenticator(config.clock)
        self._pairwise_secret = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._codes: dict[str, _AuthCode] = {}
        self._ciba: dict[str, _CibaRequest] = {}
        self._operator_tokens: dict[str, _OperatorToken] = {}

    # -- issuing -------------------------------------------------------------------------------

    def issue_code(self, pending: PendingAuthorization, msisdn: str | None) -> str:
        """A single-use code (256 random bits) for a flow that passed network authentication."""
        now = self.config.clock()
        code = secrets.token_urlsafe(32)
        with self._lock:
            for stale in [c for c, r in self._codes.items() if r.expires_at + 3600 < now]:
                del self._codes[stale]
            self._codes[code] = _AuthCode(
                pending.client_id, pending.redirect_uri, pending.code_challenge, pending.nonce, pending.scopes,
                msisdn, now, now + self.config.code_ttl_seconds,
            )
        return code

    def mint_operator_token(self, msisdn: str) -> str:
        if not isinstance(msisdn, str) or not E164.fullmatch(msisdn):
            raise ValueError(f"msisdn must be E.164 like +447400900002, got {msisdn!r}")
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._operator_tokens[token] = _OperatorToken(msisdn, self.config.clock() + OPERATOR_TOKEN_TTL_SECONDS)
        return token

    def mint_access_token(self, spec: Any) -> str:
        """An access token made to order (`POST /_sandbox/access-tokens`), e.g. one from SMS OTP."""
        if not isinstance(spec, dict):
            raise ValueError("the body must be a JSON object")
        unknown = sorted(set(spec) - {"client_id", "scope", "msisdn", "amr", "expires_in"})
        client_id, scope = spec.get("client_id"), spec.get("scope")
        msisdn, amr = spec.get("msisdn"), spec.get("amr", ["nba"])
        expires_in = spec.get("expires_in", self.config.token_expires_in)
        scopes = parse_scope(scope) if isinstance(scope, str) else "scope is required"
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(unknown)}")
        if not isinstance(client_id, str) or not client_id:
            raise ValueError("client_id is required")
        if isinstance(scopes, str):
            raise ValueError(scopes)
        if msisdn is not None and (not isinstance(msisdn, str) or not E164.fullmatch(msisdn)):
            raise ValueError("msisdn must be E.164 or null")
        if not isinstance(amr, list) or not all(isinstance(a, str) for a in amr):
            raise ValueError("amr must be a list of strings")
        if not isinstance(expires_in, int) or isinstance(expires_in, bool):
            raise ValueError("expires_in must be an integer")
        return self._tokens.issue(Grant(client_id, scopes, msisdn, tuple(amr)), expires_in)

    # -- POST /token -----------------------------------------------------------------------------

    def token(self, request: Request) -> Response:
        form = parse_form(request)
        if isinstance(form, Response):
            return form
        issuer = request.base_url
        client_id = self._authenticator.authenticate(request, form, self._clients(), issuer, {f"{issuer}/token"})
        if isinstance(client_id, Response):
            return client_id
        grant_type = form.get("grant_type")
        grants = {"authorization_code": ("code", self._redeem_code), CIBA_GRANT: ("auth_req_id", self._poll)}
        if not grant_type:
            return oauth_error(400, "invalid_request", "grant_type is required")
        if grant_type not in grants:
            return oauth_error(400, "unsupported_grant_type", f"grant_type {grant_type} is not supported")
        name, redeem = grants[grant_type]
        if not form.get(name):
            return oauth_error(400, "invalid_request", f"{name} is required")
        with self._lock:
            issued = redeem(form, form[name], client_id, self.config.clock())
        return issued if isinstance(issued, Response) else self._token_response(*issued, issuer)

    def _redeem_code(self, form: Mapping[str, str], code: str, client_id: str, now: float) -> Response | _Issued:
        """The authorization code grant. Caller holds the lock."""
        record = self._codes.get(code)
        if record is None:
            return oauth_error(400, "invalid_grant", "unknown authorization code")
        if record.used:
            if record.access_token is not None:
                self._tokens.revoke(record.access_token)
            return oauth_error(400, "invalid_grant",
                               "the authorization code was already used; tokens issued from it are revoked")
        if record.client_id != client_id:
            return oauth_error(400, "invalid_grant", "the authorization code was issued to another client")
        record.used = True  # any redemption attempt by its client spends the code
        if now >= record.expires_at:
            return oauth_error(400, "invalid_grant", "the authorization code has expired")
        if form.get("redirect_uri") != record.redirect_uri:
            return oauth_error(400, "invalid_grant", "redirect_uri differs from the authorization request's")
        failure = pkce_failure(record.code_challenge, form.get("code_verifier"))
        if failure is not None:
            return oauth_error(400, "invalid_grant", failure)
        grant = Grant(client_id, record.scopes, record.msisdn, ("nba",))
        record.access_token = self._tokens.issue(grant, self.config.token_expires_in)
        return record.access_token, grant, record.auth_time, record.nonce

    def _poll(self, _: Mapping[str, str], auth_req_id: str, client_id: str, now: float) -> Response | _Issued:
        """A CIBA poll. Caller holds the lock."""
        ciba = self._ciba.get(auth_req_id)
        if ciba is None or ciba.client_id != client_id or ciba.finished:
            return oauth_error(400, "invalid_grant", "unknown, finished or foreign auth_req_id")
        if now >= ciba.expires_at:
            return oauth_error(400, "expired_token", "the auth_req_id has expired; start a new bc-authorize")
        too_soon = now - ciba.last_poll < ciba.interval
        ciba.last_poll = now
        if too_soon:
            ciba.interval += SLOW_DOWN_STEP_SECONDS
            return oauth_error(400, "slow_down", f"poll at most every {ciba.interval} s")
        refusal = self._faults.take("ciba", {"error"})
        if refusal is not None:
            ciba.finished = True
            description = refusal.spec.get("error_description", "Injected by the sandbox")
            return oauth_error(400, refusal.spec["error"], description)
        if ciba.pending_polls > 0:
            ciba.pending_polls -= 1
            return oauth_error(400, "authorization_pending", "the authentication is still in progress")
        ciba.finished = True
        grant = Grant(client_id, ciba.scopes, ciba.msisdn, ("ts43",))
        return self._tokens.issue(grant, self.config.token_expires_in), grant, ciba.auth_time, None

    def _token_response(self, access_token: str, grant: Grant, auth_time: float, nonce: str | None,
                        issuer: str) -> Response:
        body: dict[str, Any] = {"access_token": access_token, "token_type": "Bearer",
                                "expires_in": self.config.token_expires_in, "scope": grant.scopes.text}
        if grant.scopes.openid:
            defect = self._faults.take("token", {"id_token"})
            token = id_token(self._keys, self._id_claims(grant, issuer, auth_time, nonce),
                             defect.spec["id_token"] if defect else None)
            if token is not None:
                body["id_token"] = token
        return json_response(200, body, headers=NO_STORE)

    def _id_claims(self, grant: Grant, issuer: str, auth_time: float, nonce: str | None) -> dict[str, Any]:
        now = int(self.config.clock())
        claims: dict[str, Any] = {
            "iss": issuer, "sub": self._pairwise_sub(grant), "aud": grant.client_id, "exp": now + ID_TOKEN_TTL_SECONDS,
            "iat": now, "auth_time": int(auth_time), "amr": list(grant.amr), "azp": grant.client_id,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        return claims

    def _pairwise_sub(self, grant: Grant) -> str:
        """A pseudonym per (client, line), never the MSISDN; a line-less (mock) grant gets a throwaway one."""
        subject = grant.msisdn if grant.msisdn is not None else "anonymous:" + secrets.token_hex(16)
        mac = hmac.new(self._pairwise_secret, f"{grant.client_id}\x00{subject}".encode(), hashlib.sha256)
        return b64url(mac.digest())

    # -- POST /bc-authorize ------------------------------------------------------------------------

    def bc_authorize(self, request: Request) -> Response:
        form = parse_form(request)
        if isinstance(form, Response):
            return form
        issuer = request.base_url
        endpoints = {f"{issuer}/token", f"{issuer}/bc-authorize"}  # CIBA Core §7.1
        client_id = self._authenticator.authenticate(request, form, self._clients(), issuer, endpoints)
        if isinstance(client_id, Response):
            return client_id
        for unsupported in ("login_hint_token", "id_token_hint", "request"):
            if unsupported in form:
                return oauth_error(400, "invalid_request", f"{unsupported} is not supported; send login_hint only")
        scopes = parse_scope(form.get("scope", ""))
        if isinstance(scopes, str):
            return oauth_error(400, "invalid_scope", scopes)
        hint = form.get("login_hint")
        if not hint or not hint.startswith(OPERATOR_TOKEN_HINT):
            return oauth_error(400, "invalid_request", "login_hint=operatortoken:<TS.43 token> is required")
        now = self.config.clock()
        with self._lock:
            operator_token = self._operator_tokens.get(hint.removeprefix(OPERATOR_TOKEN_HINT))
            if operator_token is None or operator_token.used or now >= operator_token.expires_at:
                return oauth_error(400, "unknown_user_id", "the operator token is unknown, used or expired")
            operator_token.used = True
        pending = self._faults.take("ciba", {"pending"})
        auth_req_id = secrets.token_urlsafe(32)
        with self._lock:
            self._ciba[auth_req_id] = _CibaRequest(
                client_id, scopes, operator_token.msisdn, now, now + self.config.ciba_expires_in,
                self.config.ciba_interval, now, int(pending.spec["pending_polls"]) if pending else 0,
            )
        body = {"auth_req_id": auth_req_id, "expires_in": self.config.ciba_expires_in,
                "interval": self.config.ciba_interval}
        return json_response(200, body, headers=NO_STORE)
