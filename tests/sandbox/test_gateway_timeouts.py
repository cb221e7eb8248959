"""The sandbox gateway keeps Lambda's time: a context counting down from the function's Timeout, and an
invocation that runs past it answered 502 and recorded, as Lambda's kill would be."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from sandbox.local_aws.functions import Function, read_functions
from sandbox.local_aws.lambda_runtime import Invoker, Overruns
from sandbox.local_aws.template import TEMPLATE_PATH, load_template

FUNCTION = Function("SlowFunction", "functions/x", "app.lambda_handler", {}, (), False, timeout=1.0)
SCALE = 0.1  # a 0.1 s Timeout


def _invoke(handler: Any) -> tuple[dict[str, Any], Overruns]:
    overruns = Overruns()
    result = Invoker(overruns, SCALE)(FUNCTION, handler, {}, "GET /slow")
    return result, overruns


def test_an_invocation_past_its_timeout_is_answered_502_and_recorded() -> None:
    def slow(event: Any, context: Any) -> dict[str, Any]:
        time.sleep(0.15)
        return {"statusCode": 200}

    result, overruns = _invoke(slow)

    assert result["statusCode"] == 502
    assert [(o.function, o.request, o.timeout) for o in overruns.take()] == [("SlowFunction", "GET /slow", 0.1)]


def test_an_invocation_in_time_answers_what_the_handler_answered() -> None:
    result, overruns = _invoke(lambda event, context: {"statusCode": 201})

    assert result == {"statusCode": 201}
    assert overruns.take() == []


def test_the_context_counts_down_from_the_scaled_timeout() -> None:
    seen: list[int] = []

    def handler(event: Any, context: Any) -> dict[str, Any]:
        seen.append(context.get_remaining_time_in_millis())
        time.sleep(0.05)
        seen.append(context.get_remaining_time_in_millis())
        return {"statusCode": 200}

    _invoke(handler)

    assert 90 <= seen[0] <= 100 and seen[1] <= seen[0] - 50


def test_a_function_without_its_own_timeout_gets_the_globals(tmp_path: Path) -> None:
    template = load_template(TEMPLATE_PATH)
    name = next(iter(f.logical_id for f in read_functions()))
    template["Resources"][name]["Properties"]["Timeout"] = 7
    written = tmp_path / "template.yaml"
    written.write_text(yaml.safe_dump(template))

    timeouts = {f.logical_id: f.timeout for f in read_functions(written)}

    assert timeouts.pop(name) == 7
    assert set(timeouts.values()) == {template["Globals"]["Function"]["Timeout"]}
