"""Test controls of the simulated CAMARA aggregator under /_sandbox/ (not CAMARA's API); docs/sandbox.md lists
them."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from sandbox.simulators.camara.faults import FaultQueue
from sandbox.simulators.wsgi import Request, RequestLog, Response, Routes, done, json_response, route


def _admin_error(status: int, description: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    error = "invalid_request" if status == 400 else HTTPStatus(status).phrase.lower().replace(" ", "_")
    return json_response(status, {"error": error, "error_description": description}, headers=headers)


class SandboxControls:
    """Routes /_sandbox/*; the callables reach into the simulator without this module knowing it."""

    def __init__(self, rotate_keys: Callable[[bool], list[str]], mint_operator_token: Callable[[str], str],
                 mint_access_token: Callable[[dict[str, Any]], str]) -> None:
        self.log = RequestLog()
        self.faults = FaultQueue()
        self._rotate_keys = rotate_keys
        self._mint_operator_token = mint_operator_token
        self._mint_access_token = mint_access_token

    def handle(self, request: Request) -> Response:
        routes: Routes = {
            "/_sandbox/requests": {"GET": lambda _: json_response(200, self.log.snapshot()),
                                   "DELETE": lambda _: done(self.log.clear)},
            "/_sandbox/faults": {"GET": lambda _: json_response(200, self.faults.armed()),
                                 "POST": self._add_fault, "DELETE": lambda _: done(self.faults.clear)},
            "/_sandbox/rotate-keys": {"POST": self._rotate},
            "/_sandbox/operator-tokens": {"POST": self._operator_token},
            "/_sandbox/access-tokens": {"POST": self._access_token},
        }
        return route(routes, request, lambda: _admin_error(404, f"no sandbox control at {request.path}"),
                     lambda allow: _admin_error(405, f"{request.method} is not allowed here", (("Allow", allow),)))

    def _add_fault(self, request: Request) -> Response:
        try:
            fault = self.faults.add(request.json())
        except ValueError as exc:
            return _admin_error(400, str(exc))
        return json_response(201, {**fault.spec, "count": fault.remaining})

    def _rotate(self, request: Request) -> Response:
        try:
            body = request.json() if request.body.strip() else {}
        except ValueError:
            return _admin_error(400, "the body must be JSON")
        if not isinstance(body, dict) or not isinstance(body.get("drop_old", False), bool):
            return _admin_error(400, 'the body must be {"drop_old": true|false} or empty')
        kids = self._rotate_keys(body.get("drop_old", False))
        return json_response(200, {"kid": kids[-1], "kids": kids})

    def _operator_token(self, request: Request) -> Response:
        try:
            body = request.json()
            msisdn = body.get("msisdn") if isinstance(body, dict) else None
            token = self._mint_operator_token(msisdn if isinstance(msisdn, str) else "")
        except ValueError as exc:
            return _admin_error(400, str(exc) or 'the body must be {"msisdn": "+E164"}')
        return json_response(201, {"operator_token": token})

    def _access_token(self, request: Request) -> Response:
        try:
            token = self._mint_access_token(request.json())
        except ValueError as exc:
            return _admin_error(400, str(exc))
        return json_response(201, {"access_token": token, "token_type": "Bearer"})
