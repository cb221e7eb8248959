"""Test controls of the simulated Infobip under /_sandbox/ (not Infobip's API); docs/sandbox.md lists them."""

from __future__ import annotations

from typing import Any, Protocol

from sandbox.simulators.controls import Controls, Handlers, done, error_code
from sandbox.simulators.infobip.callbacks import Courier, DeliveryPlan, parse_plan
from sandbox.simulators.wsgi import Headers, Request, Response, json_response


class Controlled(Protocol):
    """What the controls reach into: the simulator's courier and its checks."""

    courier: Courier

    def set_delivery_plan(self, plan: DeliveryPlan, token: str | None = None) -> bool: ...
    def reset_delivery_plans(self) -> None: ...
    def sweep(self) -> list[str]: ...
    def check_summaries(self) -> list[dict[str, Any]]: ...
    def sms_failover_requests(self) -> list[dict[str, Any]]: ...
    def clear_sms_failover_requests(self) -> None: ...


def _error(status: int, detail: str, headers: Headers) -> Response:
    return json_response(status, {"error": error_code(status), "detail": detail}, headers=headers)


class SandboxControls(Controls):
    """For the simulator it is given."""

    def __init__(self, sim: Controlled) -> None:
        super().__init__(_error, sim.courier)
        self._sim = sim

    def routes(self) -> dict[str, Handlers]:
        sim = self._sim
        return {
            "/_sandbox/delivery": {"POST": self._set_plan, "DELETE": lambda _: done(sim.reset_delivery_plans)},
            "/_sandbox/delivery/release": {"POST": lambda _: json_response(200, {"released": sim.courier.release()})},
            "/_sandbox/sweep": {"POST": lambda _: json_response(200, {"timed_out": sim.sweep()})},
            "/_sandbox/checks": {"GET": lambda _: json_response(200, sim.check_summaries())},
            "/_sandbox/sms-failover": {"GET": lambda _: json_response(200, sim.sms_failover_requests()),
                                       "DELETE": lambda _: done(sim.clear_sms_failover_requests)},
        }

    def _set_plan(self, request: Request) -> Response:
        try:
            plan, token = parse_plan(request.json())
        except ValueError as exc:
            return _error(400, str(exc), ())
        if not self._sim.set_delivery_plan(plan, token):
            return _error(404, "unknown token", ())
        return json_response(201, {**plan.as_json(), "token": token})
