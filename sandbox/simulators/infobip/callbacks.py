"""The simulated Infobip's result callbacks: their wire format (a JSON POST, or the legacy GET form) and the
test-controlled delivery plan; the shared courier sends them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args
from urllib.parse import quote, urlsplit, urlunsplit

from sandbox.simulators import courier
from sandbox.simulators.courier import Outgoing
from sandbox.simulators.faults import is_int
from sandbox.simulators.infobip.api import error_object

Mode = Literal["normal", "late", "held", "twice", "never", "out_of_order"]
Result = Literal["VALID", "INVALID", "ERROR"]
LEGACY_PLACEHOLDERS = ("{result}", "{token}")
DEFAULT_DELAY_SECONDS = 2.0
MAX_DELAY_SECONDS = 60.0
MAX_ATTEMPTS = 10
MAX_RETRY_SECONDS = 10.0
USER_AGENT = "silentcheck-sandbox-infobip/1"
_PLAN_FIELDS = frozenset({"mode", "delay_seconds", "result", "token", "attempts", "retry_seconds"})


@dataclass(frozen=True)
class DeliveryPlan:
    """How one check's callback goes out; `normal` is what Infobip does when all is well."""

    mode: Mode = "normal"
    delay_seconds: float = DEFAULT_DELAY_SECONDS  # late: how long after the result the callback leaves
    decoy_result: Result | None = None  # out_of_order: the result of the stale first delivery
    attempts: int | None = None  # None: the simulator's default
    retry_seconds: float | None = None  # None: the simulator's default

    def as_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "delay_seconds": self.delay_seconds, "result": self.decoy_result,
                "attempts": self.attempts, "retry_seconds": self.retry_seconds}


def parse_plan(spec: Any) -> tuple[DeliveryPlan, str | None]:
    """A plan and the token it targets (None: the next check created); ValueError says what is wrong."""
    if not isinstance(spec, dict):
        raise ValueError("body must be a JSON object")
    unknown = sorted(set(spec) - _PLAN_FIELDS)
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(unknown)}")
    mode, result, token = spec.get("mode", "normal"), spec.get("result"), spec.get("token")
    if mode not in get_args(Mode):
        raise ValueError(f"mode must be one of {', '.join(get_args(Mode))}")
    if result is not None and (result not in get_args(Result) or mode != "out_of_order"):
        raise ValueError("result (VALID, INVALID or ERROR) is the first delivery's result, for mode out_of_order only")
    if token is not None and (not isinstance(token, str) or not token):
        raise ValueError("token must be a non-empty string")
    delay = _number(spec, "delay_seconds", DEFAULT_DELAY_SECONDS, MAX_DELAY_SECONDS)
    retry = _number(spec, "retry_seconds", None, MAX_RETRY_SECONDS)
    attempts = spec.get("attempts")
    if attempts is not None and (not is_int(attempts) or not 1 <= attempts <= MAX_ATTEMPTS):
        raise ValueError(f"attempts must be an integer from 1 to {MAX_ATTEMPTS}")
    return DeliveryPlan(mode, delay if delay is not None else DEFAULT_DELAY_SECONDS, result, attempts, retry), token


def callback_payload(token: str, result: Result, error: dict[str, Any] | None) -> dict[str, Any]:
    """The webhook body (reference A.5); `error` is null when there was none."""
    return {"result": result, "token": token, "error": error}


def decoy_payload(real: dict[str, Any], result: Result | None) -> dict[str, Any]:
    """A stale-looking result for the same token: by default, any result other than the real one."""
    chosen: Result = result or ("INVALID" if real["result"] != "INVALID" else "VALID")
    return callback_payload(real["token"], chosen, error_object(305) if chosen == "ERROR" else None)


def outgoing(callback_url: str, payload: dict[str, Any]) -> Outgoing:
    """The callback as it goes on the wire: a JSON POST, or the dev-old GET form when the URL's query carries
    `{result}` and `{token}` placeholders (filled in)."""
    parts = urlsplit(callback_url)
    if not all(placeholder in parts.query for placeholder in LEGACY_PLACEHOLDERS):
        headers = (("User-Agent", USER_AGENT), ("Content-Type", "application/json"))
        return Outgoing(payload["token"], "POST", callback_url, headers, json.dumps(payload).encode())
    query = parts.query.replace("{result}", quote(payload["result"], safe=""))
    query = query.replace("{token}", quote(payload["token"], safe=""))
    return Outgoing(payload["token"], "GET", urlunsplit(parts._replace(query=query)), (("User-Agent", USER_AGENT),))


class Courier(courier.Courier):
    """Carries Infobip's callbacks out per plan (in this thread unless asked otherwise, or late or held)."""

    def __init__(self, timeout: float, attempts: int, retry_seconds: float, clock: Callable[[], float]) -> None:
        super().__init__("token", timeout, (), clock)
        self.attempts, self.retry_seconds = attempts, retry_seconds

    def dispatch(self, plan: DeliveryPlan, callback_url: str, payload: dict[str, Any], background: bool) -> None:
        pause = self.retry_seconds if plan.retry_seconds is None else plan.retry_seconds
        retries = (pause,) * ((plan.attempts or self.attempts) - 1)
        fault = plan.mode if plan.mode in ("twice", "never") else None

        def carry_out() -> None:
            if plan.mode == "late":
                time.sleep(plan.delay_seconds)
            if plan.mode == "out_of_order":
                decoy = decoy_payload(payload, plan.decoy_result)
                self.deliver(lambda: outgoing(callback_url, decoy), None, retries)
            self.deliver(lambda: outgoing(callback_url, payload), fault, retries)

        if background or plan.mode in ("late", "held"):
            self.in_background(carry_out, f"infobip-callback:{payload['token'][:8]}", held=plan.mode == "held")
        else:
            carry_out()


def _number(spec: dict[str, Any], name: str, default: float | None, maximum: float) -> float | None:
    value = spec.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= maximum:
        raise ValueError(f"{name} must be a number from 0 to {maximum:g}")
    return float(value)
