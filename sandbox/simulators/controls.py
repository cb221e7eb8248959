"""What the simulators' test controls under /_sandbox/ share (docs/sandbox.md, Test controls): routing with the
simulator's own error shape, the request log, fault queues, callback attempts and their replays."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from sandbox.simulators.courier import Courier
from sandbox.simulators.faults import FaultQueue
from sandbox.simulators.wsgi import Headers, Request, Response, Routes, json_response, route

ADMIN_PREFIX = "/_sandbox/"  # where every simulator keeps its test controls (not the provider's API)
Error = Callable[[int, str, Headers], Response]  # the simulator's error answer: status, detail, headers
Handlers = dict[str, Callable[..., Response]]  # method -> handler


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


def done(action: Callable[[], Any]) -> Response:
    """Do `action` and answer 204, as every DELETE and plain POST of the test controls does."""
    action()
    return Response(204)


class RequestLog:
    """Every request except the /_sandbox/ ones, with credentials reduced to their scheme."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []

    def record(self, request: Request) -> None:
        headers = {"-".join(part.capitalize() for part in name.split("-")): value
                   for name, value in request.headers.items()}
        if "Authorization" in headers:
            headers["Authorization"] = headers["Authorization"].partition(" ")[0]
        entry = {"method": request.method, "path": request.path, "query": dict(request.query), "headers": headers,
                 "body": request.body.decode("utf-8", errors="replace"), "remote_addr": request.remote_addr}
        with self._lock:
            self._entries.append(entry)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class Controls:
    """Routes /_sandbox/*: the request log, the callbacks when there is a courier, and `routes()`."""

    def __init__(self, error: Error, courier: Courier | None = None) -> None:
        self.error = error
        self.log = RequestLog()
        self.courier = courier

    def routes(self) -> dict[str, Handlers]:
        """The simulator's own controls, beside the request log and the callbacks."""
        return {}

    def serve(self, request: Request, routes: Routes, not_found: Callable[[], Response],
              not_allowed: Callable[[str], Response],
              first: Callable[[Request], Response | None] = lambda _: None) -> Response:
        """The simulator's front door: /_sandbox/ to the controls; anything else is logged, then answered by
        `first` if it answers, else by `routes` (`not_found` and `not_allowed` in the provider's own shape)."""
        if request.path.startswith(ADMIN_PREFIX):
            return self.handle(request)
        self.log.record(request)
        answer = first(request)
        return answer if answer is not None else route(routes, request, not_found, not_allowed)

    def handle(self, request: Request) -> Response:
        courier = self.courier
        routes: dict[str, Handlers] = {
            "/_sandbox/requests": {"GET": lambda _: json_response(200, self.log.snapshot()),
                                   "DELETE": lambda _: done(self.log.clear)}, **self.routes()}
        if courier is not None:
            routes["/_sandbox/callbacks"] = {"GET": lambda _: json_response(200, courier.records()),
                                             "DELETE": lambda _: done(courier.clear)}
            routes["/_sandbox/callbacks/{key}/redeliver"] = {"POST": lambda _, key: self._redeliver(courier, key)}
        return route(routes, request, lambda: self.error(404, f"no sandbox control at {request.path}", ()),
                     lambda allow: self.error(405, f"{request.method} is not allowed here", (("Allow", allow),)))

    def _redeliver(self, courier: Courier, key: str) -> Response:
        record = courier.redeliver(key)
        return self.error(404, "no callback was ever made for this one", ()) if record is None \
            else json_response(200, record)

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
