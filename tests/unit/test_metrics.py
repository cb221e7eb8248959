"""observability's metric helpers: dimensions hold only low-cardinality words, aggregated by each and all
(how a provider call is counted: test_provider_measured.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

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
