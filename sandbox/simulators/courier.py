"""The callback courier the simulators share. The provider builds each request (its wire format: body,
signature); the courier sends it, again after each retry delay until the receiver answers 200, records every
attempt, and can send a callback's last request again, byte for byte (a replay). Background work runs on
daemon threads; a held one waits for release()."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from sandbox.simulators.wsgi import Headers

MAX_HOLD_SECONDS = 60.0  # a test that forgets to release a held callback still gets it


@dataclass(frozen=True)
class Outgoing:
    """One callback exactly as it goes on the wire."""

    key: str  # whose callback it is: tru.ID's check_id, Infobip's token
    method: str
    url: str
    headers: Headers
    body: bytes = b""


class Courier:
    """Carries callbacks; `key_name` names the key in each attempt's record."""

    def __init__(self, key_name: str, timeout: float, retry_delays: Sequence[float],
                 clock: Callable[[], float]) -> None:
        self.key_name = key_name
        self.timeout = timeout
        self.retry_delays = tuple(retry_delays)
        self.clock = clock
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []
        self._last: dict[str, Outgoing] = {}  # key -> the last request built for it
        self._threads: list[threading.Thread] = []
        self._held: list[threading.Event] = []
        self._closed = threading.Event()

    def deliver(self, build: Callable[[], Outgoing], fault: str | None = None,
                retry_delays: Sequence[float] | None = None) -> None:
        """Send what `build` makes (afresh for every attempt) until the receiver answers 200 or the retry
        delays run out. `fault` `twice` sends each attempt two times (the second answer decides); `never`
        builds and records the request but sends nothing."""
        for attempt, delay in enumerate((0.0, *(self.retry_delays if retry_delays is None else retry_delays)), 1):
            if delay and self._closed.wait(delay):
                return
            request = build()
            with self._lock:
                self._last[request.key] = request
            if fault == "never":
                self._record(request, attempt, fault, False, error="not sent: callback fault never")
                return
            status = self._send(request, attempt, fault).get("status_code")
            if fault == "twice":
                status = self._send(request, attempt, fault).get("status_code")
            if status == 200:
                return

    def in_background(self, work: Callable[[], None], name: str, held: bool = False) -> None:
        """Run `work` on a daemon thread; `held`: only once release() is called (or MAX_HOLD_SECONDS pass)."""
        release = threading.Event()

        def run() -> None:
            if held:
                release.wait(MAX_HOLD_SECONDS)
            work()

        thread = threading.Thread(target=run, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
            if held:
                self._held.append(release)
        thread.start()

    def release(self) -> int:
        """Let every held delivery go out now; how many there were."""
        with self._lock:
            held, self._held = self._held, []
        for release in held:
            release.set()
        return len(held)

    def redeliver(self, key: str) -> dict[str, Any] | None:
        """Send the key's last request again, once, unchanged, now; its record, or None when there is none."""
        with self._lock:
            request = self._last.get(key)
        return None if request is None else self._send(request, 1, None, redelivery=True)

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def close(self) -> None:
        """Stop waiting retries (deliveries in flight finish)."""
        self._closed.set()

    def wait_idle(self, timeout: float) -> bool:
        """Wait for background deliveries to finish; False if some are still running after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in threads)

    def _send(self, request: Outgoing, attempt: int, fault: str | None, redelivery: bool = False) -> dict[str, Any]:
        try:
            with requests.Session() as http:
                http.trust_env = False  # loopback only: never through a proxy from the environment
                response = http.request(request.method, request.url, data=request.body or None,
                                        headers=dict(request.headers), timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            return self._record(request, attempt, fault, redelivery, error=f"{type(exc).__name__}: {exc}")
        return self._record(request, attempt, fault, redelivery, status=response.status_code)

    def _record(self, request: Outgoing, attempt: int, fault: str | None, redelivery: bool,
                status: int | None = None, error: str | None = None) -> dict[str, Any]:
        entry: dict[str, Any] = {self.key_name: request.key, "url": request.url, "method": request.method,
                                 "attempt": attempt, "fault": fault, "redelivery": redelivery}
        entry |= {"status_code": status} if error is None else {"error": error}
        entry |= {"headers": dict(request.headers), "body": request.body.decode("utf-8", errors="replace"),
                  "at": datetime.fromtimestamp(self.clock(), UTC).isoformat(timespec="milliseconds")}
        with self._lock:
            self._records.append(entry)
        return entry
