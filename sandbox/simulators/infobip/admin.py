"""Test controls of the simulated Infobip under /_sandbox/ (not Infobip's API); docs/sandbox.md lists them."""

from __future__ import annotations

import re
from typing import Any, Protocol

from sandbox.simulators.infobip.callbacks import Courier, DeliveryPlan, parse_plan
from sandbox.simulators.wsgi import Request, RequestLog, Response, Routes, done, json_response, route

_REDELIVER = re.compile(r"/_sandbox/callbacks/([^/]+)/redeliver")


class Controlled(Protocol):
    """What the controls reach into: the simulator's request log, its courier and its checks."""

    log: RequestLog
    courier: Courier

    def set_delivery_plan(self, plan: DeliveryPlan, token: str | None = None) -> bool: ...
    def reset_delivery_plans(self) -> None: ...
    def sweep(self) -> list[str]: ...
    def check_summaries(self) -> list[dict[str, Any]]: ...
    def sms_failover_requests(self) -> list[dict[str, Any]]: ...
    def clear_sms_failover_requests(self) -> None: ...


class SandboxControls:
    """Routes /_sandbox/* for the simulator it is given."""

    def __init__(self, sim: Controlled) -> None:
        self._sim = sim

    def handle(self, request: Request) -> Response:
        sim = self._sim
        path = request.path.rstrip("/")
        if match := _REDELIVER.fullmatch(path):
            if request.method != "POST":
                return _error(405, "method_not_allowed", "use POST", (("Allow", "POST"),))
            attempts = sim.courier.redeliver(match[1])
            if attempts is None:
                return _error(404, "not_found", "no callback was ever sent for this token")
            return json_response(200, attempts)
        routes: Routes = {
            "/_sandbox/requests": {"GET": lambda _: json_response(200, sim.log.snapshot()),
                                   "DELETE": lambda _: done(sim.log.clear)},
            "/_sandbox/callbacks": {"GET": lambda _: json_response(200, sim.courier.records()),
                                    "DELETE": lambda _: done(sim.courier.clear)},
            "/_sandbox/delivery": {"POST": self._set_plan, "DELETE": lambda _: done(sim.reset_delivery_plans)},
            "/_sandbox/delivery/release": {"POST": lambda _: json_response(200, {"released": sim.courier.release()})},
            "/_sandbox/sweep": {"POST": lambda _: json_response(200, {"timed_out": sim.sweep()})},
            "/_sandbox/checks": {"GET": lambda _: json_response(200, sim.check_summaries())},
            "/_sandbox/sms-failover": {"GET": lambda _: json_response(200, sim.sms_failover_requests()),
                                       "DELETE": lambda _: done(sim.clear_sms_failover_requests)},
        }
        return route(routes, request, lambda: _error(404, "not_found", "no such sandbox control"),
                     lambda allow: _error(405, "method_not_allowed", f"use {allow}", (("Allow", allow),)))

    def _set_plan(self, request: Request) -> Response:
        try:
            plan, token = parse_plan(request.json())
        except ValueError as exc:
            return _error(400, "bad_request", str(exc))
        if not self._sim.set_delivery_plan(plan, token):
            return _error(404, "not_found", "unknown token")
        return json_response(201, {**plan.as_json(), "token": token})


def _error(status: int, error: str, detail: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return json_response(status, {"error": error, "detail": detail}, headers=headers)
