"""Own time per tru.ID v0.2 flow, silentcheck beside tru.ID's official dev-server, in one run against the
same simulated tru.ID on loopback (docs/benchmarks.md, Against tru.ID's dev-server).

    python -m benchmarks.devserver --dev-server /tmp/truid-dev-server [--flows 200]

`--dev-server` is a copy of tru.ID's dev-server (MIT; /work/shared/reference/peers/truid-dev-server) with
`npm install --ignore-scripts --omit=dev` run in it; nothing of it is in this repository. Both backends
serve the same flow to the same simulated phone: the start, the device's return at the end of the redirect
chain (the code exchanged with tru.ID), and one read of the result (silentcheck: the poll with the
completion code, which signs the attestation; the dev-server: GET /v0.2/phone-check, which reads the check
from tru.ID). Own time, by the same rule on both sides, two ways:

- outside calls (the headline; issue 21's "own time outside AWS and provider calls"): each request's handling
  time less its whole AWS and provider calls. silentcheck (benchmarks/counting.py): each boto3 client call
  from its method to its return (botocore's validation, serialisation, SigV4 signing, retries and parsing
  inside) and each provider request from `Session.request` to its response's `close`. The dev-server: each
  axios call (its HTTP client) from the call to its promise settling, and any `http.request` made outside
  axios from its creation to its response's `end`.
- less socket waits: only the time on the wire is subtracted (silentcheck: botocore's `before-send` ->
  `response-received` and the provider session's `send`; the dev-server: each `http.request` from creation to
  the response's `end`), so the client libraries' own work counts as the backend's.

The dev-server is timed by a hook preloaded into Node (`--require`, written to a temporary directory): each
incoming request from its arrival to its response's `finish`. CPU time per flow is reported too, all of it
(silentcheck: its handlers' thread CPU time, botocore's work included; the dev-server: the Node process's CPU
while it served the request, one request at a time) and outside the whole calls (thread or process CPU time
taken at the same boundaries); a busy machine's scheduling inflates CPU far less than wall time. As on Lambda,
botocore signs without awscrt and IAM is not evaluated in the function (the sandbox's check is off)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import requests

from benchmarks.counting import CallCounter, Instrumented, Served
from benchmarks.stats import percentile

NUMBER = "+447400900002"
# every scope counted (as in production) but none binding: a number admits at most 1,000 addresses (config)
ROOMY_LIMITS = {"number": {"count": 1000, "window_seconds": 600},
                **{scope: {"count": 10**9, "window_seconds": 600} for scope in ("ip", "global")}}
SILENTCHECK_FUNCTIONS = ("StartCheckFunction", "OidcCallbackFunction", "PollResultFunction")
TIMING_HOOK = r"""
const { AsyncLocalStorage } = require('async_hooks');
const http = require('http');
const store = new AsyncLocalStorage();
const listen = http.Server.prototype.listen;  // express listens on every interface: loopback only here
http.Server.prototype.listen = function (port, ...rest) {
  return typeof port === 'number' || typeof port === 'string' ? listen.call(this, port, '127.0.0.1', ...rest)
    : listen.apply(this, arguments);
};
const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function (event, req, res) {
  if (event !== 'request') return emit.apply(this, arguments);
  const ctx = { start: process.hrtime.bigint(), cpu: process.cpuUsage(), waited: 0n, inCalls: 0n, inCallsCpu: 0,
                axiosDepth: 0, path: req.url.split('?')[0] };
  res.on('finish', () => {
    const wall = Number(process.hrtime.bigint() - ctx.start) / 1e6;
    const cpu = process.cpuUsage(ctx.cpu);
    process.stderr.write('TIMING ' + JSON.stringify({ path: ctx.path, wall_ms: wall,
                                                    waited_ms: Number(ctx.waited) / 1e6,
                                                    in_calls_ms: Number(ctx.inCalls) / 1e6,
                                                    in_calls_cpu_ms: ctx.inCallsCpu / 1000,
                                                    cpu_ms: (cpu.user + cpu.system) / 1000 }) + '\n');
  });
  return store.run(ctx, () => emit.apply(this, arguments));
};
const request = http.request;
http.request = function () {
  const ctx = store.getStore();
  const started = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  const outgoing = request.apply(this, arguments);
  const bare = ctx && ctx.axiosDepth === 0;  // a request not made through axios (jwks-rsa's) is a whole call too
  if (ctx) outgoing.on('response', (r) => r.on('end', () => {
    const took = process.hrtime.bigint() - started;
    ctx.waited += took;
    if (bare) {
      ctx.inCalls += took;
      const used = process.cpuUsage(cpu);
      ctx.inCallsCpu += used.user + used.system;
    }
  }));
  return outgoing;
};
// The whole provider call: each axios request (the dev-server's HTTP client) from the call to its promise
// settling, its configuration, follow-redirects and JSON parsing inside.
const axios = require(require.resolve('axios', { paths: [process.cwd()] }));
const axiosRequest = axios.Axios.prototype.request;
axios.Axios.prototype.request = function () {
  const ctx = store.getStore();
  if (!ctx) return axiosRequest.apply(this, arguments);
  const started = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  ctx.axiosDepth += 1;
  const done = () => {
    ctx.axiosDepth -= 1;
    ctx.inCalls += process.hrtime.bigint() - started;
    const used = process.cpuUsage(cpu);
    ctx.inCallsCpu += used.user + used.system;
  };
  return axiosRequest.apply(this, arguments).then((r) => { done(); return r; }, (e) => { done(); throw e; });
};
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class DevServer:
    """A copy of tru.ID's dev-server, run with Node and the timing hook, pointed at the simulated tru.ID."""

    def __init__(self, path: Path, truid_url: str, client_id: str, client_secret: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._hook_dir = tempfile.TemporaryDirectory(prefix="devserver-timing-")
        hook = Path(self._hook_dir.name) / "timing.js"
        hook.write_text(TIMING_HOOK)
        env = {**os.environ, "TRU_ID_CLIENT_ID": client_id, "TRU_ID_CLIENT_SECRET": client_secret,
               "API_BASE_URL": truid_url, "PORT": str(self.port), "DEBUG": "false"}
        self.timings: list[dict[str, Any]] = []
        self.output: list[str] = []  # the rest of its stderr, for the error when it does not start
        self._process = subprocess.Popen(["node", "--require", str(hook), "index.js"], cwd=path, env=env,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(f"{self.url}/health", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the dev-server at {path} did not start listening on {self.url}:\n"
                           + "".join(self.output[-30:]))

    def _read(self) -> None:
        assert self._process.stderr is not None
        for line in self._process.stderr:
            if line.startswith("TIMING "):
                self.timings.append(json.loads(line[len("TIMING "):]))
            else:
                self.output.append(line)

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)
        self._hook_dir.cleanup()


def devserver_flow(server: DevServer, network_url: str) -> bool:
    """Start, the device's chain ending at the dev-server's exchange-code, one status read; True on a match."""
    from sandbox.device import Phone, bound_session

    phone = Phone.join(network_url, NUMBER, "cellular")
    with bound_session(phone.ip) as app:
        created = app.post(f"{server.url}/v0.2/phone-check", timeout=30, json={
            "phone_number": NUMBER, "redirect_url": f"{server.url}/v0.2/phone-check/exchange-code"}).json()
        opened = phone.open(created["check_url"])
        status = app.get(f"{server.url}/v0.2/phone-check", params={"check_id": created["check_id"]}, timeout=30)
    return bool(isinstance(opened.json, dict) and opened.json.get("match") and status.json().get("match"))


def silentcheck_flow(stack: Any) -> bool:
    """Start, the device's chain ending at /checks/return, one poll with the completion code; True on VERIFIED."""
    from sandbox.device import Phone, bound_session

    phone = Phone.join(stack.network.base_url, NUMBER, "cellular")
    with bound_session(phone.ip) as app:
        created = app.post(f"{stack.api_url}/checks", json={"phone_number": NUMBER, "provider": "truid"},
                           headers={"x-api-key": stack.api_key}, timeout=30).json()
        opened = phone.open(created["check_url"])
        code = opened.json.get("completion_code") if isinstance(opened.json, dict) else None
        view = app.get(f"{stack.api_url}/checks/{created['check_id']}", params={"code": code}, timeout=30,
                       headers={"Authorization": f"Bearer {created['poll_token']}"}).json()
    return bool(view.get("status") == "VERIFIED" and view.get("attestation"))


def measure(dev_server_path: Path, flows: int) -> dict[str, Any]:
    from sandbox import stack as stacks
    from sandbox.local_aws import iam

    # Both backends log as they do in production (silentcheck's metrics and log lines, the dev-server's pino
    # lines) to stdout, and both stdouts go to /dev/null: writing to a slow terminal is nobody's own time.
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull), \
            stacks.running_stack(log_level="INFO") as stack:
        stack.configure_limits(ROOMY_LIMITS)
        iam.uninstall()  # the sandbox's IAM check runs in the handler's thread; on AWS the service evaluates IAM
        client_id = next(c for c, (_, mode) in stacks.TRUID_PROJECTS.items() if mode == "live")
        server = DevServer(dev_server_path, stack.truid.base_url, client_id, stacks.TRUID_PROJECTS[client_id][0])
        instrumented = Instrumented(CallCounter().install()).install_on(stack)
        try:
            for _ in range(3):  # warm both: tokens, connections, caches
                assert silentcheck_flow(stack) and devserver_flow(server, stack.network.base_url)
            time.sleep(0.5)
            served_from, timed_from = len(instrumented.served), len(server.timings)
            figures: dict[str, list[float]] = defaultdict(list)  # FIGURES' keys -> one value (ms) per flow
            for _ in range(flows):  # interleaved, so both see the same machine
                mark = len(instrumented.served)
                if not silentcheck_flow(stack):
                    raise RuntimeError("a silentcheck flow did not verify")
                flow = [s for s in instrumented.served[mark:] if s.function in SILENTCHECK_FUNCTIONS]
                for key, value in _ours(flow).items():
                    figures[f"ours_{key}"].append(value)
                mark = len(server.timings)
                if not devserver_flow(server, stack.network.base_url):
                    raise RuntimeError("a dev-server flow did not match")
                time.sleep(0.05)  # the timing lines arrive on another thread
                for key, value in _theirs(server.timings[mark:]).items():
                    figures[f"theirs_{key}"].append(value)
            by_route: dict[str, list[tuple[float, float]]] = defaultdict(list)  # (outside calls, less waits)
            for served in instrumented.served[served_from:]:
                if served.function in SILENTCHECK_FUNCTIONS:
                    by_route[f"silentcheck {served.function}"].append(
                        (served.outside_calls * 1000, served.own * 1000))
            for timing in server.timings[timed_from:]:
                by_route[f"dev-server {timing['path']}"].append(
                    (timing["wall_ms"] - timing["in_calls_ms"], timing["wall_ms"] - timing["waited_ms"]))
        finally:
            instrumented.uninstall_from(stack)
            instrumented.counter.uninstall()
            server.stop()
    return {"figures": figures, "by_route": by_route}


