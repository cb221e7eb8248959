"""Two requests about one check at the same moment: only one of them changes it. The rival runs inside
the first request (a fake's hook) at the worst moment, and the in-memory store applies the same
conditional rules as the DynamoDB one."""

from __future__ import annotations

from silentcheck.checks import Binding, Outcome, Reason, Status
from tests.fakes import World


def test_of_two_polls_due_at_once_only_the_one_that_claims_the_slot_asks_the_provider(world: World):
    minted = world.started(poll_interval=5)
    world.clock.advance(6)
    world.store.on_claim_poll = lambda _: world.poll(minted)  # the rival read the same due slot

    world.poll(minted)

    assert world.provider.refreshed == [minted.check_id]


def test_the_poll_that_loses_the_slot_answers_with_the_check_as_it_stands(world: World):
    minted = world.started(poll_interval=5)
    world.provider.refresh_result = Outcome.verified()
    world.clock.advance(6)
    world.store.on_claim_poll = lambda _: world.poll(minted)

    assert world.poll(minted) is Status.VERIFIED


def test_of_two_callbacks_only_the_first_to_finish_settles_the_check(world: World):
    minted = world.started(flow=Binding.NONE)
    world.provider.callback_outcome = Outcome.verified("first")

    def rival() -> None:
        world.provider.during_callback = None
        world.callback(minted)  # settles VERIFIED first
        world.provider.callback_outcome = Outcome.failed(Reason.PROVIDER_ERROR, "second")

    world.provider.during_callback = rival
    world.callback(minted)

    check = world.store.checks[minted.check_id]
    assert (check.status, check.raw_code) == (Status.VERIFIED, "first")


def test_a_callback_that_loses_to_a_poll_leaves_the_polled_verdict(world: World):
    minted = world.started(flow=Binding.NONE)
    world.provider.refresh_result = Outcome.not_verified("polled")
    world.provider.callback_outcome = Outcome.verified("pushed")
    world.provider.during_callback = lambda: world.poll(minted)

    world.callback(minted)

    check = world.store.checks[minted.check_id]
    assert (check.status, check.raw_code) == (Status.NOT_VERIFIED, "polled")


def test_a_poll_verdict_that_loses_to_a_callback_leaves_the_pushed_verdict(world: World):
    minted = world.started(flow=Binding.NONE)
    world.provider.refresh_result = Outcome.not_verified("polled")
    world.provider.callback_outcome = Outcome.verified("pushed")
    world.provider.during_refresh = lambda: world.callback(minted)

    status = world.poll(minted)

    assert world.store.checks[minted.check_id].raw_code == "pushed"
    assert status is Status.VERIFIED


def test_a_return_that_finishes_at_the_expiry_second_is_what_both_the_view_and_the_attestation_say(world: World):
    import json

    from silentcheck import service

    minted = world.started(flow=Binding.DEVICE, ttl=300)
    code = service.device_return({"state": minted.state}, world.deps).completion_code  # verdict still to come
    world.clock.advance(300)
    # The poll read the item PENDING at expires_at; a return that began a second earlier finishes it first.
    world.store.on_mark_expired = lambda check_id: world.store.finish(check_id, Outcome.verified(),
                                                                      world.clock.now() - 1)

    view = service.poll(minted.check_id, minted.poll_token, code, "https://api.example.com/v1", world.deps)

    assert view.status is Status.VERIFIED
    assert view.attestation is not None
    assert json.loads(view.attestation.split(".", 1)[1].rsplit(".", 1)[0])["status"] == "VERIFIED"
