"""Test controls of the simulated tru.ID under /_sandbox/ (not tru.ID's API); docs/sandbox.md lists them."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from sandbox.simulators import faults
from sandbox.simulators.controls import Controls, Handlers, done, drop_old
from sandbox.simulators.truid.callbacks import Callbacks
from sandbox.simulators.truid.coverage import Coverage, parse_networks
from sandbox.simulators.truid.problems import problem
from sandbox.simulators.wsgi import Headers, Request, Response, json_response


def _kind(spec: dict[str, Any]) -> str:
    if not isinstance(spec.get("method", "*"), str) or not isinstance(spec.get("path_regex"), str):
        raise ValueError("method and path_regex must be strings")
    try:
        re.compile(spec["path_regex"])
    except re.error as exc:
        raise ValueError(f"path_regex does not compile: {exc}") from None
    return faults.raw_kind(spec, {"method", "path_regex"})


class FaultInjector(faults.FaultQueue):
    """The next `count` requests matching a method and a path regex answer late, or answer something else."""

    def __init__(self) -> None:
        super().__init__(_kind)

    def answer(self, request: Request) -> Response | None:
        """The answer an armed fault matching this request gives (using one of its count), if any; a delay
        fault waits and leaves the answer to the simulator."""
        fault = self.take_first(lambda f: f.spec.get("method", "*").upper() in ("*", request.method)
                                and re.search(f.spec["path_regex"], request.path) is not None)
        if fault is None or fault.kind == "delay":
            time.sleep(fault.spec["delay_seconds"] if fault else 0)
            return None
        return fault.answer(lambda status: problem(status, detail="Injected by the sandbox"))


def _error(status: int, detail: str, headers: Headers) -> Response:
    return problem(status, "not_found" if status == 404 else None, detail, headers)


class SandboxControls(Controls):
    """The callables reach into the simulator without this module knowing it."""

    def __init__(self, revoke_tokens: Callable[[], None], list_checks: Callable[[], list[dict[str, Any]]],
                 callbacks: Callbacks, coverage: Coverage) -> None:
        super().__init__(_error, callbacks)
        self.faults = FaultInjector()
        self._revoke_tokens = revoke_tokens
        self._list_checks = list_checks
        self._callbacks = callbacks
        self._coverage = coverage

    def routes(self) -> dict[str, Handlers]:
        coverage, keys = self._coverage, self._callbacks.keys

        def set_coverage(request: Request) -> Any:
            coverage.replace_unsupported(parse_networks(request.json()))
            return covered()

        def covered() -> Any:
            return {"unsupported_networks": sorted(coverage.unsupported_networks())}

        def rotate(request: Request) -> Any:
            key = keys.rotate(drop_old(request))
            return {"kid": key.kid, "jwks": keys.jwks()}

        return {
            "/_sandbox/revoke-tokens": {"POST": lambda _: done(self._revoke_tokens)},
            "/_sandbox/faults": self.fault_routes(self.faults),
            "/_sandbox/checks": {"GET": lambda _: json_response(200, self._list_checks())},
            "/_sandbox/callback-faults": self.fault_routes(self._callbacks.faults),
            "/_sandbox/rotate-callback-key": {"POST": lambda request: self.answer(lambda: rotate(request))},
            "/_sandbox/coverage": {"GET": lambda _: json_response(200, covered()),
                                   "POST": lambda request: self.answer(lambda: set_coverage(request)),
                                   "DELETE": lambda _: done(coverage.reset)},
        }
