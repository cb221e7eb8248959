"""Counting and timing what the functions ask of AWS and of the providers, from the inside: botocore's
own events on silentcheck's boto3 session, and the one HTTP session provider adapters send through.

A `Calls` tally is kept per thread, so a handler's own time (its wall time less the time it spent
waiting on AWS and the providers) can be taken while other requests are served alongside."""

from __future__ import annotations

import copy
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


@dataclass
class Served:
    function: str
    wall: float
    own: float
    calls: Calls
    path: str = ""
    cpu: float = 0.0  # CPU seconds of the thread that served it (what a busy machine's scheduling does not inflate)


@dataclass
class Instrumented:
    """The gateway's handlers, wrapped: each request's wall time and what it asked of AWS and providers."""

    counter: CallCounter
    served: list[Served] = field(default_factory=list)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # the last event each function got
    capture_callbacks: bool = False
    captured: dict[str, dict[str, Any]] = field(default_factory=dict)  # callback path -> first event
    lock: threading.Lock = field(default_factory=threading.Lock)
    originals: tuple[dict[str, Any], Any] = field(default_factory=lambda: ({}, None))

    def wrap(self, function: str, handler: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        def timed(event: dict[str, Any], context: Any) -> dict[str, Any]:
            with self.lock:
                self.events[function] = copy.deepcopy(event)
                if self.capture_callbacks and function == "ProviderCallbackFunction":
                    self.captured.setdefault(event.get("rawPath", ""), copy.deepcopy(event))
                    return {"statusCode": 503, "body": ""}  # the provider retries; a fresh process answers
            before = _copy(self.counter.thread_calls())
            started, cpu_started = time.perf_counter(), time.thread_time()
            try:
                return handler(event, context)
            finally:
                wall, cpu = time.perf_counter() - started, time.thread_time() - cpu_started
                calls = _minus(self.counter.thread_calls(), before)
                with self.lock:
                    self.served.append(Served(function, wall, wall - calls.waited, calls,
                                              str(event.get("path") or event.get("rawPath") or ""), cpu))
        return timed

    def install_on(self, stack: Any) -> Instrumented:
        """Wrap every handler a running sandbox stack's gateway serves (sandbox/stack.py)."""
        from sandbox.local_aws.gateway import FunctionUrl, RestApi

        rest = stack.gateway.rest_api
        url_app = stack.gateway.callback._server.get_app()
        assert isinstance(rest, RestApi) and isinstance(url_app, FunctionUrl)
        self.originals = (dict(rest.handlers), url_app.handler)
        for function in list(rest.handlers):
            rest.handlers[function] = self.wrap(function, rest.handlers[function])
        url_app.handler = self.wrap(url_app.function.logical_id, url_app.handler)
        return self

    def uninstall_from(self, stack: Any) -> None:
        """Put the gateway's own handlers back (a test shares the stack with others)."""
        handlers, url_handler = self.originals
        stack.gateway.rest_api.handlers.update(handlers)
        stack.gateway.callback._server.get_app().handler = url_handler


def _copy(calls: Calls) -> Calls:
    return Calls(calls.aws.copy(), calls.http.copy(), calls.waited)


def _minus(after: Calls, before: Calls) -> Calls:
    return Calls(after.aws - before.aws, after.http - before.http, after.waited - before.waited)