# Per flow, in ms. outside: wall less the whole AWS client calls and provider requests (the issue's "own time
# outside AWS and provider calls"); socket: wall less only the socket waits (the client libraries' work counted
# as the backend's own); cpu: all of it; cpu_outside: the CPU outside the whole calls.
FIGURES = ("outside", "socket", "cpu", "cpu_outside")


def _ours(flow: list[Served]) -> dict[str, float]:
    return {"outside": 1000 * sum(s.outside_calls for s in flow), "socket": 1000 * sum(s.own for s in flow),
            "cpu": 1000 * sum(s.cpu for s in flow), "cpu_outside": 1000 * sum(s.cpu_outside_calls for s in flow)}


def _theirs(timings: list[dict[str, Any]]) -> dict[str, float]:
    return {"outside": sum(t["wall_ms"] - t["in_calls_ms"] for t in timings),
            "socket": sum(t["wall_ms"] - t["waited_ms"] for t in timings),
            "cpu": sum(t["cpu_ms"] for t in timings),
            "cpu_outside": sum(t["cpu_ms"] - t["in_calls_cpu_ms"] for t in timings)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.devserver", description=__doc__.splitlines()[0])
    parser.add_argument("--dev-server", type=Path, required=True,
                        help="a copy of tru.ID's dev-server with its production dependencies installed")
    parser.add_argument("--flows", type=int, default=200)
    args = parser.parse_args(argv)
    # Lambda's runtime has no awscrt (aws-sam-cli brings it into .venv): without this, botocore would sign with
    # the CRT instead of the pure-Python SigV4 signer a function uses. Read when botocore is first imported.
    os.environ.setdefault("BOTO_DISABLE_CRT", "true")
    if not (args.dev_server / "node_modules" / "express").is_dir():
        parser.error(f"{args.dev_server}: run `npm install --ignore-scripts --omit=dev` in the copy first")
    load = os.getloadavg()[0]
    print(f"devserver: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"node {subprocess.run(['node', '--version'], capture_output=True, text=True).stdout.strip()}, "
          f"load average {load:.2f} at start", flush=True)
    result = measure(args.dev_server, args.flows)
    for name, pairs in sorted(result["by_route"].items()):
        outside, socket_only = sorted(p[0] for p in pairs), sorted(p[1] for p in pairs)
        print(f"devserver: {name:<45} outside calls p50 {percentile(outside, 50):6.2f} p99 "
              f"{percentile(outside, 99):6.2f} ms; less send-to-response p50 {percentile(socket_only, 50):6.2f} ms"
              f"  n={len(pairs)}")
    figures = result["figures"]
    median = {key: statistics.median(values) for key, values in figures.items()}
    flows = len(figures["ours_outside"])
    lines = {
        "outside": "own time outside whole AWS and provider calls (wall)",
        "socket": "own time less the send-to-response spans only (wall; botocore's validation, serialisation "
                  "and signing and requests' preparation counted as ours)",
        "cpu": "CPU (silentcheck: its handlers' threads, botocore's work included; dev-server: the Node "
               "process while it served the flow)",
        "cpu_outside": "CPU outside whole AWS and provider calls",
    }
    for key in FIGURES:
        print(f"devserver: {lines[key]}, median of {flows} flows: silentcheck {median[f'ours_{key}']:.2f} ms, "
              f"dev-server {median[f'theirs_{key}']:.2f} ms: {median[f'ours_{key}'] / median[f'theirs_{key}']:.2f}x")
    print(f"devserver: silentcheck outside whole calls against the dev-server less its http.request spans only "
          f"(axios's work counted as the dev-server's): {median['ours_outside'] / median['theirs_socket']:.2f}x")
    print(f"devserver: load average {os.getloadavg()[0]:.2f} at the end (shared machine: noisy)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
