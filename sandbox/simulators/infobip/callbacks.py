"""How the simulated Infobip delivers result callbacks: the test-controlled delivery plan, retries on a
non-200 answer, the legacy GET form, and a record of every attempt."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args
from urllib.parse import quote, urlsplit, urlunsplit

import requests

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
    if attempts is not None and (isinstance(attempts, bool) or not isinstance(attempts, int)
                                 or not 1 <= attempts <= MAX_ATTEMPTS):
        raise ValueError(f"attempts must be an integer from 1 to {MAX_ATTEMPTS}")
    return DeliveryPlan(mode, delay if delay is not None else DEFAULT_DELAY_SECONDS, result, attempts, retry), token


def callback_payload(token: str, result: Result, error: dict[str, Any] | None) -> dict[str, Any]:
    """The webhook body (reference A.5); `error` is null when there was none."""
    return {"result": result, "token": token, "error": error}


def decoy_payload(real: dict[str, Any], result: Result | None) -> dict[str, Any]:
    """A stale-looking result for the same token: by default, any result other than the real one."""
    chosen: Result = result or ("INVALID" if real["result"] != "INVALID" else "VALID")
    return callback_payload(real["token"], chosen, error_object(305) if chosen == "ERROR" else None)


def is_legacy(callback_url: str) -> bool:
    """The dev-old form: the query carries `{result}` and `{token}` placeholders, so results go out as a GET."""
    query = urlsplit(callback_url).query
    return all(placeholder in query for placeholder in LEGACY_PLACEHOLDERS)


def legacy_url(callback_url: str, payload: dict[str, Any]) -> str:
    parts = urlsplit(callback_url)
    query = parts.query.replace("{result}", quote(payload["result"], safe=""))
    query = query.replace("{token}", quote(payload["token"], safe=""))
    return urlunsplit(parts._replace(query=query))


class Courier:
    """Carries callbacks out per plan and records every attempt; background work runs on daemon threads."""

    def __init__(self, timeout: float, attempts: int, retry_seconds: float, clock: Callable[[], float]) -> None:
        self.timeout = timeout
        self.attempts = attempts
        self.retry_seconds = retry_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []
        self._last: dict[str, tuple[str, dict[str, Any]]] = {}  # token -> (callbackUrl, last body sent)
        self._threads: list[threading.Thread] = []
        self._held: list[threading.Event] = []  # held deliveries, each waiting for release()

    def dispatch(self, plan: DeliveryPlan, callback_url: str, payload: dict[str, Any], background: bool) -> None:
        """Deliver per `plan`: in this thread, unless `background` or the plan is late or held."""
        if plan.mode == "never":
            return
        if not background and plan.mode not in ("late", "held"):
            self._carry_out(plan, callback_url, payload)
            return
        release = threading.Event() if plan.mode == "held" else None
        thread = threading.Thread(target=self._carry_out, args=(plan, callback_url, payload, release), daemon=True,
                                  name=f"infobip-callback:{payload['token'][:8]}")
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
            if release is not None:
                self._held.append(release)
        thread.start()

    def release(self) -> int:
        """Let every held delivery go out now; how many there were."""
        with self._lock:
            held, self._held = self._held, []
        for release in held:
            release.set()
        return len(held)

    def deliver(
        self, callback_url: str, payload: dict[str, Any], plan: DeliveryPlan | None = None
    ) -> list[dict[str, Any]]:
        """One delivery: up to `attempts` tries until the receiver answers 200; the attempts made."""
        attempts = plan.attempts if plan and plan.attempts is not None else self.attempts
        pause = plan.retry_seconds if plan and plan.retry_seconds is not None else self.retry_seconds
        legacy = is_legacy(callback_url)
        method, url = ("GET", legacy_url(callback_url, payload)) if legacy else ("POST", callback_url)
        data = None if legacy else json.dumps(payload).encode()
        headers = {"User-Agent": USER_AGENT, **({} if legacy else {"Content-Type": "application/json"})}
        with self._lock:
            self._last[payload["token"]] = (callback_url, payload)
        made: list[dict[str, Any]] = []
        with requests.Session() as http:
            http.trust_env = False  # loopback only: never through a proxy from the environment
            for attempt in range(1, attempts + 1):
                if attempt > 1:
                    time.sleep(pause)
                record: dict[str, Any] = {"token": payload["token"], "url": url, "method": method,
                                          "body": None if legacy else payload, "at": self.clock(), "attempt": attempt}
                try:
                    answer = http.request(method, url, data=data, headers=headers, timeout=self.timeout,
                                          allow_redirects=False)
                    record["status_code"] = answer.status_code
                except requests.RequestException as exc:
                    record["error"] = f"{type(exc).__name__}: {exc}"
                with self._lock:
                    self._records.append(record)
                made.append(record)
                if record.get("status_code") == 200:
                    break
        return made

    def redeliver(self, token: str) -> list[dict[str, Any]] | None:
        """Send the token's last callback body again (a replay); None if none was ever sent."""
        with self._lock:
            last = self._last.get(token)
        return None if last is None else self.deliver(*last)

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def wait_idle(self, timeout: float) -> bool:
        """Wait for background deliveries to finish; False if some are still running after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in threads)

    def _carry_out(self, plan: DeliveryPlan, callback_url: str, payload: dict[str, Any],
                   release: threading.Event | None = None) -> None:
        if plan.mode == "late":
            time.sleep(plan.delay_seconds)
        if release is not None:
            release.wait(MAX_DELAY_SECONDS)  # a test that forgets to release still gets its callback
        if plan.mode == "out_of_order":
            self.deliver(callback_url, decoy_payload(payload, plan.decoy_result), plan)
        self.deliver(callback_url, payload, plan)
        if plan.mode == "twice":
            self.deliver(callback_url, payload, plan)


def _number(spec: dict[str, Any], name: str, default: float | None, maximum: float) -> float | None:
    value = spec.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= maximum:
        raise ValueError(f"{name} must be a number from 0 to {maximum:g}")
    return float(value)
