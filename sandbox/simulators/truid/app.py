"""A simulated tru.ID (PhoneCheck, SubscriberCheck, SIMCheck, Coverage, signed callbacks): docs/sandbox.md."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

from sandbox.httpserver import WSGIApp
from sandbox.simulators.device_marks import OperatorHops
from sandbox.simulators.truid import subscriber
from sandbox.simulators.truid.admin import SandboxControls
from sandbox.simulators.truid.auth import TokenStore
from sandbox.simulators.truid.callbacks import Callbacks
from sandbox.simulators.truid.checks import (
    CHARGE_AMOUNT,
    CHECK_URL_ERRORS,
    CREATE_FAILURES,
    CREATE_FIELDS,
    HAL_JSON,
    OPERATOR_ERRORS,
    SANDBOX_NETWORK_ID,
    SLOW_CREATE,
    STARTING_BALANCE,
    PhoneCheck,
    Version,
    create_fields,
    e164_digits,
    patched_code,
    sandbox_match,
)
from sandbox.simulators.truid.config import TruIdConfig
from sandbox.simulators.truid.coverage import Coverage
from sandbox.simulators.truid.problems import problem
from sandbox.simulators.truid.subscriber import PHONE_CHECK, SIM_CHECK, SUBSCRIBER_CHECK
from sandbox.simulators.wsgi import (
    Request,
    Response,
    Routes,
    ip_literal,
    json_response,
    redirect,
    simulator_app,
    with_query,
)

__all__ = ["TruIdSimulator", "make_app"]

JWKS_PATH = "/.well-known/jwks.json"
RESUME_PATH = "/_mno/return"  # where the operator's hop sends the device back (registered with the network)
DEVICE_COOKIE = "truid_device"


class TruIdSimulator:
    """tru.ID's state in memory (tokens, checks, header-enrichment sessions); safe to share across threads."""

    def __init__(self, config: TruIdConfig) -> None:
        self.config = config
        self.tokens = TokenStore(config.projects, config.token_expires_in, config.clock)
        self.callbacks = Callbacks(config.callback_retry_delays, config.callback_timeout_seconds, config.clock)
        self.coverage = Coverage(config.network_url, config.unsupported_networks)
        self.controls = SandboxControls(self.tokens.revoke_all, self.check_summaries, self.callbacks, self.coverage)
        self._lock = threading.RLock()  # re-entered by _charge during a create
        self._checks: dict[str, PhoneCheck] = {}
        self.sim_checks = subscriber.SimChecks(config.network_url, config.clock, self._charge, self._live)
        self._hops: OperatorHops[str] = OperatorHops(config.network_url, RESUME_PATH, DEVICE_COOKIE)  # check ids
        self._balances: dict[str, float] = {}
        self._sweeper: threading.Thread | None = None
        self._closed = threading.Event()
        self._routes = self._route_table()

    def handle(self, request: Request) -> Response:
        return self.controls.serve(request, self._routes, lambda: problem(404, "not_found"),
                                   lambda allow: problem(405, "method_not_allowed", headers=(("Allow", allow),)),
                                   self.controls.faults.answer)

    def check_summaries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [check.summary() for check in self._checks.values()]

    def close(self) -> None:
        """Stop the background work (the expiry sweep, waiting callback retries); the HTTP face stays up."""
        self._closed.set()
        self.callbacks.close()

    def _route_table(self) -> Routes:
        routes: dict[str, dict[str, Callable[..., Response]]] = {
            "/oauth2/v1/token": {"POST": self.tokens.issue},
            RESUME_PATH: {"GET": self._operator_return},
            JWKS_PATH: {"GET": lambda _: json_response(200, self.callbacks.keys.jwks())},
            "/coverage/v0.1/device_ips/{ip:.+}": {"GET": self._authorized(
                "coverage", lambda request, _, ip: self.coverage.device_reachability(ip, request.base_url))},
            "/sim_check/v0.1/checks": {"POST": self._authorized(SIM_CHECK, self.sim_checks.create)},
            "/sim_check/v0.1/checks/{check_id}": {"GET": self._authorized(SIM_CHECK, self.sim_checks.read)},
        }
        versions: tuple[tuple[str, Version], ...] = ((PHONE_CHECK, "v0.1"), (PHONE_CHECK, "v0.2"),
                                                     (SUBSCRIBER_CHECK, "v0.2"))
        for product, version in versions:
            base, check = f"/{product}/{version}/checks", f"/{product}/{version}/checks/{{check_id}}"
            routes[base] = {"POST": self._authorized(product, partial(self._create, version=version, product=product))}
            routes[check] = {"GET": self._authorized(product, partial(self._read, version=version, product=product))}
            if version == "v0.2":
                routes[check]["PATCH"] = self._authorized(product, partial(self._patch, product=product))
            routes[f"{check}/redirect"] = {"GET": partial(self._open_check_url, version=version, product=product)}
        return routes

    def _authorized(self, scope: str, handler: Callable[..., Response]) -> Callable[..., Response]:
        """`handler(request, client_id, **path parameters)` for a bearer token with `scope`; else 401 or 403."""
        def answer(request: Request, **params: str) -> Response:
            client_id = self.tokens.authenticate(request, scope)
            return client_id if isinstance(client_id, Response) else handler(request, client_id, **params)
        return answer

    # -- the backend's calls ----------------------------------------------------------------------

    def _create(self, request: Request, client_id: str, version: Version, product: str) -> Response:
        fields = create_fields(request, CREATE_FIELDS[version], {"period"} if product == SUBSCRIBER_CHECK else set())
        if isinstance(fields, Response):
            return fields
        period = subscriber.period_of(fields) if product == SUBSCRIBER_CHECK else None
        if isinstance(period, Response):
            return period
        digits = fields["phone_number"]
        if digits[-2:] in CREATE_FAILURES:
            return problem(*CREATE_FAILURES[digits[-2:]])
        if self._live(client_id) and "phone_ip" in fields:
            refusal = self.coverage.phone_ip_refusal(fields["phone_ip"])
            if refusal is not None:
                return refusal
        now = self.config.clock()
        check = PhoneCheck(
            check_id=str(uuid.uuid4()), client_id=client_id, version=version, phone_number=digits,
            created_at=now, updated_at=now, ttl=self.config.ttl_seconds,
            reference_id=fields.get("reference_id"), redirect_url=fields.get("redirect_url"),
            callback_url=fields.get("callback_url"), phone_ip=fields.get("phone_ip"), product=product, period=period,
        )
        with self._lock:
            self._checks[check.check_id] = check
            if check.callback_url and self._sweeper is None and not self._closed.is_set():
                self._sweeper = threading.Thread(target=self._sweep_expired, name="truid-expiry", daemon=True)
                self._sweeper.start()
            body = check.created_body(request.base_url, self._charge(client_id))
        if digits[-2:] == SLOW_CREATE:
            time.sleep(self.config.slow_seconds)
        return json_response(201, body, HAL_JSON, (("Location", check.self_href(request.base_url)),))

    def _read(self, request: Request, client_id: str, check_id: str, version: Version, product: str) -> Response:
        now = self.config.clock()
        with self._lock:
            check = self._find(version, check_id, client_id, product)
            if check is None:
                return problem(404, "check_not_found")
            check.expire_if_due(now)
            self._settled(check)
            shown = check.status
            if check.status == "COMPLETED" and check.lag_reads_left > 0:
                check.lag_reads_left -= 1
                shown = "PENDING"
            body = check.resource_body(request.base_url, shown)
        return json_response(200, body, HAL_JSON)

    def _patch(self, request: Request, client_id: str, check_id: str, product: str) -> Response:
        if request.media_type != "application/json-patch+json":
            return problem(415, "unsupported_media_type", "Content-Type must be application/json-patch+json")
        code = patched_code(request)
        if code is None:
            return problem(400, "bad_request", 'The body must be [{"op": "add", "path": "/code", "value": "<code>"}]')
        now = self.config.clock()
        with self._lock:
            check = self._find("v0.2", check_id, client_id, product)
            if check is None or check.code is None or not hmac.compare_digest(check.code.encode(), code.encode()):
                return problem(404, "check_not_found")
            check.expire_if_due(now)
            if check.status == "PENDING":
                check.complete(now)
            self._settled(check)
            body = check.patch_body()
        return json_response(200, body, HAL_JSON)

    # -- the phone's hops -------------------------------------------------------------------------

    def _open_check_url(self, request: Request, check_id: str, version: Version, product: str) -> Response:
        now = self.config.clock()
        with self._lock:
            check = self._find(version, check_id, product=product)
            if check is None:
                return problem(404, "check_not_found")
            try:
                return self._phone_arrives(request, check, now)
            finally:
                self._settled(check)

    def _phone_arrives(self, request: Request, check: PhoneCheck, now: float) -> Response:
        """The phone opened check_url: fail, conclude (sandbox) or send it to the operator. Caller holds the lock."""
        check.expire_if_due(now)
        if check.status != "ACCEPTED":
            return problem(404, "check_not_found")
        check.start(now)
        if check.trigger in CHECK_URL_ERRORS:
            return check.fail_device(CHECK_URL_ERRORS[check.trigger], now)
        live = self._live(check.client_id)
        if live and check.phone_ip is not None and ip_literal(check.phone_ip) != ip_literal(request.remote_addr):
            # tru.ID: "the IP address of create check request and redirect do not match"
            return check.fail_device("ip_mismatch", now)
        if not live:
            return self._conclude(check, sandbox_match(check.phone_number), SANDBOX_NETWORK_ID, now)
        return self._hops.send(request, check.check_id)

    def _operator_return(self, request: Request) -> Response:
        """The device is back from the operator's hop with the one-time continuation it was handed there."""
        if not request.query.get("session"):
            return problem(400, "bad_request", "session is required")
        back = self._hops.resume(request)
        if back is None:  # not the continuation the operator handed the device, or spent
            return problem(404, "check_not_found")
        seen = back.seen
        if seen is None:
            return problem(502, "bad_gateway", "The mobile network did not answer")
        now = self.config.clock()
        with self._lock:
            check = self._checks[back.parked]
            try:
                check.expire_if_due(now)
                if check.status != "PENDING":
                    return problem(404, "check_not_found")
                if back.mismatch is not None:
                    return check.fail_device("ip_mismatch", now)
                if seen.get("mobile") is not True:  # what header enrichment saw decides the check
                    check.fail("not_mobile_ip", now)
                    return problem(412, "not_mobile_ip")
                network_id = seen.get("network_id")
                matched = e164_digits(seen.get("msisdn")) == check.phone_number
                return self._conclude(check, matched, network_id if isinstance(network_id, str) else None, now)
            finally:
                self._settled(check)

    def _conclude(self, check: PhoneCheck, matched: bool, network_id: str | None, now: float) -> Response:
        """The operator's verdict is in: finish v0.1, or hand the phone a v0.2 code. Caller holds the lock."""
        if check.trigger in OPERATOR_ERRORS:
            return check.fail_device(OPERATOR_ERRORS[check.trigger], now)
        check.observe(matched, network_id, now)
        if check.product == SUBSCRIBER_CHECK:
            check.sim_fields = subscriber.sim_fields(self.config.network_url, check, self._live(check.client_id), now)
        reference = {"reference_id": check.reference_id} if check.reference_id is not None else {}
        if check.version == "v0.1":
            check.complete(now, self.config.completion_lag_reads)
            return json_response(200, {"check_id": check.check_id, **reference})
        check.code = secrets.token_urlsafe(16)
        success = {"check_id": check.check_id, "code": check.code}
        if check.redirect_url:
            return redirect(with_query(check.redirect_url, success))
        return json_response(200, {**success, **reference})

    # -- callbacks --------------------------------------------------------------------------------

    def _settled(self, check: PhoneCheck) -> None:
        """Caller holds the lock: once a check with a callback_url is final, call it back (once)."""
        if check.final and check.callback_url and not check.called_back:
            check.called_back = True
            self.callbacks.dispatch(check.check_id, check.callback_url, check.callback_body(), check.product)

    def _sweep_expired(self) -> None:
        """Expire checks awaiting a callback when their TTL passes, as tru.ID does without being asked."""
        while not self._closed.wait(self.config.expiry_sweep_seconds):
            now = self.config.clock()
            with self._lock:
                waiting = [c for c in self._checks.values() if c.callback_url and not c.called_back]
                for check in waiting:
                    check.expire_if_due(now)
                    self._settled(check)
                if all(check.called_back for check in waiting):
                    self._sweeper = None
                    return

    def _charge(self, client_id: str) -> float:
        """The Project's balance after paying for one check."""
        with self._lock:
            self._balances[client_id] = self._balances.get(client_id, STARTING_BALANCE) - CHARGE_AMOUNT
            return self._balances[client_id]

    def _live(self, client_id: str) -> bool:
        return self.config.projects[client_id].mode == "live"

    def _find(self, version: Version, check_id: str, client_id: str | None = None,
              product: str = "phone_check") -> PhoneCheck | None:
        check = self._checks.get(check_id)
        if check is None or (check.version, check.product) != (version, product):
            return None
        return check if client_id in (None, check.client_id) else None


def make_app(sim: TruIdSimulator) -> WSGIApp:
    """The simulator's HTTP face (stdlib WSGI)."""
    return simulator_app("tru.ID", sim.handle, sim.config.public_url, lambda: problem(500))
