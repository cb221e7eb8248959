"""The registry hands adapters out measured (providers/measured.py): every call to a provider is timed and
counted as a failure or a rejection from what the adapter answered, a start for a provider the secret does not
configure is a refusal, and the measured adapter has exactly the adapter's capabilities."""

from __future__ import annotations

import json
from typing import Any

import pytest

from silentcheck.checks import Check, Outcome, Reason, Status
from silentcheck.errors import CallbackTooEarly, ProviderNotConfigured
from silentcheck.providers.base import (
    CallbackRejected,
    CallbackRequest,
    CoverageLookup,
    DeviceNetwork,
    ProviderRefused,
    PushesResults,
    StartContext,
    TakesOperatorToken,
)
from silentcheck.providers.measured import NOT_CONFIGURED, measured
from silentcheck.sim_swap import AnswersSimSwap, HoursRange
from tests.fakes import (
    FakeCoreProvider,
    FakeCoverageProvider,
    FakeOperatorTokenProvider,
    FakeProvider,
)

CHECK = Check(check_id="c", provider="truid", status=Status.PENDING, created_at=0, expires_at=300,
              poll_token_hash="p", number_key="n")
CONTEXT = StartContext("c", "+447400900123", "https://api.example/checks/return?state=s", None)
CALLBACK = CallbackRequest("POST", "/truid/cap", {}, {}, b"{}")


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]


def _flags(capsys: pytest.CaptureFixture[str]) -> tuple[float, float]:
    (line,) = [line for line in _lines(capsys) if "ProviderLatency" in line]
    return line["ProviderFailures"][0], line["ProviderRejections"][0]


@pytest.mark.parametrize(("answer", "flags"), [
    (Outcome.verified(), (0.0, 0.0)),
    (None, (0.0, 0.0)),
    (Outcome.failed(Reason.PROVIDER_ERROR, "503"), (1.0, 0.0)),
    (Outcome.failed(Reason.PROVIDER_REJECTED, "401"), (0.0, 1.0)),
    (Outcome.failed(Reason.CARRIER_UNSUPPORTED, "no_coverage"), (0.0, 0.0)),
])
def test_a_provider_call_is_a_failure_or_a_rejection_by_the_verdict_it_returns(capsys, answer, flags):
    measured(FakeCoreProvider(refresh_result=answer)).refresh(CHECK)

    assert _flags(capsys) == flags


@pytest.mark.parametrize(("error", "flags"), [
    (ProviderRefused(Outcome.failed(Reason.PROVIDER_ERROR, "timeout")), (1.0, 0.0)),
    (ProviderRefused(Outcome.failed(Reason.PROVIDER_REJECTED, "401")), (0.0, 1.0)),
    (RuntimeError("bug"), (1.0, 0.0)),
])
def test_a_provider_call_is_a_failure_or_a_rejection_by_what_it_raises(capsys, error, flags):
    with pytest.raises(type(error)):
        measured(FakeCoreProvider(start_error=error)).start(CONTEXT)

    assert _flags(capsys) == flags


def test_a_start_the_secret_does_not_configure_is_a_refusal_counted_as_a_rejection(capsys):
    with pytest.raises(ProviderRefused) as refused:
        measured(FakeCoreProvider(start_error=ProviderNotConfigured("no truid section"))).start(CONTEXT)

    assert (refused.value.outcome.reason, refused.value.outcome.raw_code) == (Reason.PROVIDER_REJECTED,
                                                                              NOT_CONFIGURED)
    assert _flags(capsys) == (0.0, 1.0)


def test_a_poll_the_secret_does_not_configure_still_raises_and_counts_a_rejection(capsys):
    class Unconfigured(FakeCoreProvider):
        def refresh(self, check: Check) -> None:
            raise ProviderNotConfigured("no truid section")

    with pytest.raises(ProviderNotConfigured):
        measured(Unconfigured()).refresh(CHECK)

    assert _flags(capsys) == (0.0, 1.0)


@pytest.mark.parametrize("error", [CallbackRejected("signature"), CallbackTooEarly()])
def test_a_callback_refused_for_its_message_is_neither_a_failure_nor_a_rejection(capsys, error):
    def raise_it() -> None:
        raise error

    with pytest.raises(type(error)):
        measured(FakeProvider(during_callback=raise_it)).on_callback(CHECK, CALLBACK)  # type: ignore[attr-defined]

    assert _flags(capsys) == (0.0, 0.0)


def test_each_call_reports_its_operation_and_latency(capsys):
    adapter = measured(FakeCoverageProvider(network=DeviceNetwork(mobile=True)))

    adapter.start(CONTEXT)
    adapter.on_return(CHECK, {})
    adapter.refresh(CHECK)
    adapter.on_callback(CHECK, CALLBACK)  # type: ignore[attr-defined]
    adapter.device_network("203.0.113.7")  # type: ignore[attr-defined]
    lines = [line for line in _lines(capsys) if "ProviderLatency" in line]

    assert [line["operation"] for line in lines] == ["start", "return", "refresh", "callback", "coverage"]
    assert all(line["provider"] == "truid" and line["ProviderLatency"][0] >= 0 for line in lines)


class _SimSwapProvider(FakeCoreProvider):
    def sim_swap_range(self) -> HoursRange:
        return HoursRange(1, 24)


@pytest.mark.parametrize(("adapter", "capabilities"), [
    (FakeCoreProvider(), set()),
    (FakeProvider(), {PushesResults}),
    (FakeOperatorTokenProvider(), {TakesOperatorToken}),
    (FakeCoverageProvider(), {PushesResults, CoverageLookup}),
    (_SimSwapProvider(), {AnswersSimSwap}),
])
def test_the_measured_adapter_has_exactly_the_capabilities_of_the_adapter(adapter: FakeCoreProvider,
                                                                          capabilities: set[type]):
    wrapped = measured(adapter)

    assert {capability for capability in (PushesResults, TakesOperatorToken, CoverageLookup, AnswersSimSwap)
            if isinstance(wrapped, capability)} == capabilities
    assert wrapped.name == adapter.name


def test_an_adapter_is_measured_once():
    once = measured(FakeProvider())

    assert measured(once) is once
