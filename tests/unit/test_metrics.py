"""observability's metric helpers: dimensions hold only low-cardinality words, aggregated by each and all
(how a provider call is counted: test_provider_measured.py)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from silentcheck import observability
from silentcheck.observability import Metric


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


def test_each_line_holds_only_its_own_metrics_and_dimensions(capsys):
    observability.count(Metric.CHECKS_STARTED, provider="truid", flow="device")
    observability.count(Metric.DEVICE_RETURNS, provider="camara")

    first, second = _lines(capsys)

    assert "ChecksStarted" not in second and second["DeviceReturns"] == [1.0]
    assert "flow" not in second and second["provider"] == "camara"
    assert first["ChecksStarted"] == [1.0]


def test_a_line_that_fails_to_build_leaves_nothing_in_the_next(capsys):
    with pytest.raises(Exception, match="not a valid number"):
        observability.emit({Metric.PROVIDER_LATENCY: (MetricUnit.Milliseconds, "slow")},  # type: ignore[dict-item]
                           provider="truid", operation="start")

    observability.count(Metric.DEVICE_RETURNS, provider="camara")

    (line,) = _lines(capsys)
    assert "ProviderLatency" not in line and "operation" not in line and line["DeviceReturns"] == [1.0]


def test_lines_counted_while_metrics_are_disabled_are_neither_printed_nor_kept(capsys, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    observability.count(Metric.DEVICE_RETURNS, provider="truid")
    observability.count(Metric.DEVICE_RETURNS, provider="truid")
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED")

    observability.count(Metric.DEVICE_RETURNS, provider="truid")

    (line,) = _lines(capsys)
    assert line["DeviceReturns"] == [1.0]


def _as_powertools_prints(values: dict[Metric, tuple[MetricUnit, float]], dimensions: dict[str, str]) -> None:
    """The same line through Powertools' own metric set: the dimensions all together, each alone, in all."""
    line = EphemeralMetrics(namespace=observability.NAMESPACE, service=observability.SERVICE)
    for name, value in dimensions.items():
        line.add_dimension(name, value)
    if len(dimensions) > 1:
        for name, value in dimensions.items():
            line.add_dimensions(service=observability.SERVICE, **{name: value})
    if dimensions:
        line.add_dimensions(service=observability.SERVICE)
    for metric, (unit, amount) in values.items():
        line.add_metric(name=metric.value, unit=unit, value=amount)
    line.flush_metrics()


@pytest.mark.parametrize("dimensions", [{}, {"provider": "truid"}, {"provider": "truid", "operation": "start"},
                                        {"provider": "camara", "status": "FAILED", "reason": "PROVIDER_ERROR"}])
@pytest.mark.parametrize("values", [
    {Metric.DEVICE_RETURNS: (MetricUnit.Count, 1)},
    {Metric.PROVIDER_LATENCY: (MetricUnit.Milliseconds, 12.5), Metric.PROVIDER_FAILURES: (MetricUnit.Count, 0),
     Metric.PROVIDER_REJECTIONS: (MetricUnit.Count, 1)}], ids=["one", "three"])
def test_a_line_is_what_powertools_metric_set_prints_for_the_same_metrics(capsys, values, dimensions):
    observability.emit(values, **dimensions)
    _as_powertools_prints(values, dimensions)

    ours, theirs = (json.loads(line) for line in capsys.readouterr().out.splitlines())

    assert abs(ours["_aws"].pop("Timestamp") - time.time() * 1000) < 5000
    theirs["_aws"].pop("Timestamp")
    assert json.dumps(ours) == json.dumps(theirs)  # the same keys in the same order
