"""`make smoke` (sandbox/smoke.py) against the sandbox as a deployed stack: it passes where the deployment is
right, and fails, naming the check, where it is not."""

import json

import pytest

from sandbox import smoke
from sandbox import stack as stacks
from sandbox.local_aws.services import client


def _run(target: smoke.Target) -> tuple[bool, list[str]]:
    lines: list[str] = []
    passed = smoke.run(target, say=lines.append)
    return passed, lines[1:-1]  # the check lines, without the heading and the summary


def _failed(lines: list[str]) -> list[str]:
    return [line.split(":")[0] for line in lines if line.startswith("FAIL")]


def test_every_check_passes_against_the_sandbox_in_backend_mode(stack: stacks.Stack):
    passed, lines = _run(smoke.Target(stack.api_url, stack.api_key, stack.gateway.callback_url))

    assert passed
    assert [line.split()[0] for line in lines] == ["pass"] * 7


def test_in_app_mode_the_key_checks_are_skipped_and_the_rest_pass(stack: stacks.Stack):
    stack.configure_api(client_auth="none")

    passed, lines = _run(smoke.Target(stack.api_url, None, stack.gateway.callback_url))

    assert passed
    assert [line.split()[0] for line in lines] == ["pass", "skip", "skip", "pass", "pass", "pass", "pass"]


def test_an_api_that_takes_no_key_fails_the_backend_mode_checks(stack: stacks.Stack):
    stack.configure_api(client_auth="none")

    passed, lines = _run(smoke.Target(stack.api_url, stack.api_key, stack.gateway.callback_url))

    assert not passed
    assert _failed(lines) == ["FAIL  POST /checks without an API key is 403",
                              "FAIL  POST /checks with a wrong API key is 403"]


def test_a_backend_mode_api_called_without_the_key_fails_the_fixed_line_check_and_says_why(stack: stacks.Stack):
    passed, lines = _run(smoke.Target(stack.api_url, None, stack.gateway.callback_url))

    assert not passed
    assert _failed(lines) == ["FAIL  POST /checks with a fixed-line number is 422 application/problem+json"]
    assert "give API_KEY" in next(line for line in lines if line.startswith("FAIL"))


def test_a_callback_url_that_is_not_the_callback_function_fails(stack: stacks.Stack):
    passed, lines = _run(smoke.Target(stack.api_url, stack.api_key, stack.api_url))

    assert not passed
    assert len(_failed(lines)) == 2 and all("{callback URL}" in line for line in _failed(lines))


def test_an_unreachable_api_fails_every_check_without_a_traceback():
    passed, lines = _run(smoke.Target("http://127.0.0.1:9/v1", "key", "http://127.0.0.1:9/"))

    assert not passed
    assert len(lines) == 7 and all(line.startswith("FAIL") and "ConnectionError" in line for line in lines)


def test_the_urls_come_from_the_stack_outputs_and_the_exit_status_is_zero(
        stack: stacks.Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """STACK_NAME: ApiUrl and CallbackUrl as CloudFormation holds them (moto, standing in for the account)."""
    outputs = {"ApiUrl": stack.api_url, "CallbackUrl": stack.gateway.callback_url, "UsagePlanId": "plan"}
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
                "Outputs": {key: {"Value": value} for key, value in outputs.items()}}
    client("cloudformation", stack.moto.endpoint).create_stack(StackName="smoke-outputs",
                                                               TemplateBody=json.dumps(template))
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDFORMATION", stack.moto.endpoint)
    monkeypatch.setenv("API_KEY", stack.api_key)

    status = smoke.main(["--stack-name", "smoke-outputs"])

    assert status == 0
    assert f"smoke test of {stack.api_url} (backend mode)" in capsys.readouterr().out


def test_a_failed_check_makes_the_exit_status_one(stack: stacks.Stack, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("API_KEY", stack.api_key)
    monkeypatch.delenv("STACK_NAME", raising=False)

    assert smoke.main(["--api-url", stack.api_url, "--callback-url", stack.api_url]) == 1
