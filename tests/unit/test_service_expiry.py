"""A check nobody settled before its expires_at: polls read EXPIRED (DEVICE_TIMEOUT) and late answers
change nothing. The service against in-memory fakes and a fake clock."""

from __future__ import annotations

import pytest

from silentcheck import service
from silentcheck.checks import Binding, Outcome, Reason, Status
from silentcheck.errors import InvalidReturn
from tests.fakes import World


def test_a_pending_check_polled_at_its_expires_at_is_recorded_expired_device_timeout(world: World):
    minted = world.started(flow=Binding.NONE, ttl=300)
    world.clock.advance(300)

    assert world.poll(minted) is Status.EXPIRED
    check = world.store.checks[minted.check_id]
    assert (check.status, check.reason, check.completed_at) == (Status.EXPIRED, Reason.DEVICE_TIMEOUT,
                                                                 world.clock.now())


def test_an_expired_check_is_not_asked_about(world: World):
    minted = world.started(flow=Binding.NONE, ttl=300)
    world.provider.refresh_result = Outcome.verified()
    world.clock.advance(300)

    world.poll(minted)

    assert world.provider.refreshed == []


def test_a_check_polled_a_second_before_it_expires_is_still_asked_about(world: World):
    minted = world.started(flow=Binding.NONE, ttl=300)
    world.provider.refresh_result = Outcome.verified()
    world.clock.advance(299)

    assert world.poll(minted) is Status.VERIFIED


def test_a_callback_after_expires_at_changes_nothing(world: World):
    minted = world.started(flow=Binding.NONE, ttl=300)
    world.provider.callback_outcome = Outcome.verified()
    world.clock.advance(300)

    world.callback(minted)

    assert world.store.checks[minted.check_id].status is Status.PENDING  # expiry is read from expires_at


def test_a_device_return_after_expires_at_is_refused(world: World):
    minted = world.started(flow=Binding.DEVICE, ttl=300)
    world.clock.advance(300)

    with pytest.raises(InvalidReturn, match="already used or has expired"):
        service.device_return({"state": minted.state}, world.deps)


def test_the_expiry_is_recorded_once_whoever_polls_later(world: World):
    minted = world.started(flow=Binding.NONE, ttl=300)
    world.clock.advance(300)
    world.poll(minted)
    expired_at = world.clock.now()

    world.clock.advance(60)
    world.poll(minted)

    assert world.store.checks[minted.check_id].completed_at == expired_at
