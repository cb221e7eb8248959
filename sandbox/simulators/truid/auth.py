"""OAuth2 client-credentials tokens of the simulated tru.ID: minted per Project, checked on every product call."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sandbox.simulators.truid.config import Project
from sandbox.simulators.truid.problems import problem
from sandbox.simulators.wsgi import Request, Response, authorization, basic_client, json_response

# The scopes basics.yaml documents for /oauth2/v1/token (OAuth2Scope), and mo_check (MO Check), which tru.ID's own
# dev-server asks for with the others at start. A token carries every scope it was issued with (`scope` is
# space-separated); each API asks for its own: phone_check for /phone_check/, coverage for /coverage/.
SCOPES = frozenset({"console", "phone_check", "subscriber_check", "sim_check", "mo_check", "coverage"})


@dataclass(frozen=True)
class _Token:
    client_id: str
    scopes: frozenset[str]
    expires_at: float


class TokenStore:
    """Issues and checks bearer tokens; safe to share across threads."""

    def __init__(self, projects: Mapping[str, Project], expires_in: int, clock: Callable[[], float]) -> None:
        self._projects = projects
        self._expires_in = expires_in
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, _Token] = {}

    def issue(self, request: Request) -> Response:
        """`POST /oauth2/v1/token`."""
        client_id = basic_client(request, lambda cid: getattr(self._projects.get(cid), "client_secret", None))
        if client_id is None:
            return problem(401, "unauthorized", headers=(("WWW-Authenticate", 'Basic realm="tru.ID"'),))
        try:
            form = request.form("ascii")
        except ValueError as invalid:
            return problem(400, "bad_request", str(invalid))
        if form.get("grant_type") != "client_credentials":
            return problem(400, "bad_request", "grant_type must be client_credentials")
        requested = form.get("scope", "").split()
        if not requested:
            return problem(400, "bad_request", "scope is required")
        unknown = sorted(set(requested) - SCOPES)
        if unknown:
            return problem(400, "bad_request", f"Unknown scope: {' '.join(unknown)}")
        scope = " ".join(dict.fromkeys(requested))
        access_token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[access_token] = _Token(
                client_id, frozenset(requested), self._clock() + self._expires_in
            )
        body = {"access_token": access_token, "token_type": "bearer", "expires_in": self._expires_in,
                "scope": scope}
        return json_response(200, body, headers=(("Cache-Control", "no-store"),))

    def authenticate(self, request: Request, scope: str) -> str | Response:
        """The client_id behind the request's bearer token, or the 401/403 to answer."""
        with self._lock:
            token = self._tokens.get(authorization(request, "bearer") or "")
        if token is None or self._clock() >= token.expires_at:
            return problem(401, "unauthorized", headers=(("WWW-Authenticate", 'Bearer realm="tru.ID"'),))
        if scope not in token.scopes:
            return problem(403, "forbidden", f"The access token lacks the {scope} scope")
        return token.client_id

    def revoke_all(self) -> None:
        with self._lock:
            self._tokens.clear()
