"""A simulated Infobip Silent Mobile Verification (SMV) API that checks requests like the real one: docs/sandbox.md."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sandbox.httpserver import WSGIApp
from sandbox.simulators.device_marks import OperatorHops
from sandbox.simulators.infobip.admin import SandboxControls
from sandbox.simulators.infobip.api import (
    COMPLETE_PATH,
    CONTINUE_PATH,
    VERIFY_PATH,
    VerifyRequest,
    authorized,
    error_object,
    error_response,
    not_found_page,
    page,
    parse_verify,
    platform_error,
    sms_failover_of,
)
from sandbox.simulators.infobip.callbacks import Courier, DeliveryPlan, Result, callback_payload
from sandbox.simulators.infobip.config import InfobipConfig
from sandbox.simulators.network_client import NetworkDown, mobile_line
from sandbox.simulators.wsgi import (
    Request,
    Response,
    Routes,
    json_response,
    redirect,
    simulator_app,
    with_query,
)

__all__ = ["InfobipSimulator", "make_app"]

BRAZIL_PREFIX = "55"
# Keyed by the last two digits of phoneNumber (docs/sandbox.md, "The simulated Infobip")
VERIFY_ERRORS = {"98": 100, "96": 1000}
THROTTLED, SLOW_VERIFY, GATEWAY_FAILURE, DEVICE_TIMEOUT = "97", "95", "94", "93"
RESUME_PATH = CONTINUE_PATH  # where the operator's hop sends the device back (registered with the network)
DEVICE_COOKIE = "infobip_device"

Outcome = tuple[Result, dict[str, Any] | None]


@dataclass
class SmvCheck:
    """One accepted verification: what was asked, how its callback goes out, and how it ended."""

    token: str
    asked: VerifyRequest
    status: Literal["REDIRECT", "OK"]
    created_at: float
    plan: DeliveryPlan
    opened_at: float | None = None
    result: Result | None = None
    error: dict[str, Any] | None = None
    finished_at: float | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "token": self.token, "status": self.status, "phoneNumber": self.asked.phone_number,
            "callbackUrl": self.asked.callback_url, "returnUrl": self.asked.return_url,
            "deviceIp": self.asked.device_ip, "devicePort": self.asked.device_port,
            "created_at": self.created_at, "opened_at": self.opened_at, "result": self.result,
            "error": self.error, "finished_at": self.finished_at, "delivery": self.plan.as_json(),
        }


class InfobipSimulator:
    """Infobip's state in memory (checks, header-enrichment sessions, delivery plans); safe across threads."""

    def __init__(self, config: InfobipConfig) -> None:
        self.config = config
        self.courier = Courier(config.callback_timeout_seconds, config.callback_attempts,
                               config.callback_retry_seconds, config.clock)
        self._lock = threading.Lock()
        self._checks: dict[str, SmvCheck] = {}
        self._hops: OperatorHops[SmvCheck] = OperatorHops(config.network_url, RESUME_PATH, DEVICE_COOKIE)
        self._next_plan = DeliveryPlan()
        self._sms_failover: list[dict[str, Any]] = []
        self.controls = SandboxControls(self)
        self._routes: Routes = {VERIFY_PATH: {"POST": self._verify}, COMPLETE_PATH: {"GET": self._open_device_link},
                                CONTINUE_PATH: {"GET": self._operator_return}}

    def handle(self, request: Request) -> Response:
        return self.controls.serve(request, self._routes, lambda: platform_error(404),
                                   lambda allow: platform_error(405, headers=(("Allow", allow),)),
                                   self._note_sms_failover)

    # -- test controls (reached through /_sandbox/, see admin.py) -------------------------

    def set_delivery_plan(self, plan: DeliveryPlan, token: str | None = None) -> bool:
        """Arm `plan` for the next check created, or for the check `token`; False if that token is unknown."""
        with self._lock:
            if token is None:
                self._next_plan = plan
                return True
            check = self._checks.get(token)
            if check is None:
                return False
            check.plan = plan
            return True

    def reset_delivery_plans(self) -> None:
        with self._lock:
            self._next_plan = DeliveryPlan()
            for check in self._checks.values():
                if check.result is None:
                    check.plan = DeliveryPlan()
        self.courier.release()  # a held callback goes out now, as a normal one would have

    def sweep(self) -> list[str]:
        """Time out (305) every REDIRECT check the phone never opened within `device_timeout_seconds`."""
        now = self.config.clock()
        with self._lock:
            due = [check for check in self._checks.values() if self._unopened_and_expired(check, now)]
        return [check.token for check in due if self._finish(check, _error(305), background=False)]

    def check_summaries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [check.summary() for check in self._checks.values()]

    def sms_failover_requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._sms_failover)

    def clear_sms_failover_requests(self) -> None:
        with self._lock:
            self._sms_failover.clear()

    # -- the backend's call -----------------------------------------------------------------------

    def _verify(self, request: Request) -> Response:
        if not authorized(request, self.config.api_keys):
            return platform_error(401)
        if request.media_type != "application/json":
            return platform_error(415)
        asked = parse_verify(request)
        if isinstance(asked, Response):
            return asked
        if asked.trigger in VERIFY_ERRORS:
            return error_response(VERIFY_ERRORS[asked.trigger])
        if asked.trigger == THROTTLED:
            return platform_error(429)
        brazil = asked.phone_number.startswith(BRAZIL_PREFIX)
        check = SmvCheck(str(uuid.uuid4()), asked, "OK" if brazil else "REDIRECT", self.config.clock(), DeliveryPlan())
        with self._lock:
            check.plan, self._next_plan = self._next_plan, DeliveryPlan()
            self._checks[check.token] = check
        # Infobip may call back before its answer reaches the backend: these deliveries race the response.
        if asked.trigger == DEVICE_TIMEOUT:
            self._finish(check, _error(305), background=True)
        elif brazil:
            self._finish(check, self._judge_device_ip(asked), background=True)
        body = {"token": check.token, "status": check.status}
        if not brazil:
            body["deviceRedirectUrl"] = with_query(f"{request.base_url}{COMPLETE_PATH}", {"token": check.token})
        if asked.trigger == SLOW_VERIFY:
            time.sleep(self.config.slow_seconds)
        return json_response(200, body)

    # -- the phone's hops -------------------------------------------------------------------------

    def _open_device_link(self, request: Request) -> Response:
        token, now = request.query.get("token", ""), self.config.clock()
        with self._lock:
            check = self._checks.get(token)
            if check is None or check.status != "REDIRECT" or check.opened_at is not None or check.result is not None:
                return not_found_page()
            expired = self._unopened_and_expired(check, now)
            if not expired:
                check.opened_at = now
        if expired:
            self._finish(check, _error(305), background=False)
            return not_found_page()
        return self._hops.send(request, check)

    def _operator_return(self, request: Request) -> Response:
        """The device is back from the operator's hop with the one-time continuation it was handed there."""
        back = self._hops.resume(request)
        if back is None:  # not the continuation the operator handed the device, or spent already
            return not_found_page()
        check, seen = back.parked, back.seen
        if check.asked.trigger == GATEWAY_FAILURE or seen is None:
            outcome = _error(101)
        elif back.mismatch is not None or seen.get("mobile") is not True:
            outcome = _error(306)  # Infobip's nearest documented error: the IP is not the one expected
        else:
            outcome = ("VALID", None) if seen.get("msisdn") == check.asked.msisdn else ("INVALID", None)
        self._finish(check, outcome, background=False)
        if check.asked.return_url is not None:
            return redirect(check.asked.return_url)
        return page(200, "Verification complete. You can return to the app.")

    # -- deciding and finishing -------------------------------------------------------------------

    def _judge_device_ip(self, asked: VerifyRequest) -> Outcome:
        """Brazil: the result from the line behind `deviceIp`."""
        if asked.trigger == GATEWAY_FAILURE:
            return _error(101)
        if asked.device_ip is None:
            return _error(306)
        try:
            line = mobile_line(self.config.network_url, asked.device_ip)
        except NetworkDown:
            return _error(101)
        if line is None:
            return _error(306)
        return ("VALID", None) if line.get("msisdn") == asked.msisdn else ("INVALID", None)

    def _finish(self, check: SmvCheck, outcome: Outcome, background: bool) -> bool:
        """Record the result once and send its callback per the check's plan; False if it had one already."""
        with self._lock:
            if check.result is not None:
                return False
            check.result, check.error = outcome
            check.finished_at = self.config.clock()
            plan = check.plan
        payload = callback_payload(check.token, *outcome)
        self.courier.dispatch(plan, check.asked.callback_url, payload, background)
        return True

    def _unopened_and_expired(self, check: SmvCheck, now: float) -> bool:
        return (check.status == "REDIRECT" and check.opened_at is None and check.result is None
                and now - check.created_at >= self.config.device_timeout_seconds)

    def _note_sms_failover(self, request: Request) -> None:
        """Every request that carries `smsFailover` (basic verify refuses it); the routes answer it."""
        sent, value = sms_failover_of(request)
        if sent:
            entry = {"at": self.config.clock(), "method": request.method, "path": request.path, "smsFailover": value}
            with self._lock:
                self._sms_failover.append(entry)

def _error(error_id: int) -> Outcome:
    return "ERROR", error_object(error_id)


def make_app(simulator: InfobipSimulator) -> WSGIApp:
    """The simulator's HTTP face (stdlib WSGI)."""
    return simulator_app("Infobip", simulator.handle, simulator.config.public_url, lambda: platform_error(500))
