"""Counting and timing what the functions ask of AWS and of the providers, from the inside: botocore's
own events on silentcheck's boto3 session, and the one HTTP session provider adapters send through.

A `Calls` tally is kept per thread, so a handler's own time can be taken while other requests are served
alongside, by two rules:

- `waited`: the send-to-response spans only, botocore's `before-send` -> `response-received` per attempt
  (urllib3's send and receive and the response's parsing inside) and the provider session's `send`; the
  client libraries' work before the send (botocore's parameter validation, serialisation, endpoint
  parameters, SigV4 signing; `requests`' preparation) counts as the handler's.
- `in_calls`: the whole calls, each boto3 client call from its method to its return or exception (retries
  inside: a client class made on silentcheck's session gets a `_make_api_call` that times itself, through
  botocore's `creating-client-class` event) and each provider request from `Session.request` to its
  response's `close` (the body is streamed and read by provider_http.send). `in_calls_cpu` is the
  thread CPU time inside them.
"""

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
    waited: float = 0.0  # seconds in the send-to-response spans of AWS and provider requests
    aws_calls: Counter[tuple[str, str]] = field(default_factory=Counter)  # client calls: a retried call once
    in_calls: float = 0.0  # seconds inside whole AWS client calls and provider requests
    in_calls_cpu: float = 0.0  # this thread's CPU seconds inside them

    def add(self, other: Calls) -> None:
        self.aws.update(other.aws)
        self.http.update(other.http)
        self.waited += other.waited
        self.aws_calls.update(other.aws_calls)
        self.in_calls += other.in_calls
        self.in_calls_cpu += other.in_calls_cpu

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
        events.register("creating-client-class", self._timed_client_class, unique_id="bench-client-class")
        self._installed.append(
            lambda: events.unregister("creating-client-class", unique_id="bench-client-class"))
        aws.client.cache_clear()  # clients copy the session's handlers when created: make them anew
        session = provider_http.session()
        original_send, original_request = session.send, session.request

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

        def request(*args: Any, **kwargs: Any) -> Any:
            started = self._clocks()
            try:
                response = original_request(*args, **kwargs)
            except BaseException:
                self._add_call(started)
                raise
            close, ended = response.close, list[bool]()

            def closed() -> None:  # the body is read (streamed) before the response is closed
                close()
                if not ended:
                    ended.append(True)
                    self._add_call(started)

            response.close = closed  # type: ignore[method-assign]
            return response

        session.send = send  # type: ignore[method-assign]
        session.request = request  # type: ignore[method-assign]
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

    @staticmethod
    def _clocks() -> tuple[float, float]:
        return time.perf_counter(), time.thread_time()

    def _add_call(self, started: tuple[float, float]) -> None:
        wall, cpu = self._clocks()
        tally = self._tally()
        tally.in_calls += wall - started[0]
        tally.in_calls_cpu += cpu - started[1]

    def _timed_client_class(self, base_classes: list[type], **kwargs: Any) -> None:
        counter = self

        class TimedCall:
            """First base of the client class: the whole call, from the client's method to its end."""

            def _make_api_call(self, operation_name: str, api_params: dict[str, Any]) -> Any:
                started = counter._clocks()
                try:
                    return super()._make_api_call(operation_name, api_params)  # type: ignore[misc]
                finally:
                    counter._add_call(started)
                    service = self.meta.service_model.service_id.hyphenize()  # type: ignore[attr-defined]
                    counter._tally().aws_calls[(service, operation_name)] += 1

        base_classes.insert(0, TimedCall)

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
            before = [(t, _copy(t)) for t in self._all]
        result = Calls()
        yield result
        with self._lock:
            snapshot = dict((id(t), s) for t, s in before)
            for tally in self._all:
                start = snapshot.get(id(tally), Calls())
                result.add(_minus(tally, start))


@dataclass
class Served:
    function: str
    wall: float
    own: float  # wall less the send-to-response spans (the client work before the send is the handler's)
    calls: Calls
    path: str = ""
    cpu: float = 0.0  # CPU seconds of the thread that served it (what a busy machine's scheduling does not inflate)

    @property
    def outside_calls(self) -> float:
        """Wall seconds outside the whole AWS client calls and provider requests."""
        return self.wall - self.calls.in_calls

    @property
    def cpu_outside_calls(self) -> float:
        """The thread's CPU seconds outside them."""
        return self.cpu - self.calls.in_calls_cpu


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
    return Calls(calls.aws.copy(), calls.http.copy(), calls.waited, calls.aws_calls.copy(), calls.in_calls,
                 calls.in_calls_cpu)


def _minus(after: Calls, before: Calls) -> Calls:
    return Calls(after.aws - before.aws, after.http - before.http, after.waited - before.waited,
                 after.aws_calls - before.aws_calls, after.in_calls - before.in_calls,
                 after.in_calls_cpu - before.in_calls_cpu)
