"""`make bench`: cold start, own time, calls per check, peak memory, end-to-end time and cost, measured
side by side in one run against the sandbox (DynamoDB Local, moto, the simulated providers) on
loopback. It reports; it never fails on a slow machine. docs/benchmarks.md explains each figure."""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from benchmarks import costs
from benchmarks.counting import CallCounter, Calls, Instrumented, Served
from benchmarks.importtime import Imported, parse_importtime, unused_by_request
from benchmarks.stats import percentile

ROOT = Path(__file__).resolve().parent.parent
PROBE = Path(__file__).resolve().parent / "probe.py"
BUILD = ROOT / ".cache" / "bench" / "build"
NUMBER = "+447400900002"
INFOBIP_NUMBER = "+447400900003"
PROVIDER_LATENCY_SECONDS = 0.060  # a kept-alive HTTPS round trip from an AWS region to a provider's API
# The template's budgets, counted as in production, but too large for a benchmark's thousand checks to spend.
ROOMY_LIMITS = {scope: {"count": 10**9, "window_seconds": 600} for scope in ("number", "ip", "global")}
IMPORTTIME_RUNS = 3
TRUID_TOKEN_PATH = "/oauth2/v1/token"  # tru.ID's client-credentials token: cached per container
FUNCTIONS = ("StartCheckFunction", "PollResultFunction", "OidcCallbackFunction", "ProviderCallbackFunction")


JWKS_PATH = "/.well-known/jwks.json"  # fetched by a verifier per key rotation, not per check


def _say(*parts: object) -> None:
    print(*parts, flush=True)


# -- the stack ----------------------------------------------------------------------------------

def start(provider_timeout: float) -> tuple[Any, Instrumented]:
    from sandbox import stack as stacks
    from sandbox.local_aws.functions import read_functions

    template_timeout = float(read_functions()[0].environment["PROVIDER_TIMEOUT_SECONDS"])
    stack = stacks.start_stack(time_scale=provider_timeout / template_timeout, log_level="WARNING")
    stack.configure_limits(ROOMY_LIMITS)
    return stack, Instrumented(CallCounter().install()).install_on(stack)


def verify(stack: Any, number: str = NUMBER, provider: str | None = "truid", ciba: bool = False) -> dict[str, Any]:
    from sandbox.verify import verify as run

    return run(stack.api_url, stack.network.base_url, number, provider=None if ciba else provider,
               operator_token_url=stack.camara.base_url if ciba else None, api_key=stack.api_key,
               say=lambda _: None)


# -- cold start ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Variant:
    """One build to cold-start: this tree or a git revision's layer and functions, with the layer's
    bytecode compiled at build time or not."""

    label: str
    compiled: bool
    revision: str | None = None  # None: the working tree

    @property
    def key(self) -> str:
        return f"{self.revision or 'tree'}-{'pyc' if self.compiled else 'source'}"


def layer_dependencies() -> Path:
    """The layer's requirements unpacked without bytecode, as `sam build`'s python builder ships them (it
    extracts the wheels; pip's install-time compile does not happen, and /opt is read-only on Lambda)."""
    requirements = ROOT / "layers" / "shared" / "requirements.txt"
    target = BUILD / f"dependencies-{hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]}"
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--target",
                               str(target), "-r", str(requirements)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"installing the layer's requirements failed:\n{done.stderr[-3000:]}")
        (target / ".complete").touch()
    return target


def build(variant: Variant) -> Path:
    """What the deployment ships: the layer (dependencies and the silentcheck package) and each function's
    code, with the layer's .pyc compiled at build time or without any."""
    from sandbox.local_aws.functions import read_functions

    target = BUILD / variant.key
    shutil.rmtree(target, ignore_errors=True)
    source = ROOT
    if variant.revision:
        source = BUILD / f"git-{variant.revision}"
        shutil.rmtree(source, ignore_errors=True)
        source.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", variant.revision, "layers", "functions"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    shutil.copytree(layer_dependencies(), target / "layer", ignore=shutil.ignore_patterns(".complete"))
    shutil.copytree(source / "layers" / "shared" / "silentcheck", target / "layer" / "silentcheck",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for function in read_functions():
        shutil.copytree(source / function.code_uri, target / function.logical_id,
                        ignore=shutil.ignore_patterns("__pycache__"))
    if variant.compiled:
        subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode",
                        "unchecked-hash", str(target / "layer")], check=True)
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
                               headers={"x-api-key": self.stack.api_key}, timeout=30)
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


