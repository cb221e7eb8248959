"""An adapter as the registry hands it out: the same Protocol and the same capabilities, with every call
to the provider timed and classified in this one place (ProviderLatency, ProviderFailures,
ProviderRejections), and a start for a provider the secret does not configure turned into a refusal, so the
next provider of the route is offered the check."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import TypeVar, cast

from aws_lambda_powertools.metrics import MetricUnit

from silentcheck import observability
from silentcheck.checks import Check, Outcome, Reason
from silentcheck.errors import CallbackTooEarly, ProviderNotConfigured
from silentcheck.observability import Metric, logger
from silentcheck.providers.base import (
    CallbackRejected,
    CallbackRequest,
    CoverageLookup,
    DeviceNetwork,
    PollAgain,
    Provider,
    ProviderRefused,
    PushesResults,
    StartContext,
    Started,
    TakesOperatorToken,
)
from silentcheck.sim_swap import AnswersSimSwap, HoursRange

NOT_CONFIGURED = "not_configured"  # raw code of a start refused because the secret lacks the provider

R = TypeVar("R")


class _Call:
    """What one adapter call came to, in our vocabulary, when it said."""

    outcome: Outcome | None = None

    def returned(self, value: R) -> R:
        if isinstance(value, Outcome):
            self.outcome = value
        return value


@contextmanager
def _measured(provider: str, operation: str) -> Iterator[_Call]:
    """Time one adapter call and count whether it failed as an outage (a PROVIDER_ERROR verdict or refusal,
    or an unexpected exception) and whether the provider rejected our credentials or configuration
    (PROVIDER_REJECTED, or a secret without the provider's section). A callback that is not authentic or
    comes too early is the message's fault, not the provider's."""
    call, started = _Call(), time.monotonic()
    try:
        yield call
    except ProviderRefused as refused:
        call.outcome = refused.outcome
        raise
    except ProviderNotConfigured:
        call.outcome = Outcome.failed(Reason.PROVIDER_REJECTED, NOT_CONFIGURED)
        raise
    except (CallbackRejected, CallbackTooEarly):
        raise
    except Exception:
        call.outcome = Outcome.failed(Reason.PROVIDER_ERROR, "internal_error")
        raise
    finally:
        reason = call.outcome.reason if call.outcome is not None else None
        observability.emit(
            {Metric.PROVIDER_LATENCY: (MetricUnit.Milliseconds, round((time.monotonic() - started) * 1000, 1)),
             Metric.PROVIDER_FAILURES: (MetricUnit.Count, int(reason is Reason.PROVIDER_ERROR)),
             Metric.PROVIDER_REJECTIONS: (MetricUnit.Count, int(reason is Reason.PROVIDER_REJECTED))},
            provider=provider, operation=operation)


@contextmanager
def _starting(provider: str, ctx: StartContext) -> Iterator[None]:
    """A start, measured; a provider the secret does not configure refuses it (logged at ERROR: an operator
    has something to fix), so the next provider of the route is offered the check."""
    try:
        with _measured(provider, "start"):
            yield
    except ProviderNotConfigured as error:
        logger.error("provider is not configured", check_id=ctx.check_id, provider=provider, detail=error.detail)
        raise ProviderRefused(Outcome.failed(Reason.PROVIDER_REJECTED, NOT_CONFIGURED)) from None


class Measured:
    """Provider, measured. The capabilities the adapter has are added by measured() (below)."""

    def __init__(self, adapter: Provider) -> None:
        self.adapter = adapter
        self.name = adapter.name

    def start(self, ctx: StartContext) -> Started:
        with _starting(self.name, ctx):
            return self.adapter.start(ctx)

    def on_return(self, check: Check, query: Mapping[str, str]) -> Outcome | None:
        with _measured(self.name, "return") as call:
            return call.returned(self.adapter.on_return(check, query))

    def refresh(self, check: Check) -> Outcome | PollAgain | None:
        with _measured(self.name, "refresh") as call:
            return call.returned(self.adapter.refresh(check))


class _PushesResults(Measured):
    def on_callback(self, check: Check, request: CallbackRequest) -> Outcome | None:
        with _measured(self.name, "callback") as call:
            return call.returned(cast(PushesResults, self.adapter).on_callback(check, request))


class _TakesOperatorToken(Measured):
    def start_with_operator_token(self, ctx: StartContext) -> Started:
        with _starting(self.name, ctx):
            return cast(TakesOperatorToken, self.adapter).start_with_operator_token(ctx)


class _CoverageLookup(Measured):
    def device_network(self, ip: str) -> DeviceNetwork | None:
        with _measured(self.name, "coverage"):
            return cast(CoverageLookup, self.adapter).device_network(ip)


class _AnswersSimSwap(Measured):
    def sim_swap_range(self) -> HoursRange | None:  # the secret's word, no call to the provider
        return cast(AnswersSimSwap, self.adapter).sim_swap_range()


# Each optional capability (an isinstance test against a runtime-checkable Protocol) and its measured method.
_CAPABILITIES: tuple[tuple[type, type[Measured]], ...] = (
    (PushesResults, _PushesResults), (TakesOperatorToken, _TakesOperatorToken),
    (CoverageLookup, _CoverageLookup), (AnswersSimSwap, _AnswersSimSwap))


@cache
def _measured_type(capabilities: tuple[type[Measured], ...]) -> type[Measured]:
    return type("Measured", (*capabilities, Measured), {})


def measured(adapter: Provider) -> Measured:
    """`adapter` measured, with exactly the capabilities it has."""
    if isinstance(adapter, Measured):
        return adapter
    capabilities = tuple(kind for protocol, kind in _CAPABILITIES if isinstance(adapter, protocol))
    return _measured_type(capabilities)(adapter)
