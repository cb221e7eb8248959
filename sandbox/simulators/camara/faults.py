"""One-shot faults of the simulated CAMARA aggregator: armed through POST /_sandbox/faults (admin.py), taken
by the endpoints they act on.

Faults are JSON objects with an `endpoint`, an optional `count` (default 1) and one of these shapes:

| endpoint | shape | effect |
|---|---|---|
| authorize | `{"error": E, "error_description"?: D}` | the flow ends in an error redirect with E |
| authorize | `{"iss": X}` / `{"omit_iss": true}` | the redirect that ends the flow carries iss=X / no iss |
| token, bc-authorize | `{"status": S, "body"?: B}` | raw answer S, default body `{"error": …}` per S |
| verify, device-phone-number | `{"status"?: S, "body": B}` | raw answer, S defaults to 200 (malformed successes) |
| verify, device-phone-number | `{"status": S, "code"?: C, "message"?: M}` | ErrorInfo from S and C (C defaults per S) |
| token, bc-authorize, verify, device-phone-number | `{"delay_seconds": N}` | answers normally, N s late |
| token | `{"id_token": X}`, X in keys.ID_TOKEN_DEFECTS | the next issued ID token has that defect |
| ciba | `{"pending_polls": N}` | the next auth_req_id needs N authorization_pending polls |
| ciba | `{"error": E}` | the next poll that would be pending or succeed answers 400 E instead |

Raw answers (`status`/`body`) also accept `"headers": {name: value}` and, instead of `body`,
`"raw_body": "text"` with `"content_type"` (default text/plain). A fault applies to the next request of
its endpoint where it can apply: a raw answer or delay to the next request, an ID-token defect to the
next response that carries an ID token.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from sandbox.simulators.camara.keys import ID_TOKEN_DEFECTS
from sandbox.simulators.wsgi import Response, json_response

ENDPOINTS = frozenset({"authorize", "token", "verify", "device-phone-number", "bc-authorize", "ciba"})
API_ENDPOINTS = frozenset({"verify", "device-phone-number"})
MAX_DELAY_SECONDS = 60
_ERROR_CODE = re.compile(r"[a-z_]{1,64}")
_HEADER_NAME = re.compile(r"[A-Za-z0-9-]{1,64}")
_RAW_FIELDS = frozenset({"status", "body", "raw_body", "content_type", "headers"})
_KNOWN_STATUSES = frozenset(s.value for s in HTTPStatus)


@dataclass
class Fault:
    endpoint: str
    kind: str  # error | iss | raw | delay | id_token | pending
    spec: dict[str, Any]
    remaining: int


def _kind(endpoint: str, spec: Mapping[str, Any]) -> str:
    """The fault's kind, or ValueError saying what is wrong with it."""
    fields = set(spec) - {"endpoint", "count"}
    if endpoint == "authorize":
        if "error" in fields and fields <= {"error", "error_description"}:
            return _checked_error(spec)
        if fields == {"iss"} and isinstance(spec["iss"], str):
            return "iss"
        if fields == {"omit_iss"} and spec["omit_iss"] is True:
            return "iss"
        raise ValueError('authorize faults: {"error": E} or {"iss": URL} or {"omit_iss": true}')
    if endpoint == "ciba":
        if fields == {"pending_polls"} and _int(spec["pending_polls"]) and spec["pending_polls"] >= 0:
            return "pending"
        if "error" in fields and fields <= {"error", "error_description"}:
            return _checked_error(spec)
        raise ValueError('ciba faults: {"pending_polls": N} or {"error": E}')
    if fields == {"delay_seconds"}:
        delay = spec["delay_seconds"]
        if not isinstance(delay, int | float) or isinstance(delay, bool) or not 0 < delay <= MAX_DELAY_SECONDS:
            raise ValueError(f"delay_seconds must be a number in (0, {MAX_DELAY_SECONDS}]")
        return "delay"
    if endpoint == "token" and "id_token" in fields:
        if fields != {"id_token"} or spec["id_token"] not in ID_TOKEN_DEFECTS:
            raise ValueError(f"id_token must be one of {', '.join(sorted(ID_TOKEN_DEFECTS))}")
        return "id_token"
    allowed = _RAW_FIELDS | ({"code", "message"} if endpoint in API_ENDPOINTS else set())
    unknown = sorted(fields - allowed)
    if unknown or not fields:
        raise ValueError(f"unknown or missing fault field(s) for {endpoint}: {', '.join(unknown) or '(none)'}")
    _check_raw(endpoint, spec)
    return "raw"


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _checked_error(spec: Mapping[str, Any]) -> str:
    if not isinstance(spec["error"], str) or not _ERROR_CODE.fullmatch(spec["error"]):
        raise ValueError("error must be an OAuth error code like access_denied")
    if not isinstance(spec.get("error_description", ""), str):
        raise ValueError("error_description must be a string")
    return "error"


