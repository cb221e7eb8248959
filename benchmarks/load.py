"""`make load`: a ramp of simulated phones against the sandbox, on loopback, to see where one machine's
sandbox saturates (docs/capacity.md, What one machine sustains).

    python -m benchmarks.load [--phones 1,2,4,8,16] [--step-seconds 10] [--max-checks 400] [--png PATH]

Each step runs `phones` phones at once for `--step-seconds` (and at most `--max-checks` checks), each phone
one check after another in the proportions of sandbox/soak.py's unfaulted scenarios: tru.ID v0.2 (start,
the device's redirect chain, the return, a poll with the code, tru.ID's signed callback), CAMARA's
authorization-code flow, and Infobip (its result pushed to the callback URL). Per step it reports checks
a second, p50 and p99 of each route's handler time, errors, and the DynamoDB and KMS requests per check
(botocore's own events); then the step where throughput stopped growing, and draws the curve as a PNG.
It reports and never fails: on a shared machine the numbers are noise-bound, the shape is what counts."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import platform
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.counting import CallCounter, Instrumented, Served
from benchmarks.stats import percentile

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PNG = ROOT / "docs" / "img" / "load.png"
ROOMY_LIMITS = {scope: {"count": 10**9, "window_seconds": 600} for scope in ("number", "ip", "global")}
SATURATED_GAIN = 1.10  # a step that adds phones but not this much throughput: the machine is saturated
ROUTES = {  # the function behind each route (template.yaml's events)
    "StartCheckFunction": "POST /checks",
    "OidcCallbackFunction": "GET /checks/return",
    "PollResultFunction": "GET /checks/{id}",
    "ProviderCallbackFunction": "POST callback",
}


@dataclass
class Step:
    """One step of the ramp: what the phones did and what the functions asked of AWS meanwhile."""

    phones: int
    seconds: float = 0.0
    checks: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    served: list[Served] = field(default_factory=list)

    @property
    def checks_per_second(self) -> float:
        return self.checks / self.seconds if self.seconds else 0.0

    def route_ms(self, route: str) -> list[float]:
        return sorted(s.wall * 1000 for s in self.served if ROUTES.get(s.function) == route)

    def per_check(self, service: str, operation: str | None = None) -> float:
        total = sum(s.calls.aws_count(service, operation) for s in self.served)
        return total / self.checks if self.checks else 0.0


def _scenarios() -> list[Any]:
    """The soak's unfaulted scenarios, each as often as its weight says (per 1,000 checks)."""
    from sandbox.soak import SCENARIOS

    plain = [s for s in SCENARIOS if not s.fault and not s.hidden and s.opens and not s.delivery]
    return [s for s in plain for _ in range(s.weight // 20)]


def run_step(stack: Any, instrumented: Instrumented, phones: int, seconds: float, max_checks: int,
             first_number: int) -> Step:
    """`phones` phones, one check after another each, until `seconds` pass or `max_checks` checks started."""
    from sandbox.soak import Ran, run

    scenarios = _scenarios()
    step = Step(phones)
    lock = threading.Lock()
    issued = [0]
    deadline = time.monotonic() + seconds

    def phone_loop() -> None:
        while time.monotonic() < deadline:
            with lock:
                if issued[0] >= max_checks:
                    return
                n = first_number + issued[0]
                issued[0] += 1
            scenario = scenarios[n % len(scenarios)]
            country = "+346" if scenario.flow == "camara" else "+4474"
            ran = run(stack, Ran(scenario, f"{country}{n:06d}{scenario.suffix}"))
            with lock:
                if ran.error:
                    step.errors[ran.error.split(":")[0]] += 1
                elif ran.app_saw != scenario.expected:
                    step.errors[f"saw {ran.app_saw}"] += 1
                else:
                    step.checks += 1

    mark = len(instrumented.served)
    started = time.monotonic()
    with ThreadPoolExecutor(phones) as pool:
        for _ in range(phones):
            pool.submit(phone_loop)
    step.seconds = time.monotonic() - started
    time.sleep(0.3)  # the last checks' provider callbacks
    with instrumented.lock:
        step.served = instrumented.served[mark:]
    return step


def saturation(steps: list[Step]) -> Step | None:
    """The first step after which more phones stopped buying throughput (None: it still grew at the end)."""
    for lower, higher in itertools.pairwise(steps):
        if higher.checks_per_second < lower.checks_per_second * SATURATED_GAIN:
            return lower
    return None


def table(steps: list[Step]) -> str:
    """The report as a Markdown table (docs/capacity.md quotes one)."""
    routes = list(ROUTES.values())
    head = ["phones", "checks/s", "errors", *(f"{r} p50/p99 ms" for r in routes), "DynamoDB/check", "KMS/check"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for step in steps:
        cells = [str(step.phones), f"{step.checks_per_second:.1f}", str(sum(step.errors.values()))]
        for route in routes:
            ms = step.route_ms(route)
            cells.append(f"{percentile(ms, 50):.0f} / {percentile(ms, 99):.0f}" if ms else "-")
        cells += [f"{step.per_check('dynamodb'):.1f}", f"{step.per_check('kms'):.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def draw(steps: list[Step], path: Path, title: str) -> Path:
    """Throughput and the start route's p50/p99 against the number of phones, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phones = [s.phones for s in steps]
    figure, throughput = plt.subplots(figsize=(8, 4.5), dpi=100)
    throughput.plot(phones, [s.checks_per_second for s in steps], "o-", color="tab:blue", label="checks/s")
    throughput.set_xlabel("simulated phones at once")
    throughput.set_ylabel("checks per second", color="tab:blue")
    throughput.set_xscale("log", base=2)
    throughput.set_xticks(phones, [str(p) for p in phones])
    latency = throughput.twinx()
    for route, style in (("POST /checks", "-"), ("GET /checks/{id}", ":")):
        for p, shade in ((50, "tab:orange"), (99, "tab:red")):
            values = [percentile(s.route_ms(route), p) if s.route_ms(route) else 0.0 for s in steps]
            latency.plot(phones, values, style, color=shade, label=f"{route} p{p}")
    latency.set_ylabel("handler time, ms", color="tab:red")
    saturated = saturation(steps)
    if saturated is not None:
        throughput.axvline(saturated.phones, color="grey", linestyle="--", linewidth=1)
        throughput.annotate(f"saturates here\n{saturated.checks_per_second:.1f} checks/s",
                            (saturated.phones, saturated.checks_per_second), textcoords="offset points",
                            xytext=(8, -30), fontsize=8)
    handles = throughput.get_legend_handles_labels()[0] + latency.get_legend_handles_labels()[0]
    labels = throughput.get_legend_handles_labels()[1] + latency.get_legend_handles_labels()[1]
    throughput.legend(handles, labels, loc="upper left", fontsize=8)
    throughput.set_title(title, fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def ramp(stack: Any, instrumented: Instrumented, phones: list[int], step_seconds: float,
         max_checks: int) -> list[Step]:
    run_step(stack, instrumented, 1, step_seconds, 3, 0)  # warm the caches a container keeps; not reported
    steps: list[Step] = []
    for count in phones:
        first = 3 + sum(s.checks + sum(s.errors.values()) for s in steps) + 1
        steps.append(run_step(stack, instrumented, count, step_seconds, max_checks, first))
        print(f"load: {count} phones: {steps[-1].checks_per_second:.1f} checks/s, "
              f"{sum(steps[-1].errors.values())} errors", file=sys.stderr, flush=True)
    return steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__.splitlines()[0])
    parser.add_argument("--phones", default="1,2,4,8,16", help="phones at once, per step (comma-separated)")
    parser.add_argument("--step-seconds", type=float, default=10.0)
    parser.add_argument("--max-checks", type=int, default=400, help="checks per step at most")
    parser.add_argument("--png", type=Path, default=DEFAULT_PNG)
    args = parser.parse_args(argv)
    phones = sorted({int(p) for p in args.phones.split(",") if p.strip()})
    if not phones or phones[0] < 1 or phones[-1] > 64:
        parser.error("--phones: 1 to 64 phones per step")
    from sandbox import stack as stacks

    load = os.getloadavg()[0]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"load: {machine}, load average {load:.2f} at start; loopback only", flush=True)
    # The functions' metrics go to stdout as on Lambda (and cost what they cost there), but not to the report.
    try:
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull), \
                stacks.running_stack(log_level="ERROR") as stack:
            stack.configure_limits(ROOMY_LIMITS)
            instrumented = Instrumented(CallCounter().install()).install_on(stack)
            try:
                steps = ramp(stack, instrumented, phones, args.step_seconds, args.max_checks)
            finally:
                instrumented.counter.uninstall()
    except Exception as error:  # it reports, it never fails a build
        print(f"load: the run stopped early: {type(error).__name__}: {error}", file=sys.stderr)
        return 0
    end_load = os.getloadavg()[0]
    title = f"make load on {machine}; load average {load:.1f} → {end_load:.1f} (shared machine: noisy)"
    print(table(steps))
    saturated = saturation(steps)
    print("load: " + (f"this machine saturates at {saturated.phones} phones, "
                      f"{saturated.checks_per_second:.1f} checks/s" if saturated
                      else "throughput still grew at the last step"))
    print(f"load: curve drawn to {draw(steps, args.png, title)}; load average {end_load:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
