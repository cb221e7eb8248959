"""observability's metric helpers: dimensions hold only low-cardinality words, and a provider call is
classified as a failure or a rejection from what the adapter answered."""

from __future__ import annotations

import json
from typing import Any

import pytest

from silentcheck import observability
from silentcheck.checks import Outcome, Reason
from silentcheck.errors import ProviderNotConfigured
from silentcheck.observability import Metric
from silentcheck.providers.base import CallbackRejected, ProviderRefused


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]


@pytest.mark.parametrize("value", ["+447400900123", "127.0.0.1", "Ab3_12345678901cD", "a b", ""])
def test_a_dimension_value_with_digits_or_spaces_is_refused(value: str):
    with pytest.raises(ValueError, match="dimension"):
        observability.count(Metric.CHECKS_STARTED, provider=value)


def test_a_dimension_outside_the_allowed_names_is_refused():
    with pytest.raises(ValueError, match="check_id"):
        observability.count(Metric.CHECKS_STARTED, check_id="abc")


def test_a_count_is_aggregated_by_all_its_dimensions_by_each_and_in_all(capsys):
    observability.count(Metric.CHECKS_FINISHED, provider="truid", status="FAILED", reason="PROVIDER_ERROR")

    (line,) = _lines(capsys)

    assert sorted(map(sorted, line["_aws"]["CloudWatchMetrics"][0]["Dimensions"])) == sorted(map(sorted, [
        ["provider", "status", "reason", "service"], ["service", "provider"], ["service", "status"],
        ["service", "reason"], ["service"]]))
    assert line["ChecksFinished"] == [1.0]


def _call_flags(capsys: pytest.CaptureFixture[str]) -> tuple[float, float]:
    (line,) = _lines(capsys)
    return line["ProviderFailures"][0], line["ProviderRejections"][0]


@pytest.mark.parametrize(("answer", "flags"), [
    (Outcome.verified(), (0.0, 0.0)),
    (None, (0.0, 0.0)),
    (Outcome.failed(Reason.PROVIDER_ERROR, "503"), (1.0, 0.0)),
    (Outcome.failed(Reason.PROVIDER_REJECTED, "401"), (0.0, 1.0)),
    (Outcome.failed(Reason.CARRIER_UNSUPPORTED, "no_coverage"), (0.0, 0.0)),
])
def test_a_provider_call_is_a_failure_or_a_rejection_by_the_verdict_it_returns(capsys, answer, flags):
    observability.provider_call("truid", "refresh", lambda: answer)

    assert _call_flags(capsys) == flags


@pytest.mark.parametrize(("error", "flags"), [
    (ProviderRefused(Outcome.failed(Reason.PROVIDER_ERROR, "timeout")), (1.0, 0.0)),
    (ProviderRefused(Outcome.failed(Reason.PROVIDER_REJECTED, "401")), (0.0, 1.0)),
    (ProviderNotConfigured("no truid section"), (0.0, 1.0)),
    (CallbackRejected("signature"), (0.0, 0.0)),
    (RuntimeError("bug"), (1.0, 0.0)),
])
def test_a_provider_call_is_a_failure_or_a_rejection_by_what_it_raises(capsys, error, flags):
    def call() -> None:
        raise error

    with pytest.raises(type(error)):
        observability.provider_call("truid", "start", call)

    assert _call_flags(capsys) == flags
