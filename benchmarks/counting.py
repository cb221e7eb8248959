"""Counting and timing what the functions ask of AWS and of the providers, from the inside: botocore's
own events on silentcheck's boto3 session, and the one HTTP session provider adapters send through.

A `Calls` tally is kept per thread, so a handler's own time (its wall time less the time it spent
waiting on AWS and the providers) can be taken while other requests are served alongside."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Calls:
    """What one stretch of work asked for: requests by (service, operation) and seconds spent waiting."""

    aws: Counter[tuple[str, str]] = field(default_factory=Counter)  # ("dynamodb", "PutItem") -> n
    http: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (host:port, method, path) -> n
    waited: float = 0.0  # seconds inside AWS and provider requests

    def add(self, other: Calls) -> None:
        self.aws.update(other.aws)
        self.http.update(other.http)
        self.waited += other.waited

    def aws_count(self, service: str, operation: str | None = None) -> int:
        return sum(n for (s, o), n in self.aws.items() if s == service and operation in (None, o))

    def http_count(self, path_contains: str = "") -> int:
        return sum(n for (_, _, path), n in self.http.items() if path_contains in path)


class CallCounter:
    """Installed on silentcheck's boto3 session and HTTP session; `calls()` collects per thread.

    `provider_latency` (seconds) is added to every provider request before it is sent: a stand-in for
    the network between a Lambda function and a provider's API, which loopback does not have."""

    def __init__(self, provider_latency: float = 0.0) -> None:
        self.provider_latency = provider_latency
        self._local = threading.local()
        self._lock = threading.Lock()
        self._installed: list[Callable[[], None]] = []
        self._all: list[Calls] = []  # one tally per thread that asked for anything

    # -- installation -------------------------------------------------------------------------
    def install(self) -> CallCounter:
        from silentcheck import aws, provider_http

        events = aws.session().events
        events.register("before-send", self._before_send, unique_id="bench-before-send")
        events.register("response-received", self._response_received, unique_id="bench-response-received")
        self._installed.append(lambda: events.unregister("before-send", unique_id="bench-before-send"))
        self._installed.append(
            lambda: events.unregister("response-received", unique_id="bench-response-received"))
        aws.client.cache_clear()  # clients copy the session's handlers when created: make them anew
        session = provider_http.session()
        original_send = session.send

        def send(request: Any, **kwargs: Any) -> Any:
            parts = urlsplit(request.url)
            started = time.perf_counter()
            try:
                if self.provider_latency:
                    time.sleep(self.provider_latency)
                return original_send(request, **kwargs)
            finally:
                tally = self._tally()
                tally.http[(parts.netloc, request.method, parts.path)] += 1
                tally.waited += time.perf_counter() - started

        session.send = send  # type: ignore[method-assign]
        self._installed.append(lambda: provider_http.reset())
        return self

    def uninstall(self) -> None:
        from silentcheck import aws

        while self._installed:
            self._installed.pop()()
        aws.client.cache_clear()

    def __enter__(self) -> CallCounter:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.uninstall()

    # -- collection ---------------------------------------------------------------------------
    def _tally(self) -> Calls:
        tally: Calls | None = getattr(self._local, "calls", None)
        if tally is None:
            tally = self._local.calls = Calls()
            with self._lock:
                self._all.append(tally)
        return tally

    def _before_send(self, request: Any, event_name: str, **kwargs: Any) -> None:
        self._local.aws_started = time.perf_counter()

    def _response_received(self, context: Any = None, event_name: str = "", **kwargs: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        tally = self._tally()
        tally.aws[(service, operation)] += 1
        started = getattr(self._local, "aws_started", None)
        if started is not None:
            tally.waited += time.perf_counter() - started
            self._local.aws_started = None

    def thread_calls(self) -> Calls:
        """What this thread has asked for so far (a running tally: subtract an earlier copy)."""
        return self._tally()

    @contextmanager
    def measuring(self) -> Iterator[Calls]:
        """Everything every thread asks for inside the block (requests are served on other threads)."""
        with self._lock:
            before = [(t, Calls(Counter(t.aws), Counter(t.http), t.waited)) for t in self._all]
        result = Calls()
        yield result
        with self._lock:
            snapshot = dict((id(t), s) for t, s in before)
            for tally in self._all:
                start = snapshot.get(id(tally), Calls())
                result.aws.update(tally.aws - start.aws)
                result.http.update(tally.http - start.http)
                result.waited += tally.waited - start.waited
