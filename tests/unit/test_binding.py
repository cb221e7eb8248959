"""binding.py's pure rules: which check a secret names, and what a caller is shown of a check (binding.reveal)."""

from __future__ import annotations

import pytest

from silentcheck import binding
from silentcheck.checks import Binding, Check, Reason, Status

EXPIRES_AT = 1300


def _check(status: Status = Status.PENDING, reason: Reason | None = None) -> Check:
    return Check(check_id="c1", provider="truid", status=status, created_at=1000, expires_at=EXPIRES_AT,
                 poll_token_hash="h", number_key="k", reason=reason, binding=Binding.DEVICE,
                 completed_at=1100 if status.is_final else None)


def test_a_state_or_capability_names_the_check_before_its_dot():
    minted = binding.Minted.new()

    assert binding.check_id_of(minted.state) == binding.check_id_of(minted.capability) == minted.check_id


@pytest.mark.parametrize("secret", [
    "",
    ".secret",
    "x" * (binding.MAX_ID_LENGTH + 1) + ".secret",
    "c1." + "x" * (2 * binding.MAX_ID_LENGTH),
], ids=["empty", "no_id", "id_too_long", "secret_too_long"])
def test_a_secret_that_cannot_be_ours_names_no_check(secret: str):
    assert binding.check_id_of(secret) == ""


@pytest.mark.parametrize("status", [Status.VERIFIED, Status.NOT_VERIFIED, Status.FAILED])
def test_a_caller_who_may_see_the_verdict_is_shown_the_records_final_verdict(status: Status):
    check = _check(status, Reason.REDIRECT_FAILED if status is Status.FAILED else None)

    assert binding.reveal(check, EXPIRES_AT + 1) == binding.Shown(status, check.reason, final=True)


@pytest.mark.parametrize("status", [Status.PENDING, Status.VERIFIED, Status.FAILED, Status.EXPIRED])
def test_a_caller_who_may_not_see_the_verdict_is_shown_pending_then_expired_whatever_the_record(status: Status):
    check = _check(status, Reason.DEVICE_TIMEOUT if status in (Status.FAILED, Status.EXPIRED) else None)

    shown = [binding.reveal(check, now, sees_verdict=False) for now in (EXPIRES_AT - 1, EXPIRES_AT)]

    assert shown == [binding.Shown(Status.PENDING, None, final=False),
                     binding.Shown(Status.EXPIRED, Reason.DEVICE_TIMEOUT, final=False)]


def test_a_pending_check_past_expires_at_is_shown_expired_before_any_write_says_so():
    assert binding.reveal(_check(), EXPIRES_AT) == binding.Shown(Status.EXPIRED, Reason.DEVICE_TIMEOUT, final=False)
