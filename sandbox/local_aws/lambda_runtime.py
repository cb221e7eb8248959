"""Lambda as the functions can tell: the handler's module loaded as Lambda loads it (its own file, the layer on
sys.path), warm containers, a context counting down from the function's Timeout, and the kill past it."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from sandbox.local_aws import iam
from sandbox.local_aws.functions import Function
from sandbox.local_aws.template import REPO_ROOT

LAYER = REPO_ROOT / "layers" / "shared"


@dataclass(frozen=True)
class Overrun:
    """An invocation Lambda would have killed: it ran `elapsed` seconds against a `timeout`."""

    function: str
    request: str
    timeout: float
    elapsed: float


@dataclass
class Overruns:
    """Every overrun since the last `clear()` (shared by the API and the function URL)."""

    _seen: list[Overrun] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, overrun: Overrun) -> None:
        with self._lock:
            self._seen.append(overrun)

    def take(self) -> list[Overrun]:
        """The overruns so far, forgotten as they are handed out."""
        with self._lock:
            seen, self._seen = self._seen, []
        return seen


class _FakeContext:
    """The parts of LambdaContext that Powertools and silentcheck read; the clock starts at creation."""

    def __init__(self, function_name: str, timeout: float) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "sandbox"
        self.timeout = timeout
        self.started = time.monotonic()

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.started + self.timeout - time.monotonic()) * 1000))


LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
_KILLED = {"statusCode": 502, "headers": {"Content-Type": "application/json"},
           "body": json.dumps({"message": "Internal server error"})}


class _PerInvocation:
    """A class attribute of Powertools' resolvers that holds one value per thread (see below)."""

    def __init__(self, local: threading.local, name: str) -> None:
        self.local, self.name = local, name

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        return getattr(self.local, self.name, None)

    def __set__(self, instance: object, value: Any) -> None:
        setattr(self.local, self.name, value)


def _isolate_concurrent_invocations() -> None:
    """Lambda runs one invocation per execution environment; the sandbox runs many at once in one
    process. Powertools keeps the current event on the BaseRouter class (shared by every resolver):
    here each thread sees its own, so concurrent requests never read one another's event."""
    from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver

    if isinstance(ApiGatewayResolver.__dict__.get("current_event"), _PerInvocation):
        return
    local = threading.local()
    for name in ("current_event", "lambda_context"):
        setattr(ApiGatewayResolver, name, _PerInvocation(local, name))
    original = ApiGatewayResolver.resolve

    def resolve(self: Any, event: Any, context: Any) -> dict[str, Any]:
        local.current_event, local.lambda_context = self._to_proxy_event(dict(event)), context
        try:
            return original(self, event, context)
        finally:
            local.current_event = local.lambda_context = None

    ApiGatewayResolver.resolve = resolve  # type: ignore[method-assign]


class Containers:
    """A function's warm execution environments: each invocation takes an idle one or starts another
    (a cold start loads the handler's module afresh), so concurrent invocations never share a resolver."""

    def __init__(self, function: Function) -> None:
        _isolate_concurrent_invocations()
        self.function = function
        self._idle = [load_handler(function)]
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        with self._lock:
            handler = self._idle.pop() if self._idle else None
        if handler is None:
            handler = load_handler(self.function)
        try:
            return handler(event, context)
        finally:
            with self._lock:
                self._idle.append(handler)


@dataclass(frozen=True)
class Invoker:
    """Runs handlers the way Lambda does as far as time goes: a countdown context, a kill at the timeout."""

    overruns: Overruns
    time_scale: float = 1.0

    def __call__(self, function: Function, handler: LambdaHandler, event: dict[str, Any],
                 request: str) -> dict[str, Any]:
        context = _FakeContext(function.logical_id, function.timeout * self.time_scale)
        with iam.acting_as(function.logical_id):  # its AWS calls are checked against its role
            result = handler(event, context)
        elapsed = time.monotonic() - context.started
        if elapsed > context.timeout:  # Lambda would have stopped it here: its caller gets 502
            self.overruns.add(Overrun(function.logical_id, request, context.timeout, elapsed))
            return _KILLED
        return result


def add_layer_to_path() -> None:
    """Make the shared layer importable, as Lambda does for a function that attaches it."""
    if str(LAYER) not in sys.path:
        sys.path.insert(0, str(LAYER))


def load_handler(function: Function) -> LambdaHandler:
    """Import the function's module the way Lambda does: its own file, the layer on sys.path."""
    add_layer_to_path()
    module_name, _, attribute = function.handler.rpartition(".")
    path = REPO_ROOT / function.code_uri / f"{module_name}.py"
    spec = importlib.util.spec_from_file_location(f"sandbox_fn_{function.logical_id}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler: LambdaHandler = getattr(module, attribute)
    return handler
