"""`make bench`: cold start, own time, calls per check, peak memory, end-to-end time and cost, measured
side by side in one run against the sandbox (DynamoDB Local, moto, the simulated providers) on
loopback. It reports; it never fails on a slow machine. docs/benchmarks.md explains each figure."""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from benchmarks import costs
from benchmarks.counting import CallCounter, Calls
from benchmarks.importtime import parse_importtime, unused_by_request
from benchmarks.stats import percentile

ROOT = Path(__file__).resolve().parent.parent
PROBE = Path(__file__).resolve().parent / "probe.py"
BUILD = ROOT / ".cache" / "bench" / "build"
NUMBER = "+447400900002"
INFOBIP_NUMBER = "+447400900003"
PROVIDER_LATENCY_SECONDS = 0.060  # a kept-alive HTTPS round trip from an AWS region to a provider's API
# The template's budgets, counted as in production, but too large for a benchmark's thousand checks to spend.
ROOMY_LIMITS = {scope: {"count": 10**9, "window_seconds": 600} for scope in ("number", "ip", "global")}
FUNCTIONS = ("StartCheckFunction", "PollResultFunction", "OidcCallbackFunction", "ProviderCallbackFunction")


@dataclass
class Served:
    function: str
    wall: float
    own: float
    calls: Calls


