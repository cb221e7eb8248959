"""The simulated CAMARA aggregator's faults (shapes in docs/sandbox.md, Faults): raw answers and delays of
its endpoints, and its own kinds (error redirects, `iss`, defective ID tokens, CIBA polls)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from sandbox.simulators import faults
from sandbox.simulators.camara.keys import ID_TOKEN_DEFECTS
from sandbox.simulators.faults import Fault, is_int
from sandbox.simulators.wsgi import Headers, Response, json_response

__all__ = ["Fault", "FaultQueue", "injected_response"]

ENDPOINTS = frozenset({"authorize", "token", "verify", "device-phone-number", "bc-authorize", "ciba"})
API_ENDPOINTS = frozenset({"verify", "device-phone-number"})
_ERROR_CODE = re.compile(r"[a-z_]{1,64}")


def _kind(spec: Mapping[str, Any]) -> str:
    """The fault's kind, or ValueError saying what is wrong with it."""
    endpoint = spec.get("endpoint")
    if endpoint not in ENDPOINTS:
        raise ValueError(f"endpoint must be one of {', '.join(sorted(ENDPOINTS))}")
    fields = set(spec) - {"endpoint", "count"}
    if endpoint in ("authorize", "ciba") and "error" in fields and fields <= {"error", "error_description"}:
        if not isinstance(spec["error"], str) or not _ERROR_CODE.fullmatch(spec["error"]):
            raise ValueError("error must be an OAuth error code like access_denied")
        if not isinstance(spec.get("error_description", ""), str):
            raise ValueError("error_description must be a string")
        return "error"
    if endpoint == "authorize":
        if fields == {"iss"} and isinstance(spec["iss"], str):
            return "iss"
        if fields == {"omit_iss"} and spec["omit_iss"] is True:
            return "iss"
        raise ValueError('authorize faults: {"error": E} or {"iss": URL} or {"omit_iss": true}')
    if endpoint == "ciba":
        if fields == {"pending_polls"} and is_int(spec["pending_polls"]) and spec["pending_polls"] >= 0:
            return "pending"
        raise ValueError('ciba faults: {"pending_polls": N} or {"error": E}')
    if endpoint == "token" and "id_token" in fields:
        if fields != {"id_token"} or spec["id_token"] not in ID_TOKEN_DEFECTS:
            raise ValueError(f"id_token must be one of {', '.join(sorted(ID_TOKEN_DEFECTS))}")
        return "id_token"
    extra = {"endpoint", "code", "message"} if endpoint in API_ENDPOINTS else {"endpoint"}
    if not all(isinstance(spec.get(key, ""), str) for key in ("code", "message")):
        raise ValueError("code and message must be strings")
    return faults.raw_kind(spec, extra)


class FaultQueue(faults.FaultQueue):
    """Armed faults, used up in order per endpoint and kind."""

    def __init__(self) -> None:
        super().__init__(_kind)

    def take(self, endpoint: str, kinds: frozenset[str] | set[str]) -> Fault | None:
        """The first armed fault for `endpoint` of one of `kinds`, using one of its count."""
        return self.take_first(lambda f: f.spec["endpoint"] == endpoint and f.kind in kinds)


def injected_response(fault: Fault, default_body: Callable[[int], Any], extra_headers: Headers = ()) -> Response:
    """The raw answer a `raw` fault describes; ErrorInfo from its `code`, or `default_body(status)`."""
    spec = fault.spec

    def default(status: int) -> Response:
        if "code" in spec:
            return json_response(status, {"status": status, "code": spec["code"],
                                          "message": spec.get("message", "Injected by the sandbox")})
        return json_response(status, default_body(status))

    return fault.answer(default, extra_headers)
