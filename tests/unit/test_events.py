"""The sample events in events/ (for `sam local invoke`) fit their functions' routes in template.yaml and
go through the real lambda_handler under moto (DynamoDB + Secrets Manager; no tru.ID credentials)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sandbox.local_aws import services as aws
from sandbox.local_aws.functions import Function, read_functions, stage_name
from sandbox.local_aws.lambda_runtime import load_handler
from silentcheck.store import keys
from tests.conftest import TEST_TABLE

EVENTS = Path(__file__).resolve().parents[2] / "events"


@dataclass
class _Context:
    """The parts of a LambdaContext that Powertools reads."""

    function_name: str
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 15_000


def _functions() -> dict[str, Function]:
    """Template functions by the directory their code lives in, which names their sample event."""
    return {Path(function.code_uri).name: function for function in read_functions()}


def _event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
    return event


def _invoke(name: str) -> dict[str, Any]:
    function = _functions()[name]
    return load_handler(function)(_event(name), _Context(function.logical_id))


def _content_type(result: dict[str, Any]) -> str:
    headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    headers.update({k.lower(): v[-1] for k, v in (result.get("multiValueHeaders") or {}).items()})
    return str(headers["content-type"])


def _problem(result: dict[str, Any]) -> tuple[int, str, str]:
    body = json.loads(result["body"])
    return result["statusCode"], _content_type(result), body["code"]


def test_every_function_in_the_template_has_a_sample_event():
    assert {path.stem for path in EVENTS.glob("*.json")} == set(_functions())


@pytest.mark.parametrize("name", ["start_check", "poll_result", "oidc_callback"])
def test_api_sample_event_is_a_rest_payload_for_its_functions_route_on_the_template_stage(name: str):
    event = _event(name)

    assert (event["httpMethod"], event["resource"]) in _functions()[name].routes
    assert event["requestContext"]["stage"] == stage_name()
    assert event["requestContext"]["path"] == f"/{stage_name()}{event['path']}"
    assert event["requestContext"]["identity"]["sourceIp"]


def test_provider_callback_sample_event_is_a_function_url_payload_2_0_post():
    event = _event("provider_callback")

    assert _functions()["provider_callback"].has_function_url
    assert (event["version"], event["requestContext"]["http"]["method"]) == ("2.0", "POST")
    assert event["rawPath"] == event["requestContext"]["http"]["path"]
    assert event["rawPath"].startswith("/truid/")


def test_start_check_sample_event_asks_to_verify_the_documented_number():
    assert json.loads(_event("start_check")["body"]) == {"phone_number": "+447400900002"}


def test_start_check_event_without_truid_credentials_answers_a_check_failed_as_provider_rejected(
    moto_env: aws.MotoServer,
):
    result = _invoke("start_check")

    body = json.loads(result["body"])
    assert (result["statusCode"], body["status"], body["reason"], body["check_url"]) == (
        201, "FAILED", "PROVIDER_REJECTED", None)


def test_start_check_event_without_truid_credentials_leaves_its_record_failed(moto_env: aws.MotoServer):
    _invoke("start_check")

    items = aws.client("dynamodb", moto_env.endpoint).scan(TableName=TEST_TABLE)["Items"]
    assert [(item["status"]["S"], item["reason"]["S"], item["raw_code"]["S"]) for item in items
            if item[keys.PARTITION_KEY]["S"].startswith(keys.CHECK)] == [
        ("FAILED", "PROVIDER_REJECTED", "not_configured")]


def test_poll_result_event_for_an_unknown_check_answers_404_problem(moto_env: aws.MotoServer):
    result = _invoke("poll_result")

    assert _problem(result) == (404, "application/problem+json", "CHECK_NOT_FOUND")


def test_oidc_callback_event_with_an_unknown_state_answers_400_invalid_return(moto_env: aws.MotoServer):
    result = _invoke("oidc_callback")

    assert _problem(result) == (400, "application/problem+json", "INVALID_RETURN")


def test_provider_callback_event_answers_404_problem(moto_env: aws.MotoServer):
    result = _invoke("provider_callback")

    assert _problem(result) == (404, "application/problem+json", "CHECK_NOT_FOUND")


def test_provider_callback_event_creates_no_item(moto_env: aws.MotoServer):
    _invoke("provider_callback")

    assert aws.client("dynamodb", moto_env.endpoint).scan(TableName=TEST_TABLE)["Items"] == []
