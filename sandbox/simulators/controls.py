"""What the simulators' test controls under /_sandbox/ share (docs/sandbox.md, Test controls): routing with the
simulator's own error shape, the request log, fault queues, callback attempts and their replays."""

from __future__ import annotations

import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from sandbox.simulators.courier import Courier
from sandbox.simulators.faults import FaultQueue
from sandbox.simulators.wsgi import Headers, Request, RequestLog, Response, done, json_response, route

Error = Callable[[int, str, Headers], Response]  # the simulator's error answer: status, detail, headers
Handlers = dict[str, Callable[[Request], Response]]  # method -> handler
_REDELIVER = re.compile(r"/_sandbox/callbacks/([^/]+)/redeliver/?")


def error_code(status: int) -> str:
    return HTTPStatus(status).phrase.lower().replace(" ", "_")


def drop_old(request: Request) -> bool:
    """A key rotation's body: nothing, `{}` or `{"drop_old": bool}`; ValueError otherwise."""
    try:
        options = request.json() if request.body.strip() else {}
    except ValueError:
        options = None
    drop = options.get("drop_old", False) if isinstance(options, dict) and set(options) <= {"drop_old"} else None
    if not isinstance(drop, bool):
        raise ValueError('the body must be empty or {"drop_old": true|false}')
    return drop


class Controls:
    """Routes /_sandbox/*: the request log, the callbacks when there is a courier, and `routes()`."""

    def __init__(self, error: Error, log: RequestLog | None = None, courier: Courier | None = None) -> None:
        self.error = error
        self.log = log or RequestLog()
        self.courier = courier

    def routes(self) -> dict[str, Handlers]:
        """The simulator's own controls, beside the request log and the callbacks."""
        return {}

    def handle(self, request: Request) -> Response:
        courier = self.courier
        if courier is not None and (replay := _REDELIVER.fullmatch(request.path)):
            if request.method != "POST":
                return self.error(405, "use POST", (("Allow", "POST"),))
            record = courier.redeliver(replay[1])
            return self.error(404, "no callback was ever made for this one", ()) if record is None \
                else json_response(200, record)
        routes = {"/_sandbox/requests": {"GET": lambda _: json_response(200, self.log.snapshot()),
                                         "DELETE": lambda _: done(self.log.clear)}, **self.routes()}
        if courier is not None:
            routes["/_sandbox/callbacks"] = {"GET": lambda _: json_response(200, courier.records()),
                                             "DELETE": lambda _: done(courier.clear)}
        return route(routes, request, lambda: self.error(404, f"no sandbox control at {request.path}", ()),
                     lambda allow: self.error(405, f"{request.method} is not allowed here", (("Allow", allow),)))

    def answer(self, make: Callable[[], Any], status: int = 200) -> Response:
        """What `make()` returns, as JSON; 400 with the ValueError it raises."""
        try:
            return json_response(status, make())
        except ValueError as exc:
            return self.error(400, str(exc), ())

    def fault_routes(self, faults: FaultQueue) -> Handlers:
        """GET the armed faults, POST one (201, as armed), DELETE them all."""
        def add(request: Request) -> Any:
            fault = faults.add(request.json())
            return {**fault.spec, "count": fault.remaining}

        return {"GET": lambda _: json_response(200, faults.armed()),
                "POST": lambda request: self.answer(lambda: add(request), 201),
                "DELETE": lambda _: done(faults.clear)}