def _check_raw(endpoint: str, spec: Mapping[str, Any]) -> None:
    status = spec.get("status")
    if status is None and (endpoint not in API_ENDPOINTS or "code" in spec or not {"body", "raw_body"} & set(spec)):
        raise ValueError("status is required (it defaults to 200 only for a verify/device-phone-number body)")
    if status is not None and (not _int(status) or status not in _KNOWN_STATUSES or status < 200):
        raise ValueError("status must be a known HTTP status, 200 or above")
    if "body" in spec and "raw_body" in spec:
        raise ValueError("give body or raw_body, not both")
    if "raw_body" in spec and not isinstance(spec["raw_body"], str):
        raise ValueError("raw_body must be a string")
    for key in ("content_type", "code", "message"):
        if key in spec and not isinstance(spec[key], str):
            raise ValueError(f"{key} must be a string")
    headers = spec.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and _HEADER_NAME.fullmatch(k) and isinstance(v, str) and v.isprintable() and v.isascii()
        for k, v in headers.items()
    ):
        raise ValueError("headers must map header names to printable ASCII strings")


class FaultQueue:
    """Armed faults, used up in order per endpoint and kind; safe to share across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, spec: Any) -> Fault:
        if not isinstance(spec, dict):
            raise ValueError("the fault must be a JSON object")
        endpoint, count = spec.get("endpoint"), spec.get("count", 1)
        if endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {', '.join(sorted(ENDPOINTS))}")
        if not _int(count) or count < 1:
            raise ValueError("count must be a positive integer")
        fault = Fault(endpoint, _kind(endpoint, spec), {k: v for k, v in spec.items() if k != "count"}, count)
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, endpoint: str, kinds: frozenset[str] | set[str]) -> Fault | None:
        """The first armed fault for `endpoint` of one of `kinds`, using one of its count."""
        with self._lock:
            for fault in self._faults:
                if fault.endpoint == endpoint and fault.kind in kinds:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def armed(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{**f.spec, "count": f.remaining} for f in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()


def injected_response(fault: Fault, default_body: Callable[[int], Any], extra_headers: tuple[tuple[str, str], ...] = ()
                      ) -> Response:
    """The raw answer a `raw` fault describes; `default_body(status)` when it gives no body."""
    spec = fault.spec
    status = spec.get("status", 200)
    headers = (*tuple(spec.get("headers", {}).items()), *extra_headers)
    if "raw_body" in spec:
        content_type = spec.get("content_type", "text/plain")
        return Response(status, (("Content-Type", content_type), *headers), spec["raw_body"].encode())
    if "body" in spec:
        body = spec["body"]
    elif "code" in spec:
        body = {"status": status, "code": spec["code"], "message": spec.get("message", "Injected by the sandbox")}
    else:
        body = default_body(status)
    return json_response(status, body, spec.get("content_type", "application/json"), headers)
