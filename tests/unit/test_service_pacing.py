"""Polls of a PENDING check: when the service asks the provider, and how a paced flow (CIBA's interval
and slow_down) spaces its questions. The service against in-memory fakes and a fake clock."""

from __future__ import annotations

from silentcheck.checks import Binding, Outcome, Status
from silentcheck.providers.base import PollAgain
from tests.fakes import World


def test_a_paced_check_does_not_ask_its_provider_before_the_interval_has_passed(world: World):
    minted = world.started(poll_interval=5)

    for _ in range(5):
        world.clock.advance(1)
        world.poll(minted)

    assert world.provider.refreshed == []


def test_a_paced_check_asks_its_provider_once_the_interval_and_a_second_have_passed(world: World):
    minted = world.started(poll_interval=5)
    world.clock.advance(6)

    world.poll(minted)

    assert world.provider.refreshed == [minted.check_id]


def test_a_poll_that_asks_moves_the_next_question_one_interval_and_a_second_later(world: World):
    minted = world.started(poll_interval=5)
    world.clock.advance(6)
    world.poll(minted)
    asked_at = world.clock.now()

    world.clock.advance(5)
    world.poll(minted)
    world.clock.advance(1)
    world.poll(minted)

    assert world.provider.refreshed == [minted.check_id] * 2
    assert world.store.checks[minted.check_id].next_poll_at == asked_at + 5 + 1 + 5 + 1


def test_slow_down_spaces_the_following_questions_by_the_longer_interval(world: World):
    minted = world.started(poll_interval=5)
    world.provider.refresh_result = PollAgain(10)
    world.clock.advance(6)
    world.poll(minted)

    world.clock.advance(10)
    world.poll(minted)
    world.clock.advance(1)
    world.poll(minted)

    assert world.store.checks[minted.check_id].poll_interval == 10
    assert len(world.provider.refreshed) == 2


def test_poll_again_with_the_same_interval_keeps_the_pace(world: World):
    minted = world.started(poll_interval=5)
    world.provider.refresh_result = PollAgain(5)
    world.clock.advance(6)

    world.poll(minted)

    check = world.store.checks[minted.check_id]
    assert (check.poll_interval, check.next_poll_at) == (5, world.clock.now() + 6)


def test_a_verdict_from_a_paced_poll_settles_the_check(world: World):
    minted = world.started(poll_interval=5)
    world.provider.refresh_result = Outcome.verified()
    world.clock.advance(6)

    assert world.poll(minted) is Status.VERIFIED
    assert world.store.checks[minted.check_id].status is Status.VERIFIED


def test_an_undecided_paced_poll_reads_pending(world: World):
    minted = world.started(poll_interval=5)
    world.provider.refresh_result = PollAgain(5)
    world.clock.advance(6)

    assert world.poll(minted) is Status.PENDING


def test_a_check_that_is_not_paced_asks_its_provider_on_every_poll(world: World):
    minted = world.started(poll_interval=None, flow=Binding.NONE)

    world.poll(minted)
    world.poll(minted)

    assert world.provider.refreshed == [minted.check_id] * 2


def test_a_settled_check_does_not_ask_its_provider_again(world: World):
    minted = world.started(poll_interval=None, flow=Binding.NONE)
    world.provider.refresh_result = Outcome.not_verified()
    world.poll(minted)

    world.poll(minted)

    assert world.provider.refreshed == [minted.check_id]
