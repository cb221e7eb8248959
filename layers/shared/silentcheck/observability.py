"""Logs and metrics shared by every function: JSON logs in which phone numbers never appear unmasked, and
CloudWatch metrics (EMF) whose dimensions hold nothing personal. Depends on no module of ours, so every
room may log and count; what a provider call counts as is decided beside the registry (providers/measured.py)."""

from __future__ import annotations

import json
import numbers
import os
import re
import time
import warnings
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Protocol

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.exceptions import MetricValueError
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

# Any run of 7 or more digits, wherever it stands: a number glued to letters (`abc447400900002xyz`, a
# provider's error text) or to more digits is masked too.
_DIGIT_RUN = re.compile(r"\+?\d{7,}")
# Ids kept whole so they stay useful for tracing: UUIDs (x-correlators) wherever they appear, and a
# value of an id field that has the shape of our tokens (tokens.new_token: base64url).
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
_ID_FIELDS = frozenset({"check_id", "x_correlator"})
_POWERTOOLS_KEYS = frozenset({"timestamp", "xray_trace_id", "function_request_id", "function_arn",
                              "function_memory_size", "cold_start", "sampling_rate", "location"})


def _mask_digits(text: str) -> str:
    return _DIGIT_RUN.sub(lambda m: m.group()[:3] + "*" * (len(m.group()) - 5) + m.group()[-2:], text)


def _mask_text(text: str) -> str:
    kept, masked, start = _UUID.finditer(text), [], 0
    for uuid in kept:
        masked += [_mask_digits(text[start:uuid.start()]), uuid.group()]
        start = uuid.end()
    return "".join([*masked, _mask_digits(text[start:])])


def _mask(value: Any, key: str | None = None) -> Any:
    if isinstance(value, str):
        if key in _ID_FIELDS and (_TOKEN.fullmatch(value) or _UUID.fullmatch(value)):
            return value
        return _mask_text(value)
    if isinstance(value, dict):
        return {k: _mask(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v) for v in value]
    return value


class MaskingFormatter(LambdaPowertoolsFormatter):
    """A second line of defence: code logs phone.mask(number), this catches what slips through."""

    def serialize(self, log: Any) -> str:
        return super().serialize({k: v if k in _POWERTOOLS_KEYS else _mask(v, k) for k, v in log.items()})


SERVICE = "silentcheck"
logger = Logger(service=SERVICE, logger_formatter=MaskingFormatter())


# --------------------------------------------------------------------------------------------------------
# Metrics: CloudWatch embedded metric format (EMF) lines on stdout, namespace POWERTOOLS_METRICS_NAMESPACE.
# Every metric's name is here and nowhere else in the code; template.yaml's alarms and dashboard use them
# (tests/unit/test_template.py reads both). Dimensions are low-cardinality words only: a provider, a status,
# a reason, a flow, an operation or a limit scope; never a number, an id, an address or a token.


class Metric(StrEnum):
    CHECKS_STARTED = "ChecksStarted"  # a provider accepted a check (billable); provider, flow
    CHECKS_FINISHED = "ChecksFinished"  # a check reached its final status; provider, status, reason
    DEVICE_RETURNS = "DeviceReturns"  # a phone finished a redirect chain at /checks/return; provider
    PROVIDER_FALLBACKS = "ProviderFallbacks"  # a provider refused a start and the next one was tried
    BREAKER_OPENED = "BreakerOpened"  # a provider failed often enough to be skipped for a while
    STARTS_REFUSED = "StartsRefused"  # POST /checks refused before anything was recorded (a spent budget)
    CALLBACKS_REJECTED = "CallbacksRejected"  # a provider callback was not accepted
    ATTESTATIONS_SIGNED = "AttestationsSigned"  # a signed attestation was handed to a poller
    PROVIDER_LATENCY = "ProviderLatency"  # milliseconds one adapter call took; provider, operation
    PROVIDER_FAILURES = "ProviderFailures"  # 1 when that call failed (an outage: 5xx, timeout, 429…), else 0
    PROVIDER_REJECTIONS = "ProviderRejections"  # 1 when the provider refused our credentials or configuration


DIMENSIONS = frozenset({"provider", "status", "reason", "flow", "operation", "scope"})
_DIMENSION_VALUE = re.compile(r"[A-Za-z_]{1,40}")  # no digits: a number, an id or an address cannot fit
_EMPTY_FLUSH = "No application metrics to publish"

# template.yaml sets the namespace (POWERTOOLS_METRICS_NAMESPACE); without it, metrics go under the service name
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or SERVICE
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
# Metrics are emitted when they happen (each with its own dimensions), so the per-invocation set that
# log_metrics flushes is usually empty; the decorator still adds the cold-start metric.
warnings.filterwarnings("ignore", message=_EMPTY_FLUSH)


def _checked(dimensions: Mapping[str, object]) -> dict[str, str]:
    checked = {}
    for name, value in dimensions.items():
        text = str(value)
        if name not in DIMENSIONS or not _DIMENSION_VALUE.fullmatch(text):
            raise ValueError(f"metric dimension {name}={text!r} is not one of {sorted(DIMENSIONS)} with a value of "
                             "letters and underscores (nothing personal or high-cardinality)")
        checked[name] = text
    return checked


def emit(values: Mapping[Metric, tuple[MetricUnit, float]], **dimensions: object) -> None:
    """One EMF line with these metrics, aggregated by all the dimensions together, by each alone and in all
    (so alarms can read any of them with exact dimensions).

    The line is the one Powertools' EphemeralMetrics prints for the same metrics and dimensions, byte for byte
    but the timestamp (tests/unit/test_metrics.py compares them), written here: a check emits six or so, and
    Powertools builds each through some thirty calls, about a sixth of a check's own time (docs/benchmarks.md)."""
    checked = _checked(dimensions)
    for _, amount in values.values():
        if not isinstance(amount, numbers.Number):
            raise MetricValueError(f"{amount} is not a valid number")
    if not values or is_metrics_disabled():
        return
    names = list(checked)
    dimension_sets = [[*names, "service"], *([["service", name] for name in names] if len(names) > 1 else []),
                      *([["service"]] if names else [])]
    line = {"_aws": {"Timestamp": int(time.time() * 1000),
                     "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": dimension_sets,
                                            "Metrics": [{"Name": metric.value, "Unit": unit.value}
                                                        for metric, (unit, _) in values.items()]}]},
            **checked, "service": SERVICE,
            **{metric.value: [float(amount)] for metric, (_, amount) in values.items()}}
    print(json.dumps(line, separators=(",", ":")))


def count(metric: Metric | str, **dimensions: object) -> None:
    """Count one occurrence, e.g. count(Metric.CHECKS_STARTED, provider="truid", flow="device")."""
    emit({Metric(metric): (MetricUnit.Count, 1)}, **dimensions)


class Final(Protocol):
    """What a final check is counted by (checks.Check has it)."""

    @property
    def provider(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def reason(self) -> str | None: ...


def finished(check: Final) -> None:
    """A check reached its final status (counted once: by the transition that won)."""
    count(Metric.CHECKS_FINISHED, provider=check.provider, status=check.status, reason=check.reason or "NONE")
