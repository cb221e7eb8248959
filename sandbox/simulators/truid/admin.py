"""Test controls of the simulated tru.ID under /_sandbox/ (not tru.ID's API); docs/sandbox.md lists them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.simulators import faults
from sandbox.simulators.truid.callbacks import Callbacks
from sandbox.simulators.truid.coverage import Coverage, parse_networks
from sandbox.simulators.truid.problems import problem
from sandbox.simulators.wsgi import Request, RequestLog, Response, Routes, done, json_response, route

_REDELIVER_PATH = re.compile(r"/_sandbox/callbacks/([^/]+)/redeliver/?")


@dataclass(frozen=True)
class Injected:
    """What an armed fault does to one request: wait, then answer this (None: the normal answer)."""

    delay_seconds: float
    response: Response | None


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

    def add(self, spec: Any) -> faults.Fault:
        return self.arm(spec, _kind)

    def take(self, request: Request) -> Injected | None:
        """What an armed fault matching this request does to it (using one of its count), if any."""
        fault = self.take_first(lambda f: f.spec.get("method", "*").upper() in ("*", request.method)
                                and re.search(f.spec["path_regex"], request.path) is not None)
        if fault is None:
            return None
        if fault.kind == "delay":
            return Injected(fault.spec["delay_seconds"], None)
        return Injected(0, fault.answer(lambda status: problem(status, detail="Injected by the sandbox")))


class SandboxControls:
    """Routes /_sandbox/*; the callables reach into the simulator without this module knowing it."""

    def __init__(self, revoke_tokens: Callable[[], None], list_checks: Callable[[], list[dict[str, Any]]],
                 callbacks: Callbacks, coverage: Coverage) -> None:
        self.log = RequestLog()
        self.faults = FaultInjector()
        self._revoke_tokens = revoke_tokens
        self._list_checks = list_checks
        self._callbacks = callbacks
        self._coverage = coverage

    def handle(self, request: Request) -> Response:
        redeliver = _REDELIVER_PATH.fullmatch(request.path)
        if redeliver is not None:
            if request.method != "POST":
                return problem(405, headers=(("Allow", "POST"),))
            return self._redeliver(redeliver[1])
        routes: Routes = {
            "/_sandbox/requests": {"GET": lambda _: json_response(200, self.log.snapshot()),
                                   "DELETE": lambda _: done(self.log.clear)},
            "/_sandbox/revoke-tokens": {"POST": lambda _: done(self._revoke_tokens)},
            "/_sandbox/faults": {"GET": lambda _: json_response(200, self.faults.armed()),
                                 "POST": self._add_fault, "DELETE": lambda _: done(self.faults.clear)},
            "/_sandbox/checks": {"GET": lambda _: json_response(200, self._list_checks())},
            "/_sandbox/callbacks": {"GET": lambda _: json_response(200, self._callbacks.attempts()),
                                    "DELETE": lambda _: done(self._callbacks.clear)},
            "/_sandbox/callback-faults": {"GET": lambda _: json_response(200, self._callbacks.faults.armed()),
                                          "POST": self._add_callback_fault,
                                          "DELETE": lambda _: done(self._callbacks.faults.clear)},
            "/_sandbox/rotate-callback-key": {"POST": self._rotate_callback_key},
            "/_sandbox/coverage": {"GET": lambda _: self._coverage_now(),
                                   "POST": self._set_coverage,
                                   "DELETE": lambda _: done(self._coverage.reset)},
        }
        return route(routes, request, lambda: problem(404, "not_found"),
                     lambda allow: problem(405, headers=(("Allow", allow),)))

    def _add_fault(self, request: Request) -> Response:
        try:
            fault = self.faults.add(request.json())
        except ValueError as exc:
            return problem(400, "bad_request", str(exc))
        return json_response(201, {**fault.spec, "count": fault.remaining})

    def _add_callback_fault(self, request: Request) -> Response:
        try:
            armed = self._callbacks.faults.add(request.json())
        except ValueError as exc:
            return problem(400, "bad_request", str(exc))
        return json_response(201, armed)

    def _rotate_callback_key(self, request: Request) -> Response:
        """Body: nothing, `{}` or `{"drop_old": bool}`; answers the new kid and the JWKS now published."""
        try:
            options = request.json() if request.body.strip() else {}
        except ValueError:
            options = None
        drop_old = options.get("drop_old", False) if isinstance(options, dict) else None
        if not isinstance(drop_old, bool) or set(options or {}) - {"drop_old"}:
            return problem(400, "bad_request", 'The body must be empty or {"drop_old": true|false}')
        key = self._callbacks.keys.rotate(drop_old)
        return json_response(200, {"kid": key.kid, "jwks": self._callbacks.keys.jwks()})

    def _set_coverage(self, request: Request) -> Response:
        try:
            networks = parse_networks(request.json())
        except ValueError as exc:
            return problem(400, "bad_request", str(exc))
        self._coverage.replace_unsupported(networks)
        return self._coverage_now()

    def _coverage_now(self) -> Response:
        return json_response(200, {"unsupported_networks": sorted(self._coverage.unsupported_networks())})

    def _redeliver(self, check_id: str) -> Response:
        attempt = self._callbacks.redeliver(check_id)
        if attempt is None:
            return problem(404, "not_found", "No callback has been made for this check")
        return json_response(200, attempt)