@dataclass
class Instrumented:
    """The gateway's handlers, wrapped: each request's wall time and what it asked of AWS and providers."""

    counter: CallCounter
    served: list[Served] = field(default_factory=list)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # the last event each function got
    capture_callbacks: bool = False
    captured: dict[str, dict[str, Any]] = field(default_factory=dict)  # callback path -> first event
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wrap(self, function: str, handler: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        def timed(event: dict[str, Any], context: Any) -> dict[str, Any]:
            with self.lock:
                self.events[function] = copy.deepcopy(event)
                if self.capture_callbacks and function == "ProviderCallbackFunction":
                    self.captured.setdefault(event.get("rawPath", ""), copy.deepcopy(event))
                    return {"statusCode": 503, "body": ""}  # the provider retries; a fresh process answers
            before = _copy(self.counter.thread_calls())
            started = time.perf_counter()
            try:
                return handler(event, context)
            finally:
                wall = time.perf_counter() - started
                calls = _minus(self.counter.thread_calls(), before)
                with self.lock:
                    self.served.append(Served(function, wall, wall - calls.waited, calls))
        return timed


def _copy(calls: Calls) -> Calls:
    return Calls(calls.aws.copy(), calls.http.copy(), calls.waited)


def _minus(after: Calls, before: Calls) -> Calls:
    return Calls(after.aws - before.aws, after.http - before.http, after.waited - before.waited)


def _say(*parts: object) -> None:
    print(*parts, flush=True)


# -- the stack ----------------------------------------------------------------------------------

def start(provider_timeout: float) -> tuple[Any, Instrumented]:
    from sandbox import stack as stacks

    stack = stacks.start_stack(provider_timeout_seconds=provider_timeout, log_level="WARNING")
    stack.configure_limits(ROOMY_LIMITS)
    counter = CallCounter().install()
    instrumented = Instrumented(counter)
    from sandbox.gateway import FunctionUrl, RestApi

    rest = stack.gateway.api._server.get_app()
    url_app = stack.gateway.callback._server.get_app()
    assert isinstance(rest, RestApi) and isinstance(url_app, FunctionUrl)
    for function in list(rest.handlers):
        rest.handlers[function] = instrumented.wrap(function, rest.handlers[function])
    url_app.handler = instrumented.wrap(url_app.function.logical_id, url_app.handler)
    return stack, instrumented


def verify(stack: Any, number: str = NUMBER, provider: str | None = "truid", ciba: bool = False) -> dict[str, Any]:
    from sandbox.verify import verify as run

    return run(stack.api_url, stack.network.base_url, number, provider=None if ciba else provider,
               operator_token_url=stack.camara.base_url if ciba else None, say=lambda _: None)


# -- cold start ---------------------------------------------------------------------------------

def build(compiled: bool) -> Path:
    """What `sam build` ships: the layer's package and each function's code, with or without .pyc."""
    from sandbox.gateway import read_functions

    target = BUILD / ("compiled" if compiled else "source")
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(ROOT / "layers" / "shared" / "silentcheck", target / "layer" / "silentcheck",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for function in read_functions():
        shutil.copytree(ROOT / function.code_uri, target / function.logical_id,
                        ignore=shutil.ignore_patterns("__pycache__"))
    if compiled:
        subprocess.run([sys.executable, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash",
                        str(target)], check=True)
    return target


def probe(args: list[str], env: dict[str, str], importtime: bool = False) -> tuple[dict[str, Any], str]:
    command = [sys.executable, "-B", *(["-X", "importtime"] if importtime else []), str(PROBE), *args]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith('{"ms"')]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"probe {args[:2]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(lines[-1]), done.stderr


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    return env


class Events:
    """A fresh, real first request for each function: each cold process gets a check of its own."""

    def __init__(self, stack: Any, instrumented: Instrumented) -> None:
        self.stack = stack
        self.instrumented = instrumented
        verify(stack)  # one of each request, to take the events' shape from
        self.instrumented.capture_callbacks = True
        self.callback_template = self._infobip_callback()

    def start(self) -> dict[str, Any]:
        return copy.deepcopy(self.instrumented.events["StartCheckFunction"])

    def _started(self, provider: str = "truid", number: str = NUMBER) -> tuple[dict[str, Any], Any]:
        from sandbox.device import Phone, bound_session

        phone = Phone.join(self.stack.network.base_url, number, "cellular")
        with bound_session(phone.ip) as app:
            created = app.post(f"{self.stack.api_url}/checks", json={"phone_number": number, "provider": provider},
                               timeout=30)
        body: dict[str, Any] = created.json()
        if created.status_code != 201 or not body.get("check_url"):
            raise RuntimeError(f"could not start a {provider} check: {created.status_code} {body}")
        return body, phone

    def poll(self) -> dict[str, Any]:
        check, phone = self._started()
        opened = phone.open(check["check_url"])
        code = opened.json["completion_code"] if isinstance(opened.json, dict) else None
        event = copy.deepcopy(self.instrumented.events["PollResultFunction"])
        event["path"] = event["requestContext"]["path"] = f"/checks/{check['check_id']}"
        event["pathParameters"] = {"check_id": check["check_id"]}
        event["headers"]["Authorization"] = f"Bearer {check['poll_token']}"
        event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
        event["queryStringParameters"] = {"code": code} if code else None
        event["multiValueQueryStringParameters"] = {"code": [code]} if code else None
        return event

    def device_return(self) -> dict[str, Any]:
        from sandbox.device import bound_session

        check, phone = self._started()
        url: str = check["check_url"]
        with bound_session(phone.ip) as cellular:
            while not url.startswith(self.stack.api_url):
                url = cellular.get(url, allow_redirects=False, timeout=10).headers["Location"]
        query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
        event = copy.deepcopy(self.instrumented.events["OidcCallbackFunction"])
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
        return event

    def _infobip_callback(self) -> dict[str, Any]:
        check, phone = self._started("infobip", INFOBIP_NUMBER)
        phone.open(check["check_url"])  # Infobip posts the result (captured, answered 503), then the phone returns
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with self.instrumented.lock:
                for path, event in self.instrumented.captured.items():
                    if check["check_id"] in path:
                        return copy.deepcopy(event)
            time.sleep(0.05)
        raise RuntimeError("the simulated Infobip did not post its callback")

    def callback(self) -> dict[str, Any]:
        return self._infobip_callback()


def cold_starts(stack: Any, instrumented: Instrumented, runs: int, compiled: bool,
                importtime_dir: Path) -> dict[str, Any]:
    from sandbox import stack as stacks

    target = build(compiled)
    env = child_env()
    events = Events(stack, instrumented)
    makers = {"StartCheckFunction": events.start, "PollResultFunction": events.poll,
              "OidcCallbackFunction": events.device_return, "ProviderCallbackFunction": events.callback}
    times: dict[str, list[float]] = defaultdict(list)
    ratios: dict[str, list[float]] = defaultdict(list)
    rss: dict[str, list[int]] = defaultdict(list)
    event_dir = BUILD / "events"
    event_dir.mkdir(parents=True, exist_ok=True)
    for run in range(runs + 1):  # the first round warms the page cache and is not counted
        floor, _ = probe(["floor", stacks.TABLE_NAME], env)
        for function in FUNCTIONS:
            path = event_dir / f"{function}.json"
            path.write_text(json.dumps(makers[function]()))
            result, _ = probe(["function", str(target / function), str(target / "layer"), str(path)], env)
            if result["status"] >= 400:
                raise RuntimeError(f"{function}'s first request answered {result['status']}")
            if run:
                times[function].append(result["ms"])
                ratios[function].append(result["ms"] / floor["ms"])
                rss[function].append(result["peak_rss_kb"])
        if run:
            times["floor"].append(floor["ms"])
            rss["floor"].append(floor["peak_rss_kb"])
    unused: dict[str, list[tuple[str, float]]] = {}
    importtime_dir.mkdir(parents=True, exist_ok=True)
    for function in FUNCTIONS:
        path = event_dir / f"{function}.json"
        path.write_text(json.dumps(makers[function]()))
        traced, stderr = probe(["function", str(target / function), str(target / "layer"), str(path), "--trace"],
                               env, importtime=True)
        (importtime_dir / f"{function}.txt").write_text(stderr)
        imported = [i for i in parse_importtime(stderr) if i.module not in set(traced["preloaded"])]
        unused[function] = unused_by_request(imported, set(traced["used"]))
    events.instrumented.capture_callbacks = False
    return {"times": times, "ratios": ratios, "rss": rss, "unused": unused}


# -- calls per check ----------------------------------------------------------------------------

FLOWS: dict[str, dict[str, Any]] = {
    "tru.ID v0.2": {"provider": "truid", "api": "v0.2", "minimum": 2,
                    "why": "create the check, exchange the code (the token is cached)"},
    "tru.ID v0.1": {"provider": "truid", "api": "v0.1", "minimum": 2,
                    "why": "create the check, read its result once"},
    "CAMARA auth code": {"provider": "camara", "minimum": 2,
                         "why": "token for the code, one /verify (discovery and JWKS are cached)"},
    "CAMARA CIBA": {"provider": "camara", "ciba": True, "minimum": 4,
                    "why": "/bc-authorize, one token poll at the interval, /verify, plus one pending poll at least"},
    "Infobip": {"provider": "infobip", "number": INFOBIP_NUMBER, "minimum": 1,
                "why": "one verify request; the result is pushed to us"},
}


def calls_per_check(stack: Any, instrumented: Instrumented) -> dict[str, dict[str, Any]]:
    results = {}
    for name, flow in FLOWS.items():
        if flow["provider"] == "truid":
            stack.configure_truid(flow["api"])
        number = flow.get("number", NUMBER)
        verify(stack, number, flow["provider"], flow.get("ciba", False))  # warms this flow's caches
        time.sleep(0.5)  # let callbacks of the warm-up check land outside the count
        mark = len(instrumented.served)
        with instrumented.counter.measuring() as calls:
            view = verify(stack, number, flow["provider"], flow.get("ciba", False))
            time.sleep(0.5)  # the provider's callbacks for this check
        served = instrumented.served[mark:]
        results[name] = {"calls": calls, "status": view.get("status"), "minimum": flow["minimum"],
                         "why": flow["why"], "invocations": _invocations(served)}
    stack.configure_truid()
    return results


def _invocations(served: list[Served]) -> dict[str, int]:
    counted: dict[str, int] = defaultdict(int)
    for item in served:
        counted[item.function] += 1
    return dict(counted)


# -- own time, end to end -----------------------------------------------------------------------

def own_time(stack: Any, instrumented: Instrumented, requests: int) -> dict[str, list[float]]:
    mark = len(instrumented.served)
    while len(instrumented.served) - mark < requests:
        verify(stack)
    time.sleep(0.5)
    by_function: dict[str, list[float]] = defaultdict(list)
    for item in instrumented.served[mark:]:
        by_function[item.function].append(item.own * 1000)
        by_function["all"].append(item.own * 1000)
    return by_function


def end_to_end(stack: Any, instrumented: Instrumented,
               checks: int) -> tuple[list[tuple[float, float, int]], dict[str, float]]:
    """Per check: (handler wall ms on the app's path, provider round trips ms, provider requests); and
    each function's median wall time per invocation (what Lambda bills)."""
    instrumented.counter.provider_latency = PROVIDER_LATENCY_SECONDS
    rows = []
    first = len(instrumented.served)
    try:
        for _ in range(checks):
            mark = len(instrumented.served)
            verify(stack)
            served = [s for s in instrumented.served[mark:] if s.function != "ProviderCallbackFunction"]
            provider_requests = sum(sum(s.calls.http.values()) for s in served)
            rows.append((sum(s.wall for s in served) * 1000,
                         provider_requests * PROVIDER_LATENCY_SECONDS * 1000, provider_requests))
        time.sleep(0.5)
    finally:
        instrumented.counter.provider_latency = 0.0
    walls: dict[str, list[float]] = defaultdict(list)
    for item in instrumented.served[first:]:
        walls[item.function].append(item.wall * 1000)
    return rows, {function: statistics.median(values) for function, values in walls.items()}


def memory_sizes() -> dict[str, int]:
    """Each function's MemorySize from template.yaml (its own, else the Globals')."""
    from sandbox.aws import load_template
    from sandbox.gateway import TEMPLATE

    template = load_template(TEMPLATE)
    default = int(template.get("Globals", {}).get("Function", {}).get("MemorySize", 128))
    return {name: int(resource["Properties"].get("MemorySize", default))
            for name, resource in template["Resources"].items() if resource["Type"] == "AWS::Serverless::Function"}


# -- report -------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters per function (>= 5)")
    parser.add_argument("--requests", type=int, default=1000, help="requests for own time (>= 1000)")
    parser.add_argument("--checks", type=int, default=5, help="checks for the end-to-end time")
    parser.add_argument("--provider-price", type=float, default=costs.ASSUMED_PROVIDER_PRICE,
                        help="a provider's price per check in USD, to show silentcheck's cost as a share")
    parser.add_argument("--source-only", action="store_true", help="measure cold starts without .pyc only")
    args = parser.parse_args(argv)

    load = os.getloadavg()[0]
    _say(f"silentcheck benchmarks on Python {platform.python_version()} ({sys.implementation.name}), "
         f"{platform.machine()}, {os.cpu_count()} cores, load average {load:.2f} at start")
    stack, instrumented = start(provider_timeout=5.0)
    try:
        _say("measuring cold starts ...")
        importtime_dir = ROOT / ".cache" / "bench" / "importtime"
        cold = {"compiled": cold_starts(stack, instrumented, args.runs, True, importtime_dir)}
        if not args.source_only:
            cold["source"] = cold_starts(stack, instrumented, args.runs, False, importtime_dir / "source")
        _say("counting calls per check ...")
        counted = calls_per_check(stack, instrumented)
        _say(f"timing {args.requests} requests ...")
        own = own_time(stack, instrumented, args.requests)
        _say("end to end with provider latency ...")
        e2e, billed_ms = end_to_end(stack, instrumented, args.checks)
    finally:
        instrumented.counter.uninstall()
        stack.stop()
    report(cold, counted, own, e2e, billed_ms, args, load)


def _med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(cold: dict[str, Any], counted: dict[str, dict[str, Any]], own: dict[str, list[float]],
           e2e: list[tuple[float, float, int]], billed_ms: dict[str, float], args: argparse.Namespace,
           load: float) -> None:
    out = _say
    out("\n== what each function loads that its first request does not run (python -X importtime; "
        "files in .cache/bench/importtime) ==")
    for function, modules in cold["compiled"]["unused"].items():
        top = ", ".join(f"{name} {ms:.0f} ms" for name, ms in modules[:6]) or "nothing over 1 ms"
        out(f"{function:<26} {top}")

    out(f"\n== cold start: import the handler and serve its first request, median of {args.runs} fresh "
        f"interpreters; floor = import boto3 + one client + one GetItem ==")
    out(f"{'function':<26} {'ms':>7} {'x floor':>8} {'ms, no .pyc':>12} {'x floor':>8} {'peak RSS MB':>12}")
    compiled, source = cold["compiled"], cold.get("source")
    out(f"{'floor':<26} {_med(compiled['times']['floor']):>7.0f} {1.0:>8.2f} "
        f"{(_med(source['times']['floor']) if source else float('nan')):>12.0f} {1.0:>8.2f} "
        f"{_med(compiled['rss']['floor']) / 1024:>12.0f}")
    for function in FUNCTIONS:
        out(f"{function:<26} {_med(compiled['times'][function]):>7.0f} {_med(compiled['ratios'][function]):>8.2f} "
            f"{(_med(source['times'][function]) if source else float('nan')):>12.0f} "
            f"{(_med(source['ratios'][function]) if source else float('nan')):>8.2f} "
            f"{_med(compiled['rss'][function]) / 1024:>12.0f}")

    out("\n== calls per check, warm container (counted from botocore events and the HTTP session) ==")
    out(f"{'flow':<18} {'verdict':<13} {'DynamoDB':>8} {'KMS':>4} {'Secrets':>7} {'tokens':>6} "
        f"{'provider':>8} {'minimum':>7}  DynamoDB by operation")
    for name, row in counted.items():
        calls: Calls = row["calls"]
        dynamo = ", ".join(f"{op} {n}" for (svc, op), n in sorted(calls.aws.items()) if svc == "dynamodb")
        out(f"{name:<18} {row['status']!s:<13} {calls.aws_count('dynamodb'):>8} {calls.aws_count('kms'):>4} "
            f"{calls.aws_count('secrets-manager'):>7} {calls.http_count('token'):>6} "
            f"{sum(calls.http.values()):>8} {row['minimum']:>7}  {dynamo}")

    out(f"\n== own time per request (handler wall time less AWS and provider calls), "
        f"{len(own['all'])} requests, providers answering at once, DynamoDB Local ==")
    out(f"{'function':<26} {'n':>5} {'p50 ms':>7} {'p99 ms':>7}")
    for function, values in sorted(own.items()):
        out(f"{function:<26} {len(values):>5} {percentile(values, 50):>7.1f} {percentile(values, 99):>7.1f}")

    walls, trips = [row[0] for row in e2e], [row[1] for row in e2e]
    out(f"\n== end to end, one tru.ID v0.2 check, {PROVIDER_LATENCY_SECONDS * 1000:.0f} ms per provider round "
        f"trip, median of {len(e2e)} ==")
    out(f"handlers on the app's path {_med(walls):.0f} ms; provider round trips {_med(trips):.0f} ms "
        f"({e2e[0][2] if e2e else 0} requests); ratio {_med([w / t for w, t, _ in e2e]) if e2e else float('nan'):.2f}")

    truid = counted["tru.ID v0.2"]
    memory = memory_sizes()
    model = costs.per_million(truid["calls"], truid["invocations"], billed_ms, memory, args.provider_price)
    out("\n== cost per 1,000,000 tru.ID v0.2 checks (us-east-1 list prices, arm64; durations from the "
        "end-to-end run; see docs/benchmarks.md) ==")
    out("billed ms per invocation: " + ", ".join(f"{f} {ms:.0f} ({memory.get(f, 0)} MB)"
                                                 for f, ms in sorted(billed_ms.items())))
    for line in costs.render(model):
        out(line)
    out(f"\nPython {platform.python_version()}, {os.cpu_count()} cores, load average {load:.2f} at start, "
        f"{os.getloadavg()[0]:.2f} at the end: figures taken under that load are noisier, medians are quoted.")


if __name__ == "__main__":
    main()
