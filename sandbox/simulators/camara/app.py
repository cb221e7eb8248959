"""A simulated CAMARA aggregator and operator, as strict as a real one: what it checks is in docs/sandbox.md."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from sandbox.httpserver import WSGIApp
from sandbox.simulators.camara.admin import SandboxControls
from sandbox.simulators.camara.api import NumberVerificationApi, default_error_body, serve_api
from sandbox.simulators.camara.client_auth import ASSERTION_ALGS
from sandbox.simulators.camara.config import CamaraClient, CamaraConfig, Mode
from sandbox.simulators.camara.faults import Fault, injected_response
from sandbox.simulators.camara.grants import GrantService, PendingAuthorization, default_oauth_body
from sandbox.simulators.camara.oauth import (
    CIBA_GRANT,
    OLD_SHARE_SCOPE,
    OLD_VERIFY_SCOPE,
    SHARE_SCOPE,
    SIM_SWAP_SCOPES,
    VERIFY_SCOPE,
    AccessTokens,
    authorized_scopes,
    login_hint_number,
    oauth_error,
)
from sandbox.simulators.camara.sim_swap import SimSwapApi
from sandbox.simulators.device_marks import OperatorHops
from sandbox.simulators.keypool import KeySet
from sandbox.simulators.wsgi import (
    Request,
    Response,
    Routes,
    json_response,
    redirect,
    simulator_app,
    with_query,
)

__all__ = ["CamaraSimulator", "make_app"]

PENDING_TTL_SECONDS = 600
RESUME_PATH = "/authorize/continue"  # where the operator's hop sends the device back (registered with the network)
DEVICE_COOKIE = "camara_device"
AUTHORIZE_TRIGGERS = {"91": "access_denied", "92": "consent_required", "93": "server_error"}
TRIGGER_DESCRIPTIONS = {
    "access_denied": "the subscriber has opted out of sharing this data",
    "consent_required": "the purpose needs the subscriber's consent, which cannot be asked with prompt=none",
    "server_error": "the operator failed to authenticate the device",
}
NOT_ON_MOBILE_DATA = "network authentication failed; the device must be on mobile data"


class CamaraSimulator:
    """The aggregator's state in memory (clients, flows, codes, tokens, keys); safe to share across threads."""

    def __init__(self, config: CamaraConfig, clients: Mapping[str, CamaraClient] | None = None) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._clients: dict[str, CamaraClient] = dict(clients or {})
        self._hops: OperatorHops[PendingAuthorization] = OperatorHops(config.network_url, RESUME_PATH, DEVICE_COOKIE)
        self.keys = KeySet("camara", newest_first=False)
        self.tokens = AccessTokens(config.clock)
        self.controls = SandboxControls(self._rotate_keys, self.mint_operator_token, self._mint_access_token)
        self.faults = self.controls.faults
        self.grants = GrantService(config, self.clients, self.keys, self.faults, self.tokens)
        self.api = NumberVerificationApi(config.api_version, self.tokens, self._mode_of, config.clock)
        self.sim_swap = SimSwapApi(self.tokens, config.network_url, config.clock, config.sim_swap_max_age_hours)
        self._apis: dict[str, Routes] = {self.api.base_path: {
            f"{self.api.base_path}/verify": {"POST": self._faulted("verify", default_error_body, self.api.verify)},
            f"{self.api.base_path}/device-phone-number": {
                "GET": self._faulted("device-phone-number", default_error_body, self.api.share)},
        }, self.sim_swap.base_path: self.sim_swap.routes}
        self._routes: Routes = {
            "/.well-known/openid-configuration": {"GET": self._discovery},
            "/jwks": {"GET": lambda _: json_response(200, self.keys.jwks())},
            "/authorize": {"GET": self._authorize},
            RESUME_PATH: {"GET": self._continue},
            "/token": {"POST": self._faulted("token", default_oauth_body, self.grants.token)},
            "/bc-authorize": {"POST": self._faulted("bc-authorize", default_oauth_body, self.grants.bc_authorize)},
        }

    def set_client(self, client_id: str, client: CamaraClient) -> None:
        with self._lock:
            self._clients[client_id] = client

    def clients(self) -> dict[str, CamaraClient]:
        with self._lock:
            return dict(self._clients)

    def mint_operator_token(self, msisdn: str) -> str:
        """A TS.43 temporary token for the SIM holding `msisdn`: single use, valid 300 s."""
        return self.grants.mint_operator_token(msisdn)

    def handle(self, request: Request) -> Response:
        return self.controls.serve(request, self._routes,
                                   lambda: oauth_error(404, "not_found", f"no such path: {request.path}"),
                                   lambda allow: oauth_error(405, "method_not_allowed", f"use {allow}",
                                                             (("Allow", allow),)), self._api_call)

    def _api_call(self, request: Request) -> Response | None:
        """A call to Number Verification or SIM Swap (their own errors and x-correlator); None for OAuth's paths."""
        base_path = next((base for base in self._apis if f"{request.path}/".startswith(f"{base}/")), None)
        return None if base_path is None else serve_api(request, self._apis[base_path])

    def _faulted(self, endpoint: str, default_body: Callable[[int], Any],
                 handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        """`handler` as the faults armed for `endpoint` shape it: a raw answer instead, or its own answer late."""
        def answer(request: Request) -> Response:
            raw = self.faults.take(endpoint, {"raw"})
            if raw is not None:
                return injected_response(raw, default_body)
            delay = self.faults.take(endpoint, {"delay"})
            response = handler(request)
            if delay is not None:
                time.sleep(float(delay.spec["delay_seconds"]))
            return response
        return answer

    def _discovery(self, request: Request) -> Response:
        issuer = request.base_url
        return json_response(200, {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token",
            "backchannel_authentication_endpoint": f"{issuer}/bc-authorize",
            "jwks_uri": f"{issuer}/jwks",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", CIBA_GRANT],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGS),
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "backchannel_token_delivery_modes_supported": ["poll"],
            "backchannel_user_code_parameter_supported": False,
            "subject_types_supported": ["pairwise"],
            "scopes_supported": [
                "openid", VERIFY_SCOPE, SHARE_SCOPE, *sorted(SIM_SWAP_SCOPES),
                f"dpv:FraudPreventionAndDetection#{OLD_VERIFY_SCOPE}",
                f"dpv:FraudPreventionAndDetection#{OLD_SHARE_SCOPE}",
            ],
            "prompt_values_supported": ["none"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr", "azp"],
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "authorization_response_iss_parameter_supported": self.config.send_iss,
        })

    # -- GET /authorize and the device's return from the network --------------------------------------

    def _authorize(self, request: Request) -> Response:
        query, issuer = request.query, request.base_url
        client = self.clients().get(query.get("client_id", ""))
        if client is None:
            return _error_page("unknown client_id")
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            return _error_page("redirect_uri is missing or not registered for this client")
        state = query.get("state") or None

        def fail(error: str, description: str) -> Response:
            return self._error_redirect(redirect_uri, error, description, state, issuer)

        scopes = authorized_scopes(query, client.require_pkce)
        if isinstance(scopes, tuple):
            return fail(*scopes)
        hint = query.get("login_hint")
        return self._hops.send(request, PendingAuthorization(
            client_id=query["client_id"], redirect_uri=redirect_uri, state=query["state"], scopes=scopes,
            code_challenge=query.get("code_challenge"), nonce=query.get("nonce"),
            login_hint=login_hint_number(hint) if hint is not None else None, created_at=self.config.clock(),
            fault=self.faults.take("authorize", {"error", "iss"}),
        ))

    def _continue(self, request: Request) -> Response:
        """The device is back from the operator's hop with the one-time continuation it was handed there."""
        issuer = request.base_url
        parked = self._hops.parked(request)
        fresh = parked is not None and parked.created_at + PENDING_TTL_SECONDS >= self.config.clock()
        back = self._hops.resume(request) if fresh else None
        if back is None:  # unknown, expired, or not the continuation the operator handed the device (or spent)
            return _error_page("unknown or expired authorization session")
        pending, seen = back.parked, back.seen

        def fail(error: str, description: str) -> Response:
            return self._error_redirect(pending.redirect_uri, error, description, pending.state, issuer, pending.fault)

        if back.mismatch is not None:
            # RFC 6749 §4.1.2.1: the authorization server denies the request; CAMARA publishes no finer error.
            return fail("access_denied", "the authorization was resumed by another device than the one that began it")
        fault = pending.fault
        if fault is not None and fault.kind == "error":
            return fail(fault.spec["error"], fault.spec.get("error_description", "Injected by the sandbox"))
        mode = self._mode_of(pending.client_id)
        trigger = AUTHORIZE_TRIGGERS.get((pending.login_hint or "")[-2:])
        if mode == "live" and trigger is not None:
            return fail(trigger, TRIGGER_DESCRIPTIONS[trigger])
        if seen is None:
            return fail("temporarily_unavailable", "the mobile network did not answer")
        msisdn = seen.get("msisdn") if seen.get("mobile") is True else None
        if not isinstance(msisdn, str):
            if mode == "live":
                return fail("login_required", NOT_ON_MOBILE_DATA)
            msisdn = None
        code = self.grants.issue_code(pending, msisdn)
        params = {"code": code, "state": pending.state, **self._iss_params(issuer, fault)}
        return redirect(with_query(pending.redirect_uri, params))

    def _error_redirect(self, redirect_uri: str, error: str, description: str, state: str | None, issuer: str,
                        fault: Fault | None = None) -> Response:
        params = {"error": error, "error_description": description}
        if state is not None:
            params["state"] = state
        return redirect(with_query(redirect_uri, {**params, **self._iss_params(issuer, fault)}))

    def _iss_params(self, issuer: str, fault: Fault | None) -> dict[str, str]:
        if fault is not None and fault.kind == "iss":
            return {} if fault.spec.get("omit_iss") else {"iss": fault.spec["iss"]}
        return {"iss": issuer} if self.config.send_iss else {}

    # -- helpers ----------------------------------------------------------------------------------

    def _mode_of(self, client_id: str) -> Mode:
        client = self.clients().get(client_id)
        return client.mode if client is not None else "live"

    def _rotate_keys(self, drop_old: bool) -> list[str]:
        self.keys.rotate(drop_old)
        return self.keys.kids()  # oldest first: the new one last

    def _mint_access_token(self, spec: dict[str, Any]) -> str:
        return self.grants.mint_access_token(spec)


def _error_page(message: str) -> Response:
    """Errors that must not redirect (unknown client, unregistered redirect_uri): a plain page."""
    body = f"Authorization request refused: {message}.\n".encode()
    return Response(400, (("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")), body)


def make_app(simulator: CamaraSimulator) -> WSGIApp:
    """The simulator's HTTP face (stdlib WSGI)."""
    failure = {"error": "server_error", "error_description": "simulator failure"}
    return simulator_app("CAMARA", simulator.handle, simulator.config.public_url, lambda: json_response(500, failure))
