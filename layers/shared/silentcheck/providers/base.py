"""The Protocol every provider adapter implements (`Provider`), the optional capabilities some add, the
values adapters hand back, and their one failure type with the one reading of an HTTP failure
(`ProviderRefused`, `http_failure`).

Optional capabilities are small runtime-checkable Protocols (`PushesResults`, `TakesOperatorToken`,
`CoverageLookup`) that the service and routing test with isinstance: an adapter has the capability
exactly when it has the method, so there are no flags to keep in step and no stubs to write.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, runtime_checkable

from silentcheck.checks import Binding, Check, Outcome, Reason

_CODE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_DIGIT_RUN = re.compile(r"\d{7}")  # could be (part of) a phone number


def safe_code(code: object) -> str:
    """A provider-supplied code fit for the record and the logs (Outcome.raw_code): short, no free text,
    no run of digits long enough to be a phone number; else "other". Whatever a provider or a device's
    query string sends goes through this before it becomes a raw code."""
    text = str(code)
    return text if _CODE.fullmatch(text) and not _DIGIT_RUN.search(text) else "other"


@dataclass(frozen=True)
class StartContext:
    """What an adapter may know when it starts a check. The number is here and, unless the adapter
    keeps it in `Started.confidential` (encrypted at rest, dropped when final), nowhere after."""

    check_id: str
    phone_number: str  # E.164, validated
    return_url: str  # our GET /checks/return, carrying this check's one-time state
    source_ip: str | None  # API Gateway's requestContext source IP, never a header
    state: str = ""  # the one-time state alone (OIDC `state`), also inside return_url
    redirect_uri: str = ""  # our GET /checks/return exactly, without a query (OIDC `redirect_uri`)
    operator_token: str | None = None  # a TS.43 token minted on the phone (CAMARA CIBA)
    callback_url: str | None = None  # our provider_callback URL with this check's capability, when deployed
    device_ip: str | None = None  # the phone's address as the customer's backend saw it (backend mode, validated)
    sim_swap_hours: int | None = None  # also ask whether the SIM changed within this many hours


@dataclass(frozen=True)
class Started:
    provider_ref: str | None  # the provider's id for the check, if it has one; never shown to the app
    check_url: str | None  # where the device goes next; None when the flow has no device hop
    binding: Binding  # what will tie a VERIFIED to the phone in this flow
    provider_version: str | None = None
    ttl_seconds: int | None = None  # the provider's own deadline, when it has one
    attributes: dict[str, str] = field(default_factory=dict)  # non-secret, non-personal extras
    # What the adapter needs again on return or poll but must not store in the clear (the number,
    # a CIBA auth_req_id): encrypted in the record and removed when the check is final.
    confidential: dict[str, str] = field(default_factory=dict)
    poll_interval: int | None = None  # ask the provider no more often than this when the app polls


@dataclass(frozen=True)
class DeviceNetwork:
    """A coverage lookup of a device IP: on mobile data or not, which network, and whether the provider
    that answered serves it."""

    mobile: bool
    network_id: str | None = None  # MCC+MNC
    coverage_provider_serves: bool = True


@dataclass(frozen=True)
class PollAgain:
    """Still undecided: ask the provider again no sooner than `interval` seconds from now."""

    interval: int


# Callback bodies are small flat objects (Infobip's three fields, tru.ID's check); anything past these is
# refused before it is parsed, as a body that is not JSON is.
CALLBACK_MAX_BYTES = 65536
CALLBACK_MAX_DEPTH = 8


@dataclass(frozen=True)
class CallbackRequest:
    """A request that reached provider_callback with a valid capability, exactly as received."""

    method: str
    path: str  # path and query as received, e.g. /infobip/<capability>?result=VALID&token=…
    query: Mapping[str, str]
    headers: Mapping[str, str]  # lower-case names
    body: bytes


class CallbackRejected(Exception):
    """The message is not authentic or not for this check: answered 4xx, nothing changes."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class ProviderRefused(Exception):
    """The one failure type of the adapters: a provider call got no usable answer. `outcome` says what that
    means in our vocabulary; `transient`, whether asking again later may answer otherwise (an outage, a
    rate limit); `retry_after`, the seconds the provider asked us to wait; `error`, the OAuth `error` when
    there was one. Raised by `start` it is the refusal; the adapters' other calls turn it into a verdict
    or, when transient, into PollAgain (no sooner than `retry_after`)."""

    def __init__(self, outcome: Outcome, *, transient: bool = False, retry_after: int | None = None,
                 error: str | None = None) -> None:
        super().__init__(f"{outcome.reason}: {outcome.raw_code}")
        self.outcome = outcome
        self.transient = transient
        self.retry_after = retry_after
        self.error = error


