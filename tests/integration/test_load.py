"""`make load` in small: a two-step ramp of simulated phones against the sandbox reports each step and
draws its curve; the saturation rule on made-up steps. The real run is `make load` (docs/capacity.md)."""

from __future__ import annotations

from pathlib import Path

from benchmarks import load
from benchmarks.counting import CallCounter, Instrumented
from sandbox import stack as stacks


def test_a_small_ramp_reports_every_step_and_draws_its_curve(stack: stacks.Stack, tmp_path: Path):
    instrumented = Instrumented(CallCounter().install()).install_on(stack)
    try:
        steps = load.ramp(stack, instrumented, [1, 2], step_seconds=1.0, max_checks=4)
    finally:
        instrumented.uninstall_from(stack)
        instrumented.counter.uninstall()

    report = load.table(steps)
    png = load.draw(steps, tmp_path / "load.png", "test")
    assert [s.phones for s in steps] == [1, 2]
    assert all(s.checks >= 1 and not s.errors for s in steps), [s.errors for s in steps]
    assert all(s.route_ms("POST /checks") and s.per_check("dynamodb") >= 5 for s in steps)
    assert all(s.per_check("kms", "Sign") == 1 for s in steps)
    assert report.count("\n") == 1 + len(steps)
    assert png.read_bytes().startswith(b"\x89PNG")


def _step(phones: int, checks_per_second: float) -> load.Step:
    return load.Step(phones, seconds=1.0, checks=int(checks_per_second))


def test_the_machine_saturates_where_more_phones_stop_buying_throughput():
    steps = [_step(1, 10), _step(2, 19), _step(4, 30), _step(8, 31), _step(16, 25)]

    assert load.saturation(steps) == steps[2]


def test_a_ramp_that_still_grows_has_not_saturated():
    assert load.saturation([_step(1, 10), _step(2, 20)]) is None
