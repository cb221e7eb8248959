"""template.yaml's time budgets stay consistent with each other and with API Gateway's integration limit
(docs/reliability.md, Time budgets): every function's Timeout, the per-call provider timeout, the margin
kept to record the outcome and the AWS clients' own timeouts."""

from __future__ import annotations

import pytest

from sandbox.local_aws.functions import Function, read_functions
from silentcheck import aws
from silentcheck.config import Settings

API_GATEWAY_INTEGRATION_SECONDS = 29  # REST API integration timeout (AWS quota, the default maximum)


def _seconds(function: Function, name: str) -> float:
    return float(function.environment[name])


@pytest.fixture(scope="module")
def functions() -> list[Function]:
    return read_functions()


def test_every_api_function_times_out_before_api_gateway_gives_up(functions: list[Function]) -> None:
    for function in (f for f in functions if f.routes):
        assert function.timeout < API_GATEWAY_INTEGRATION_SECONDS, function.logical_id


def test_one_full_provider_call_and_the_record_margin_fit_in_every_function(functions: list[Function]) -> None:
    for function in functions:
        budget = _seconds(function, "PROVIDER_TIMEOUT_SECONDS") + _seconds(function, "RECORD_MARGIN_SECONDS")
        assert budget <= function.timeout, function.logical_id


def test_the_record_margin_holds_one_whole_aws_attempt(functions: list[Function]) -> None:
    for function in functions:
        margin = _seconds(function, "RECORD_MARGIN_SECONDS")
        assert margin >= aws.CONNECT_TIMEOUT_SECONDS + aws.READ_TIMEOUT_SECONDS, function.logical_id


def test_the_settings_defaults_are_the_templates_budgets(functions: list[Function]) -> None:
    defaults = Settings.model_fields
    for function in functions:
        assert _seconds(function, "PROVIDER_TIMEOUT_SECONDS") == defaults["provider_timeout_seconds"].default
        assert _seconds(function, "RECORD_MARGIN_SECONDS") == defaults["record_margin_seconds"].default