@dataclass
class ColdStarts:
    times: dict[str, dict[str, list[float]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    ratios: dict[str, dict[str, list[float]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    rss: dict[str, dict[str, list[int]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    floor: list[float] = field(default_factory=list)
    floor_rss: list[int] = field(default_factory=list)
    unused: dict[str, list[tuple[str, float]]] = field(default_factory=dict)


def cold_starts(stack: Any, instrumented: Instrumented, runs: int, variants: list[Variant],
                importtime_dir: Path) -> ColdStarts:
    """Rounds of fresh interpreters: the floor, then each variant's functions, each with its own fresh
    first request; ratios are taken within a round, so a machine that slows down moves both sides."""
    from sandbox import stack as stacks

    targets = {variant.key: build(variant) for variant in variants}
    env = child_env()
    events = Events(stack, instrumented)
    makers = {"StartCheckFunction": events.start, "PollResultFunction": events.poll,
              "OidcCallbackFunction": events.device_return, "ProviderCallbackFunction": events.callback}
    event_dir = BUILD / "events"
    event_dir.mkdir(parents=True, exist_ok=True)
    result = ColdStarts()

    def run_function(target: Path, function: str, *extra: str, importtime: bool = False) -> tuple[dict[str, Any], str]:
        path = event_dir / f"{function}.json"
        path.write_text(json.dumps(makers[function]()))
        answer, stderr = probe(["function", str(target / function), str(target / "layer"), str(path), *extra], env,
                               importtime=importtime)
        if answer["status"] >= 400:
            raise RuntimeError(f"{function}'s first request answered {answer['status']}")
        return answer, stderr

    for run in range(runs + 1):  # the first round warms the page cache and is not counted
        floor, _ = probe(["floor", stacks.TABLE_NAME], env)
        if run:
            result.floor.append(floor["ms"])
            result.floor_rss.append(floor["peak_rss_kb"])
        for variant in variants:
            for function in FUNCTIONS:
                answer, _ = run_function(targets[variant.key], function)
                if run:
                    result.times[variant.label][function].append(answer["ms"])
                    result.ratios[variant.label][function].append(answer["ms"] / floor["ms"])
                    result.rss[variant.label][function].append(answer["peak_rss_kb"])
    importtime_dir.mkdir(parents=True, exist_ok=True)
    for function in FUNCTIONS:
        fastest: dict[str, Imported] = {}
        used: set[str] = set()
        for attempt in range(IMPORTTIME_RUNS):  # the least of each module's import times: noise only adds
            traced, stderr = run_function(targets[variants[0].key], function, "--trace", importtime=True)
            (importtime_dir / f"{function}-{attempt}.txt").write_text(stderr)
            preloaded = set(traced["preloaded"])
            used |= set(traced["used"])
            for item in parse_importtime(stderr):
                if item.module not in preloaded and (item.module not in fastest
                                                     or item.self_us < fastest[item.module].self_us):
                    fastest[item.module] = item
        result.unused[function] = unused_by_request(list(fastest.values()), used)
    instrumented.capture_callbacks = False
    return result


# -- calls per check ----------------------------------------------------------------------------

FLOWS: dict[str, dict[str, Any]] = {
    "tru.ID v0.2": {"provider": "truid", "api": "v0.2", "minimum": 2,
                    "why": "create the check, exchange the code (the token is cached)"},
    "tru.ID v0.1": {"provider": "truid", "api": "v0.1", "minimum": 2,
                    "why": "create the check, read its result once"},
    "CAMARA auth code": {"provider": "camara", "minimum": 2,
                         "why": "token for the code, one /verify (discovery and JWKS are cached)"},
    "CAMARA CIBA": {"provider": "camara", "ciba": True, "minimum": 3,
                    "why": "/bc-authorize, a token request once the user is authenticated, /verify"},
    "Infobip": {"provider": "infobip", "number": INFOBIP_NUMBER, "minimum": 1,
                "why": "one verify request; the result is pushed to us"},
}


def calls_per_check(stack: Any, instrumented: Instrumented) -> dict[str, dict[str, Any]]:
    results = {}
    for name, flow in FLOWS.items():
        if flow["provider"] == "truid":
            stack.configure_truid(flow["api"])
            stack.configure_api(allow_unbound_checks=flow["api"] == "v0.1")  # v0.1 has binding none
        number = flow.get("number", NUMBER)
        verify(stack, number, flow["provider"], flow.get("ciba", False))  # warms this flow's caches
        time.sleep(1.5)  # let callbacks of the warm-up check land outside the count
        mark = len(instrumented.served)
        with instrumented.counter.measuring() as calls:
            view = verify(stack, number, flow["provider"], flow.get("ciba", False))
            time.sleep(1.5)  # the provider's callbacks for this check
        served = instrumented.served[mark:]
        results[name] = {"calls": calls, "status": view.get("status"), "minimum": flow["minimum"],
                         "why": flow["why"], "invocations": _invocations(served)}
    stack.configure_truid()
    return results


def _invocations(served: list[Served]) -> dict[str, int]:
    """Invocations per function for one check; the sandbox verifier's JWKS fetch is left out (a backend
    caches the key set until the key changes)."""
    counted: dict[str, int] = defaultdict(int)
    for item in served:
        if item.path != JWKS_PATH:
            counted[item.function] += 1
    return dict(counted)


# -- own time, end to end -----------------------------------------------------------------------

def own_time(stack: Any, instrumented: Instrumented, requests: int) -> dict[str, list[float]]:
    mark = len(instrumented.served)
    while sum(1 for item in instrumented.served[mark:] if item.path != JWKS_PATH) < requests:
        verify(stack)
    time.sleep(0.5)
    by_function: dict[str, list[float]] = defaultdict(list)
    for item in instrumented.served[mark:]:
        if item.path == JWKS_PATH:
            continue
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
            served = [s for s in instrumented.served[mark:]
                      if s.function != "ProviderCallbackFunction" and s.path != JWKS_PATH]
            provider_requests = sum(sum(s.calls.http.values()) for s in served)
            rows.append((sum(s.wall for s in served) * 1000,
                         provider_requests * PROVIDER_LATENCY_SECONDS * 1000, provider_requests))
        time.sleep(0.5)
    finally:
        instrumented.counter.provider_latency = 0.0
    walls: dict[str, list[float]] = defaultdict(list)
    for item in instrumented.served[first:]:
        if item.path != JWKS_PATH:
            walls[item.function].append(item.wall * 1000)
    return rows, {function: statistics.median(values) for function, values in walls.items()}


def memory_sizes() -> dict[str, int]:
    """Each function's MemorySize from template.yaml (its own, else the Globals')."""
    from sandbox.local_aws.template import TEMPLATE_PATH, load_template

    template = load_template(TEMPLATE_PATH)
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
    parser.add_argument("--baseline", metavar="REV", action="append", default=[],
                        help="also cold-start this git revision's layer and functions, side by side (repeatable)")
    args = parser.parse_args(argv)

    load = os.getloadavg()[0]
    _say(f"silentcheck benchmarks on Python {platform.python_version()} ({sys.implementation.name}), "
         f"{platform.machine()}, {os.cpu_count()} cores, load average {load:.2f} at start")
    stack, instrumented = start(provider_timeout=5.0)
    try:
        _say("measuring cold starts ...")
        variants = [Variant("layer with .pyc", True), Variant("layer without .pyc", False)]
        for rev in args.baseline:
            variants += [Variant(f"{rev}, layer with .pyc", True, rev), Variant(f"{rev}, without .pyc", False, rev)]
        cold = cold_starts(stack, instrumented, args.runs, variants, ROOT / ".cache" / "bench" / "importtime")
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


def _generic(path: str) -> str:
    """A request path with its ids replaced, so that requests of one kind count together."""
    return "/".join("{id}" if len(part) > 20 else part for part in path.split("/"))


def _med(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(cold: ColdStarts, counted: dict[str, dict[str, Any]], own: dict[str, list[float]],
           e2e: list[tuple[float, float, int]], billed_ms: dict[str, float], args: argparse.Namespace,
           load: float) -> None:
    out = _say
    out("\n== what each function loads that its first request does not run (python -X importtime; "
        "files in .cache/bench/importtime) ==")
    for function, modules in cold.unused.items():
        top = ", ".join(f"{name} {ms:.0f} ms" for name, ms in modules[:6]) or "nothing over 1 ms"
        out(f"{function:<26} {top}")

    out(f"\n== cold start: import the handler and serve its first request, median of {args.runs} fresh "
        f"interpreters; floor = import boto3 + one client + one GetItem, in the same rounds ==")
    out(f"floor: {_med(cold.floor):.0f} ms, peak RSS {_med(cold.floor_rss) / 1024:.0f} MB")
    out(f"{'build':<28} {'function':<26} {'ms':>7} {'x floor':>8} {'peak RSS MB':>12}")
    for label, by_function in cold.times.items():
        for function in FUNCTIONS:
            out(f"{label:<28} {function:<26} {_med(by_function[function]):>7.0f} "
                f"{_med(cold.ratios[label][function]):>8.2f} {_med(cold.rss[label][function]) / 1024:>12.0f}")

    out("\n== calls per check, warm container (counted from botocore events and the HTTP session) ==")
    out(f"{'flow':<18} {'verdict':<13} {'DynamoDB':>8} {'KMS':>4} {'Secrets':>7} {'tokens':>6} "
        f"{'provider':>8} {'minimum':>7}  AWS by operation")
    for name, row in counted.items():
        calls: Calls = row["calls"]
        dynamo = ", ".join(f"{op} {n}" if svc == "dynamodb" else f"{svc} {op} {n}"
                           for (svc, op), n in sorted(calls.aws.items()))
        out(f"{name:<18} {row['status']!s:<13} {calls.aws_count('dynamodb'):>8} {calls.aws_count('kms'):>4} "
            f"{calls.aws_count('secrets-manager'):>7} {calls.http_count(TRUID_TOKEN_PATH):>6} "
            f"{sum(calls.http.values()):>8} {row['minimum']:>7}  {dynamo}")
    out("provider requests by flow (minimum: what the provider's API needs), and invocations per function:")
    for name, row in counted.items():
        paths = Counter(f"{method} {_generic(path)}" for (_, method, path), n in row["calls"].http.items()
                        for _ in range(n))
        out(f"  {name:<18} " + ", ".join(f"{p} x{n}" for p, n in sorted(paths.items()))
            + f"  [{row['why']}]")
        out(f"  {'':<18} " + ", ".join(f"{f} x{n}" for f, n in sorted(row["invocations"].items())))

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