def unavailable(kind: str, prefix: str = "") -> ProviderRefused:
    """No answer at all (provider_http.ProviderUnavailable: timeout, connection, too_large): an outage."""
    return ProviderRefused(Outcome.failed(Reason.PROVIDER_ERROR, f"{prefix}{kind}"), transient=True)


def is_transient(status: int) -> bool:
    """429 and 5xx: the provider may answer otherwise later."""
    return status == 429 or status >= 500


def status_reason(status: int) -> Reason:
    """What an HTTP failure means where the provider's own code says nothing we know: an outage (429, 5xx)
    or a refusal of our request, credentials or configuration (any other status)."""
    return Reason.PROVIDER_ERROR if is_transient(status) else Reason.PROVIDER_REJECTED


def retry_after_seconds(value: str | None, now: float | None = None) -> int | None:
    """Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if at.tzinfo is None:
        return None
    return max(0, math.ceil(at.timestamp() - (time.time() if now is None else now)))


def http_failure(response: Any, raw_code: str, reason: Reason | None = None, *,
                 error: str | None = None) -> ProviderRefused:
    """An HTTP answer that is not the success asked for: `reason` when the adapter's table knows the
    provider's code, else what the status says (status_reason); transient for 429 and 5xx; the
    provider's Retry-After kept. `raw_code` is the adapter's, already made safe."""
    status = int(response.status_code)
    return ProviderRefused(Outcome.failed(reason or status_reason(status), raw_code), transient=is_transient(status),
                           retry_after=retry_after_seconds(response.headers.get("Retry-After")), error=error)


class Provider(Protocol):
    """What every adapter does: start a check, take the device's return, and answer a poll."""

    @property
    def name(self) -> str:
        """The provider's name in the registry and the routing table."""
        ...

    def start(self, ctx: StartContext) -> Started: ...

    def on_return(self, check: Check, query: Mapping[str, str]) -> Outcome | None:
        """The device came back through /checks/return (state already consumed): the verdict, or None
        when the verdict arrives by callback."""
        ...

    def refresh(self, check: Check) -> Outcome | PollAgain | None:
        """Ask the provider about a PENDING check when the app polls; None (or PollAgain) while undecided."""
        ...


@runtime_checkable
class PushesResults(Protocol):
    """A provider that posts results to provider_callback: it gets a per-check callback URL
    (StartContext.callback_url) and authenticates what arrives there."""

    def on_callback(self, check: Check, request: CallbackRequest) -> Outcome | None:
        """The provider pushed something for this check (capability already checked). The verdict, None
        when the message decides nothing; CallbackRejected when it is not authentic or not this check's."""
        ...


@runtime_checkable
class TakesOperatorToken(Protocol):
    """A provider that verifies with a TS.43 operator token minted on the phone (no device hop)."""

    def start_with_operator_token(self, ctx: StartContext) -> Started:
        """Start the check with `ctx.operator_token`."""
        ...


@runtime_checkable
class CoverageLookup(Protocol):
    """A provider that says which network a device IP is on (tru.ID's Coverage API)."""

    def device_network(self, ip: str) -> DeviceNetwork | None:
        """Coverage of a device IP; None when the lookup could not say."""
        ...
