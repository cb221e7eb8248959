"""The CloudWatch metrics (EMF lines on stdout) that real handler invocations emit: what each event
counts, with which dimensions, and that no dimension or value carries anything personal."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import requests

from silentcheck.observability import DIMENSIONS, NAMESPACE, Metric
from tests.integration.conftest import App, completion_code
from tests.integration.test_truid_callbacks import callbacks, v01_check_opened

UK = "+447400900202"
DIMENSION_VALUE = re.compile(r"[A-Za-z_]+")


def emitted(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """Every EMF line printed since the last call."""
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]


def of(lines: list[dict[str, Any]], metric: Metric) -> list[dict[str, Any]]:
    return [line for line in lines if any(m["Name"] == metric.value
                                          for d in line["_aws"]["CloudWatchMetrics"] for m in d["Metrics"])]


def dimensions(line: dict[str, Any]) -> dict[str, str]:
    """The dimension values of an EMF line, by name (every name any of its dimension sets uses)."""
    names = {name for d in line["_aws"]["CloudWatchMetrics"] for dims in d["Dimensions"] for name in dims}
    return {name: line[name] for name in names}


def test_a_verified_check_emits_checks_finished_with_its_provider_and_status(app: App, capsys):
    check = app.started(UK)
    app.poll(check, completion_code(app.phone(UK).open(check["check_url"])))

    finished = [dimensions(line) for line in of(emitted(capsys), Metric.CHECKS_FINISHED)]

    assert finished == [{"service": "silentcheck", "provider": "truid", "status": "VERIFIED", "reason": "NONE"}]


def test_a_started_check_counts_a_start_and_its_device_return(app: App, capsys):
    check = app.started(UK)
    app.phone(UK).open(check["check_url"])

    lines = emitted(capsys)

    assert [dimensions(line) for line in of(lines, Metric.CHECKS_STARTED)] == [
        {"service": "silentcheck", "provider": "truid", "flow": "device"}]
    assert [dimensions(line)["provider"] for line in of(lines, Metric.DEVICE_RETURNS)] == ["truid"]


def test_every_metric_goes_to_the_templates_namespace_with_the_service_dimension_set(app: App, capsys):
    check = app.started(UK)
    app.phone(UK).open(check["check_url"])

    lines = emitted(capsys)

    assert lines
    assert {d["Namespace"] for line in lines for d in line["_aws"]["CloudWatchMetrics"]} == {NAMESPACE}
    assert all(["service"] in d["Dimensions"] for line in lines for d in line["_aws"]["CloudWatchMetrics"]
               if d["Metrics"][0]["Name"] != "ColdStart")


def test_no_metric_line_carries_a_number_an_id_a_token_or_an_address(app: App, capsys):
    phone = app.phone(UK)
    check = app.started(UK)
    code = completion_code(phone.open(check["check_url"]))
    app.poll(check, code)
    app.start("+447400900298")  # refused by tru.ID, then tried on Infobip

    lines = emitted(capsys)
    secrets = [UK, UK.removeprefix("+"), "7400900", check["check_id"], check["poll_token"], code, phone.ip]

    assert lines
    assert [line for line in lines if any(secret in json.dumps(line) for secret in secrets)] == []
    assert {name for line in lines for name in dimensions(line)} - {"service", "function_name"} <= DIMENSIONS
    assert [v for line in lines for v in dimensions(line).values() if not DIMENSION_VALUE.fullmatch(v)] == []


def test_a_refusal_that_falls_back_counts_a_fallback_and_a_provider_failure(app: App, capsys):
    app.truid_fault(method="POST", path_regex="/checks$", status=503)

    app.started(UK)
    lines = emitted(capsys)

    assert [dimensions(line) for line in of(lines, Metric.PROVIDER_FALLBACKS)] == [
        {"service": "silentcheck", "provider": "truid", "reason": "PROVIDER_ERROR"}]
    calls = {dimensions(line)["provider"]: line[Metric.PROVIDER_FAILURES.value]
             for line in of(lines, Metric.PROVIDER_FAILURES) if dimensions(line)["operation"] == "start"}
    assert calls == {"truid": [1.0], "infobip": [0.0]}


def test_every_provider_call_reports_its_latency_in_milliseconds(app: App, capsys):
    app.started(UK)

    latency = [line for line in of(emitted(capsys), Metric.PROVIDER_LATENCY)]

    assert latency and all(line[Metric.PROVIDER_LATENCY.value][0] >= 0 for line in latency)
    assert {m["Unit"] for line in latency for d in line["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]
            if m["Name"] == Metric.PROVIDER_LATENCY.value} == {"Milliseconds"}


def test_a_provider_refusing_our_credentials_counts_a_rejection(app: App, capsys):
    app.stack.configure_infobip(api_key="not-the-key")

    app.start("+5511987650012")  # Infobip alone serves +55
    rejections = [line[Metric.PROVIDER_REJECTIONS.value] for line in of(emitted(capsys), Metric.PROVIDER_REJECTIONS)
                  if dimensions(line)["provider"] == "infobip"]

    app.stack.configure_infobip()
    assert rejections == [[1.0]]


def test_a_spent_budget_counts_a_refused_start_with_its_scope(app: App, capsys):
    app.stack.configure_limits({"ip": {"count": 1, "window_seconds": 3600}})
    app.started(UK)

    app.start(UK)

    assert [dimensions(line) for line in of(emitted(capsys), Metric.STARTS_REFUSED)] == [
        {"service": "silentcheck", "reason": "RATE_LIMITED", "scope": "ip"}]


def test_a_breaker_that_opens_is_counted_once(app: App, capsys):
    breaker = {"failures": 2, "window_seconds": 60, "open_seconds": 60}
    app.stack.configure_routing({"default": ["truid", "infobip"], "circuit_breaker": breaker})
    app.truid_fault(method="POST", path_regex="/checks$", status=503, count=2)

    app.started(UK), app.started("+447400900204"), app.started(UK)  # two numbers fail: one failure each

    assert [dimensions(line)["provider"] for line in of(emitted(capsys), Metric.BREAKER_OPENED)] == ["truid"]


def test_a_callback_whose_signature_does_not_hold_counts_a_rejected_callback(app: App, capsys):
    app.truid_callback_fault("bad_signature")
    check = v01_check_opened(app)
    callbacks(app, check)

    rejected = [dimensions(line) for line in of(emitted(capsys), Metric.CALLBACKS_REJECTED)]

    assert {"service": "silentcheck", "provider": "truid", "reason": "NOT_AUTHENTIC"} in rejected


def test_a_callback_to_an_unknown_capability_counts_a_rejected_callback_without_a_provider(app: App, capsys):
    requests.post(f"{app.stack.gateway.callback_url.rstrip('/')}/truid/not-a-capability", data=b"{}", timeout=5)

    rejected = [dimensions(line) for line in of(emitted(capsys), Metric.CALLBACKS_REJECTED)]

    assert rejected == [{"service": "silentcheck", "reason": "UNKNOWN_CALLBACK"}]


def test_an_attestation_is_counted_once_when_it_is_signed(app: App, capsys):
    check = app.started(UK)
    code = completion_code(app.phone(UK).open(check["check_url"]))

    first, again = app.poll(check, code), app.poll(check, code)

    assert first.json()["attestation"] == again.json()["attestation"]
    assert [dimensions(line) for line in of(emitted(capsys), Metric.ATTESTATIONS_SIGNED)] == [
        {"service": "silentcheck", "provider": "truid"}]
