"""What a check is and which transitions are legal. Pure: no I/O, no clock, no randomness."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from silentcheck.sim_swap import SimSwapAnswer, answer_of


class Status(StrEnum):
    PENDING = "PENDING"
    VERIFIED = "VERIFIED"
    NOT_VERIFIED = "NOT_VERIFIED"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"

    @property
    def is_final(self) -> bool:
        return self is not Status.PENDING


class Reason(StrEnum):
    """One vocabulary across providers; each adapter maps its own codes onto it."""

    NOT_ON_MOBILE_DATA = "NOT_ON_MOBILE_DATA"
    CARRIER_UNSUPPORTED = "CARRIER_UNSUPPORTED"
    NUMBER_UNSUPPORTED = "NUMBER_UNSUPPORTED"
    DEVICE_TIMEOUT = "DEVICE_TIMEOUT"
    USER_NOT_AUTHENTICATED = "USER_NOT_AUTHENTICATED"
    PROVIDER_ERROR = "PROVIDER_ERROR"
    PROVIDER_REJECTED = "PROVIDER_REJECTED"
    REDIRECT_FAILED = "REDIRECT_FAILED"


class Binding(StrEnum):
    """What ties a VERIFIED result to the phone that asked for it (docs/security.md, device binding)."""

    DEVICE = "device"  # the device returned through /checks/return and holds the completion code
    OPERATOR_TOKEN = "operator_token"
    NONE = "none"  # no return hop (tru.ID v0.1): documented as weaker


def next_poll_at(now: int, interval: int) -> int:
    """When a paced flow may ask its provider again. The clock counts whole seconds, so one more second
    than asked guarantees the provider sees at least `interval` between two requests (else: slow_down)."""
    return now + interval + 1


@dataclass(frozen=True)
class Outcome:
    """A provider's verdict in our vocabulary, with the provider's own code kept for the record."""

    status: Status
    reason: Reason | None = None
    raw_code: str | None = None
    sim_swap: SimSwapAnswer | None = None  # asked for and verified: what the provider said of the SIM

    def __post_init__(self) -> None:
        if self.status is Status.PENDING:
            raise ValueError("an outcome is a final status")
        if self.status is Status.FAILED and self.reason is None:
            raise ValueError("a FAILED outcome carries a reason")
        if self.status in (Status.VERIFIED, Status.NOT_VERIFIED) and self.reason is not None:
            raise ValueError(f"a {self.status} outcome carries no reason")
        if self.sim_swap is not None and self.status is not Status.VERIFIED:
            raise ValueError("only a VERIFIED outcome carries a SIM-swap answer")

    @classmethod
    def verified(cls, raw_code: str | None = None) -> Outcome:
        return cls(Status.VERIFIED, None, raw_code)

    @classmethod
    def not_verified(cls, raw_code: str | None = None) -> Outcome:
        return cls(Status.NOT_VERIFIED, None, raw_code)

    @classmethod
    def failed(cls, reason: Reason, raw_code: str | None = None) -> Outcome:
        return cls(Status.FAILED, reason, raw_code)

    @classmethod
    def expired(cls, raw_code: str | None = None) -> Outcome:
        """Nobody finished the check in time. The one place that says an expiry reads DEVICE_TIMEOUT: a
        provider's expiry, ours (store.mark_expired), and what a poll shows past `expires_at` (binding.reveal)."""
        return cls(Status.EXPIRED, Reason.DEVICE_TIMEOUT, raw_code)

    @property
    def is_outage(self) -> bool:
        """Whether the provider failed as an outage (5xx, 429, a timeout, an answer we could not read), which
        counts against its circuit breaker; a refusal of the number, the device or our request does not."""
        return self.reason is Reason.PROVIDER_ERROR


@dataclass(frozen=True)
class Check:
    """A check record as the service sees it. Secrets appear only as hashes."""

    check_id: str
    provider: str
    status: Status
    created_at: int
    expires_at: int
    poll_token_hash: str
    number_key: str
    reason: Reason | None = None
    raw_code: str | None = None
    binding: Binding | None = None  # promised by the flow at start; reported once VERIFIED
    completed_at: int | None = None
    provider_ref: str | None = None
    provider_version: str | None = None
    state_hash: str | None = None
    completion_code_hash: str | None = None
    capability_hash: str | None = None  # the provider callback URL's per-check secret, hashed
    attributes: dict[str, str] = field(default_factory=dict)
    confidential: dict[str, str] = field(default_factory=dict)  # encrypted at rest; gone once final
    next_poll_at: int | None = None  # paced flows (CIBA): the provider is asked no sooner than this
    poll_interval: int | None = None
    attempts: tuple[str, ...] = ()  # providers that refused before this one, and why ("infobip:PROVIDER_ERROR:…")
    # The E.164 number, kept (sealed at rest) only until the result's attestation is signed.
    subject: str | None = field(default=None, repr=False)
    attestation: str | None = None  # the signed result (compact JWS), sealed at rest; signed once per check
    sim_swap_hours: int | None = None  # the app asked whether the SIM changed within this many hours
    sim_swap: SimSwapAnswer | None = None  # the provider's answer, recorded with the verdict

    def is_expired_at(self, now: int) -> bool:
        return now >= self.expires_at

    def status_at(self, now: int) -> Status:
        """Expiry is decided here, from expires_at: the table's TTL deletes items much later."""
        if self.status is Status.PENDING and self.is_expired_at(now):
            return Status.EXPIRED
        return self.status

    def can_transition_at(self, now: int) -> bool:
        return self.status is Status.PENDING and not self.is_expired_at(now)

    def sim_swap_shown(self, status: Status) -> SimSwapAnswer | None:
        """The SIM-swap answer a result in `status` shows (sim_swap.answer_of)."""
        return answer_of(self.sim_swap_hours, status is Status.VERIFIED, self.sim_swap)

    def poll_due_at(self, now: int) -> bool:
        """Whether a poll may ask the provider now (always, unless the flow paces its polls)."""
        return self.next_poll_at is None or now >= self.next_poll_at
