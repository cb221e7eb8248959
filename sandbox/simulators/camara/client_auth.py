"""How the simulated CAMARA aggregator authenticates a client at /token and /bc-authorize: exactly one of
client_secret_basic (RFC 6749 §2.3.1) or private_key_jwt (RFC 7523), with replay-checked `jti` and the `aud` the
client registered."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeGuard

import jwt

from sandbox.simulators.camara.config import CamaraClient
from sandbox.simulators.camara.oauth import invalid_client
from sandbox.simulators.wsgi import Request, Response, basic_client

JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGS = ("RS256", "ES256")
MAX_ASSERTION_LIFETIME = 300


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
