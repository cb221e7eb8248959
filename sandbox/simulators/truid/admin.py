"""Test controls of the simulated tru.ID under /_sandbox/ (not tru.ID's API): requests, faults, callbacks, coverage.

| method and path | effect |
|---|---|
| GET, DELETE /_sandbox/requests | the requests tru.ID received (credentials reduced to their scheme); forget them |
| POST /_sandbox/revoke-tokens | every access token stops working |
| POST, DELETE /_sandbox/faults | `{method, path_regex, status, count, retry_after, delay_seconds, body, …}` [2] |
| GET /_sandbox/checks | every check as the simulator holds it |
| GET, DELETE /_sandbox/callbacks | every callback attempt (see callbacks.Callbacks); forget them |
| POST /_sandbox/callbacks/{check_id}/redeliver | send the check's last callback request again, unchanged (a replay) |
| GET, POST, DELETE /_sandbox/callback-faults | `{mode, count, check_id?}` (see callbacks.py) |
| POST /_sandbox/rotate-callback-key | `{"drop_old": false}`: a new signing key; the JWKS keeps the old unless dropped |
| GET, POST, DELETE /_sandbox/coverage | `{"unsupported_networks": ["23415"]}`: device-IP lookups there are 400 [1] |

[1] `#mno_not_supported`. POST replaces the whole set and answers the set now in force (as GET does); DELETE
    restores `TruIdConfig.unsupported_networks`. Ids are MCC+MNC strings (5 or 6 digits), else 400 `#bad_request`.
[2] The next `count` (default 1) requests matching `method` (default any) and `path_regex` wait `delay_seconds`
    (if given, up to 30), then get `status` (a problem, with Retry-After on 429) or, without `status`, their
    normal answer. `body` (a string, sent verbatim: malformed or cut-short JSON) with `content_type` (default
    application/json) replaces the problem body; with a `body`, any status is allowed, 2xx included. `location`
    with a 3xx `status` answers a redirect there (a loop, when it points back at the request).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from sandbox.simulators.truid.callbacks import Callbacks
from sandbox.simulators.truid.coverage import Coverage, parse_networks
from sandbox.simulators.truid.problems import DEFAULT_RETRY_AFTER_SECONDS, problem
from sandbox.simulators.wsgi import Request, RequestLog, Response, Routes, done, json_response, route

_FAULT_FIELDS = frozenset({"method", "path_regex", "status", "count", "retry_after", "delay_seconds", "body",
                           "content_type", "location"})
MAX_DELAY_SECONDS = 30
_KNOWN_STATUSES = frozenset(s.value for s in HTTPStatus)
_REDELIVER_PATH = re.compile(r"/_sandbox/callbacks/([^/]+)/redeliver/?")


@dataclass
class _Fault:
    method: str  # "*" matches any
    path_regex: re.Pattern[str]
    status: int | None  # None: the normal answer, late
    remaining: int
    retry_after: int
    delay_seconds: float = 0.0
    body: str | None = None
    content_type: str = "application/json"
    location: str | None = None

    def answer(self) -> Response | None:
        if self.status is None:
            return None
        if self.location is not None:
            return Response(self.status, (("Location", self.location),))
        if self.body is not None:
            return Response(self.status, (("Content-Type", self.content_type),), self.body.encode())
        headers = (("Retry-After", str(self.retry_after)),) if self.status == 429 else ()
        return problem(self.status, detail="Injected by the sandbox", headers=headers)


@dataclass(frozen=True)
class Injected:
    """What an armed fault does to one request: wait, then answer this (None: the normal answer)."""

    delay_seconds: float
    response: Response | None


class FaultInjector:
    """The next `count` requests matching a method and a path regex answer late, or answer something else."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []

    def add(self, spec: Any) -> _Fault:
        """Validate and arm a fault from its JSON description; ValueError says what is wrong."""
        if not isinstance(spec, dict):
            raise ValueError("body must be a JSON object")
        unknown = sorted(set(spec) - _FAULT_FIELDS)
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(unknown)}")
        method, path_regex = spec.get("method", "*"), spec.get("path_regex")
        status, count = spec.get("status"), spec.get("count", 1)
        retry_after = spec.get("retry_after", DEFAULT_RETRY_AFTER_SECONDS)
        delay, body = spec.get("delay_seconds", 0), spec.get("body")
        content_type = spec.get("content_type", "application/json")
        if not isinstance(method, str) or not isinstance(path_regex, str):
            raise ValueError("method and path_regex must be strings")
        if status is None and not delay:
            raise ValueError("a fault needs a status, a delay_seconds or both")
        location = spec.get("location")
        if location is not None and (not isinstance(location, str) or not isinstance(status, int)
                                     or not 300 <= status < 400):
            raise ValueError("location must be a string and comes with a 3xx status")
        lowest = 200 if body is not None or location is not None else 400
        if status is not None and (not isinstance(status, int) or status < lowest or status not in _KNOWN_STATUSES):
            raise ValueError("status must be an HTTP error status (4xx or 5xx), or any status with a body")
        if not isinstance(delay, int | float) or isinstance(delay, bool) or not 0 <= delay <= MAX_DELAY_SECONDS:
            raise ValueError(f"delay_seconds must be a number in [0, {MAX_DELAY_SECONDS}]")
        if (body is not None and (status is None or not isinstance(body, str))) or not isinstance(content_type, str):
            raise ValueError("body must be a string and comes with a status; content_type must be a string")
        if not isinstance(count, int) or count < 1 or not isinstance(retry_after, int) or retry_after < 0:
            raise ValueError("count must be a positive integer and retry_after a non-negative one")
        try:
            pattern = re.compile(path_regex)
        except re.error as exc:
            raise ValueError(f"path_regex does not compile: {exc}") from None
        fault = _Fault(method.upper(), pattern, status, count, retry_after, float(delay), body, content_type,
                       location)
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, request: Request) -> Injected | None:
        """What an armed fault matching this request does to it (using one of its count), if any."""
        with self._lock:
            for fault in self._faults:
                if fault.method in ("*", request.method) and fault.path_regex.search(request.path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    break
            else:
                return None
        return Injected(fault.delay_seconds, fault.answer())

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()


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
            "/_sandbox/faults": {"POST": self._add_fault, "DELETE": lambda _: done(self.faults.clear)},
            "/_sandbox/checks": {"GET": lambda _: json_response(200, self._list_checks())},
            "/_sandbox/callbacks": {"GET": lambda _: json_response(200, self._callbacks.attempts()),
                                    "DELETE": lambda _: done(self._callbacks.clear)},
            "/_sandbox/callback-faults": {"GET": lambda _: json_response(200, self._callbacks.faults.snapshot()),
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
        armed = {"method": fault.method, "path_regex": fault.path_regex.pattern, "status": fault.status,
                 "count": fault.remaining, "retry_after": fault.retry_after, "delay_seconds": fault.delay_seconds}
        return json_response(201, armed)

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
