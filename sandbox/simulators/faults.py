"""The fault engine the simulators share: faults armed through their /_sandbox/ controls, each used up by the
next `count` requests (or callbacks) it matches, first armed first used. A raw answer is one vocabulary for
every simulator (docs/sandbox.md, Faults); what selects a request, and any other kind, is the simulator's."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from sandbox.simulators.wsgi import Headers, Response, json_response

MAX_DELAY_SECONDS = 30
RAW_FIELDS = frozenset({"status", "body", "raw_body", "content_type", "headers", "delay_seconds"})
_KNOWN_STATUSES = frozenset(s.value for s in HTTPStatus)
_HEADER_NAME = re.compile(r"[A-Za-z0-9-]{1,64}")


@dataclass
class Fault:
    kind: str  # raw | delay, or one of the simulator's own kinds
    spec: dict[str, Any]  # as armed, without its count
    remaining: int

    def answer(self, default: Callable[[int], Response], extra_headers: Headers = ()) -> Response:
        """The raw answer, after its delay; `default(status)` when it gives no body and is an error."""
        time.sleep(float(self.spec.get("delay_seconds", 0)))
        spec, status = self.spec, self.spec["status"]
        headers = (*spec.get("headers", {}).items(), *extra_headers)
        if "raw_body" in spec:
            content_type = spec.get("content_type", "text/plain")
            return Response(status, (("Content-Type", content_type), *headers), spec["raw_body"].encode())
        if "body" in spec:
            return json_response(status, spec["body"], spec.get("content_type", "application/json"), headers)
        if status < 400:
            return Response(status, headers)  # a redirect: checked to carry a Location
        made = default(status)
        return Response(made.status, (*made.headers, *headers), made.body)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def raw_kind(spec: Mapping[str, Any], allowed: Collection[str] = ()) -> str:
    """`raw` (or `delay` for a delay alone) when `spec` is a valid raw answer using RAW_FIELDS, `allowed` and
    `count`; ValueError says what is wrong."""
    unknown = sorted(set(spec) - RAW_FIELDS - set(allowed) - {"count"})
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(unknown)}")
    status, delay = spec.get("status"), spec.get("delay_seconds", 0)
    if not isinstance(delay, int | float) or isinstance(delay, bool) or not 0 <= delay <= MAX_DELAY_SECONDS:
        raise ValueError(f"delay_seconds must be a number in [0, {MAX_DELAY_SECONDS}]")
    if status is None:
        if (RAW_FIELDS - {"delay_seconds"}) & set(spec) or not delay:
            raise ValueError("a fault needs a status, a delay_seconds or both (body and headers come with a status)")
        return "delay"
    if not is_int(status) or status not in _KNOWN_STATUSES or status < 200:
        raise ValueError("status must be a known HTTP status, 200 or above")
    if "body" in spec and "raw_body" in spec:
        raise ValueError("give body or raw_body, not both")
    if not isinstance(spec.get("raw_body", ""), str) or not isinstance(spec.get("content_type", ""), str):
        raise ValueError("raw_body and content_type must be strings")
    headers = spec.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and _HEADER_NAME.fullmatch(k) and isinstance(v, str) and v.isprintable() and v.isascii()
        for k, v in headers.items()
    ):
        raise ValueError("headers must map header names to printable ASCII strings")
    location = "location" in {name.lower() for name in headers}
    if location and not 300 <= status < 400:
        raise ValueError("a Location header comes with a 3xx status")
    if status < 400 and not location and not {"body", "raw_body"} & set(spec):
        raise ValueError("a 2xx or 3xx status needs a body or a Location header")
    return "raw"


class FaultQueue:
    """Armed faults, each of the kind `kind_of(spec)` says (it raises ValueError for an invalid one); safe to
    share across threads."""

    def __init__(self, kind_of: Callable[[dict[str, Any]], str]) -> None:
        self._kind_of = kind_of
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, spec: Any) -> Fault:
        if not isinstance(spec, dict):
            raise ValueError("the fault must be a JSON object")
        count = spec.get("count", 1)
        if not is_int(count) or count < 1:
            raise ValueError("count must be a positive integer")
        fault = Fault(self._kind_of(spec), {k: v for k, v in spec.items() if k != "count"}, count)
        with self._lock:
            self._faults.append(fault)
        return fault

    def take_first(self, matches: Callable[[Fault], bool]) -> Fault | None:
        """The first armed fault that `matches`, using one of its count."""
        with self._lock:
            fault = next((f for f in self._faults if matches(f)), None)
            if fault is not None:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
            return fault

    def armed(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{**f.spec, "count": f.remaining} for f in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
