"""The one owner of device binding: the secrets a check hands out (poll token, one-time return state,
callback capability, completion code), how each is checked, and what a caller sees of a check (`reveal`).

The rule (docs/security.md, device binding): a verdict produced at or after a device hop is shown only to a
caller holding the poll token *and* the completion code the device received at the end of the chain.
Without the code such a check reads PENDING until `expires_at`, then EXPIRED, whatever the verdict, so
starting a check and getting some phone to open its URL tells nobody whether that phone holds the number.
Pure apart from the random values it mints: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from silentcheck import tokens
from silentcheck.checks import Binding, Check, Outcome, Reason, Status
from silentcheck.errors import CheckNotFound, CompletionCodeInvalid

# Ids and secrets we mint are 43 URL-safe characters; a state or capability is "<check_id>.<secret>".
# Anything far longer is not ours and never reaches the table as a key.
MAX_ID_LENGTH = 64
_EXPIRED = Outcome.expired()


@dataclass(frozen=True)
class Minted:
    """The secrets of a new check and of the provider offer under way. Only their digests are stored; the
    values go to their one holder."""

    check_id: str
    poll_token: str  # to whoever started the check
    state: str  # inside check_url's return hop: to the device (through the provider offered)
    capability: str  # inside the provider's callback URL: to the provider offered

    @classmethod
    def new(cls) -> Minted:
        check_id = tokens.new_token()
        return cls(check_id, tokens.new_token(), f"{check_id}.{tokens.new_token()}",
                   f"{check_id}.{tokens.new_token()}")

    def for_another_offer(self) -> Minted:
        """The same check and poll token with a fresh state and capability, for the next provider a fallback
        offers the check to: a provider that refused or timed out keeps only its own, which the record no
        longer holds, so nothing it was given can act on the check."""
        return replace(self, state=f"{self.check_id}.{tokens.new_token()}",
                       capability=f"{self.check_id}.{tokens.new_token()}")

    @property
    def poll_token_hash(self) -> str:
        return tokens.digest(self.poll_token)

    @property
    def state_hash(self) -> str:
        return tokens.digest(self.state)

    @property
    def capability_hash(self) -> str:
        return tokens.digest(self.capability)


def is_check_id(value: str) -> bool:
    return 0 < len(value) <= MAX_ID_LENGTH


def check_id_of(secret: str) -> str:
    """The check a state or capability ("<check_id>.<secret>") belongs to; "" when it cannot be one of ours."""
    check_id = secret.partition(".")[0]
    return check_id if len(secret) <= 2 * MAX_ID_LENGTH and is_check_id(check_id) else ""


def state_digest(state: str) -> str:
    return tokens.digest(state)


def new_completion_code() -> tuple[str, str]:
    """A completion code for the device that finished the chain, and the digest the record keeps."""
    code = tokens.new_token()
    return code, tokens.digest(code)


def authorize_poll(check: Check | None, poll_token: str | None) -> Check:
    """The check, if `poll_token` is its own; unknown ids and wrong tokens are the same 404."""
    if check is None or not tokens.matches(poll_token, check.poll_token_hash):
        raise CheckNotFound("no check with this id for this poll token")
    return check


def capability_matches(check: Check | None, provider: str, capability: str) -> bool:
    return check is not None and check.provider == provider and tokens.matches(capability, check.capability_hash)


def has_device_hop(check: Check) -> bool:
    """Whether a provider accepted the check with a flow whose chain returns through /checks/return.
    Checks refused at start (no binding yet) and flows without a return hop have no completion code."""
    return check.binding is Binding.DEVICE


def sees_verdict(check: Check, completion_code: str | None) -> bool:
    """Whether a holder of the poll token, presenting `completion_code` (if any), may see the check as it
    stands. Flows without a device hop: always. With one: only with the code the device received. A wrong
    code is refused whatever the verdict, so the refusal says nothing about it either.

    A caller who may not see it is answered by `reveal(..., sees_verdict=False)` alone, and nothing about the
    check is looked up or asked on their behalf: the answer, and the time it takes, are the same whatever
    happened."""
    if not has_device_hop(check):
        return True
    if completion_code is None:
        return False
    if not tokens.matches(completion_code, check.completion_code_hash):
        raise CompletionCodeInvalid(
            "the completion code does not belong to this check; pass the code the device received "
            "at the end of the check URL's redirect chain"
        )
    return True


@dataclass(frozen=True)
class Shown:
    """What a caller is shown of a check: a status, its reason, and whether that is the record's own final
    verdict (only then do its completion time, binding, SIM-swap answer and attestation go with it)."""

    status: Status
    reason: Reason | None
    final: bool


def reveal(check: Check, now: int, sees_verdict: bool = True) -> Shown:
    """What a caller is shown of the check now, decided here alone (the API's view and the attestation's
    claims both read it). A caller who may see the verdict (`sees_verdict`) is shown the record's, once it
    has one. Otherwise, and while there is none: PENDING until `expires_at`, then EXPIRED, read from
    `expires_at` alone, never from the status, the verdict or when it came."""
    if sees_verdict and check.status.is_final:
        return Shown(check.status, check.reason, final=True)
    if check.is_expired_at(now):
        return Shown(_EXPIRED.status, _EXPIRED.reason, final=False)
    return Shown(Status.PENDING, None, final=False)
