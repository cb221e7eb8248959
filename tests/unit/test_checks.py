"""The domain model: statuses, outcomes and expiry, with no I/O."""

import pytest

from silentcheck.checks import Check, Outcome, Reason, Status


def _check(**changes: object) -> Check:
    values: dict[str, object] = {
        "check_id": "c1", "provider": "truid", "status": Status.PENDING, "created_at": 1000,
        "expires_at": 1300, "poll_token_hash": "h", "number_key": "k",
    }
    values.update(changes)
    return Check(**values)  # type: ignore[arg-type]


def test_pending_check_reads_expired_once_expires_at_has_passed():
    assert _check().status_at(1299) is Status.PENDING
    assert _check().status_at(1300) is Status.EXPIRED


def test_final_status_is_kept_after_expires_at():
    assert _check(status=Status.VERIFIED).status_at(99999) is Status.VERIFIED


def test_only_pending_unexpired_checks_can_transition():
    assert _check().can_transition_at(1299)
    assert not _check().can_transition_at(1300)
    assert not _check(status=Status.NOT_VERIFIED).can_transition_at(1100)


def test_failed_outcome_needs_a_reason():
    with pytest.raises(ValueError, match="reason"):
        Outcome(Status.FAILED)


def test_verified_outcome_carries_no_reason():
    with pytest.raises(ValueError, match="no reason"):
        Outcome(Status.VERIFIED, Reason.PROVIDER_ERROR)


def test_an_outcome_is_never_pending():
    with pytest.raises(ValueError, match="final"):
        Outcome(Status.PENDING)


@pytest.mark.parametrize(("outcome", "outage"), [
    (Outcome.failed(Reason.PROVIDER_ERROR, "503"), True),
    (Outcome.failed(Reason.PROVIDER_REJECTED, "401"), False),
    (Outcome.failed(Reason.CARRIER_UNSUPPORTED, "400"), False),
    (Outcome.failed(Reason.NOT_ON_MOBILE_DATA, "412"), False),
    (Outcome.expired("EXPIRED"), False),
    (Outcome.not_verified(), False),
    (Outcome.verified(), False),
])
def test_only_a_provider_error_is_an_outage(outcome: Outcome, outage: bool):
    assert outcome.is_outage is outage


def test_an_expiry_reads_device_timeout():
    assert (Outcome.expired().status, Outcome.expired().reason) == (Status.EXPIRED, Reason.DEVICE_TIMEOUT)
