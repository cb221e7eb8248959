"""Test controls of the simulated CAMARA aggregator under /_sandbox/ (not CAMARA's API); docs/sandbox.md lists
them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.simulators.camara.faults import FaultQueue
from sandbox.simulators.controls import Controls, Handlers, drop_old, error_code
from sandbox.simulators.wsgi import Headers, Request, Response, json_response


def _error(status: int, description: str, headers: Headers) -> Response:
    error = "invalid_request" if status == 400 else error_code(status)
    return json_response(status, {"error": error, "error_description": description}, headers=headers)


class SandboxControls(Controls):
    """The callables reach into the simulator without this module knowing it."""

    def __init__(self, rotate_keys: Callable[[bool], list[str]], mint_operator_token: Callable[[str], str],
                 mint_access_token: Callable[[dict[str, Any]], str]) -> None:
        super().__init__(_error)
        self.faults = FaultQueue()
        self._rotate_keys = rotate_keys
        self._mint_operator_token = mint_operator_token
        self._mint_access_token = mint_access_token

    def routes(self) -> dict[str, Handlers]:
        def rotate(request: Request) -> Any:
            kids = self._rotate_keys(drop_old(request))
            return {"kid": kids[-1], "kids": kids}

        def operator_token(request: Request) -> Any:
            body = request.json()
            msisdn = body.get("msisdn") if isinstance(body, dict) else None
            try:
                return {"operator_token": self._mint_operator_token(msisdn if isinstance(msisdn, str) else "")}
            except ValueError as exc:
                raise ValueError(str(exc) or 'the body must be {"msisdn": "+E164"}') from None

        def access_token(request: Request) -> Any:
            return {"access_token": self._mint_access_token(request.json()), "token_type": "Bearer"}

        return {
            "/_sandbox/faults": self.fault_routes(self.faults),
            "/_sandbox/rotate-keys": {"POST": lambda request: self.answer(lambda: rotate(request))},
            "/_sandbox/operator-tokens": {"POST": lambda request: self.answer(lambda: operator_token(request), 201)},
            "/_sandbox/access-tokens": {"POST": lambda request: self.answer(lambda: access_token(request), 201)},
        }
