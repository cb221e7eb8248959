"""Who may see which verdict, and the attestation: the service against in-memory fakes and a fake clock."""

from __future__ import annotations

import json
from typing import Any

import pytest

from silentcheck import binding, service
from silentcheck.checks import Binding, Check, Outcome, Reason, Status
from silentcheck.errors import CheckNotFound, CompletionCodeInvalid, InvalidReturn
from silentcheck.providers.base import CallbackRequest
from tests.fakes import World

ISSUER = "https://api.example.com/v1"
NUMBER = "+447400900002"


def _started(world: World, flow: Binding | None = Binding.DEVICE) -> binding.Minted:
    """A check a provider accepted with the given flow (None: refused before any device hop)."""
    minted = binding.Minted.new()
    now = world.clock.now()
    world.store.create(Check(
        check_id=minted.check_id, provider=world.provider.name, status=Status.PENDING, created_at=now,
        expires_at=now + 300, poll_token_hash=minted.poll_token_hash, number_key="k", binding=flow,
        state_hash=minted.state_hash, capability_hash=minted.capability_hash, subject=NUMBER,
    ))
    return minted


def _return(world: World, minted: binding.Minted, outcome: Outcome | None) -> str:
    world.provider.on_return_outcome = outcome
    return service.device_return({"state": minted.state}, world.deps).completion_code


def _poll(world: World, minted: binding.Minted, code: str | None = None) -> dict[str, Any]:
    view: dict[str, Any] = service.poll(minted.check_id, minted.poll_token, code, ISSUER, world.deps).model_dump(
        mode="json")
    return view


def _claims(attestation: str) -> dict[str, Any]:
    claims: dict[str, Any] = json.loads(attestation.split(".", 1)[1].rsplit(".", 1)[0])
    return claims


def _callback(world: World, minted: binding.Minted, outcome: Outcome) -> None:
    world.provider.callback_outcome = outcome
    service.provider_callback(world.provider.name, minted.capability,
                              CallbackRequest("POST", "/truid/x", {}, {}, b"{}"), world.deps)


VERDICTS = [Outcome.verified(), Outcome.not_verified(), Outcome.failed(Reason.REDIRECT_FAILED, "e")]


@pytest.mark.parametrize("outcome", VERDICTS, ids=lambda o: o.status)
def test_a_verdict_reached_at_the_return_reads_pending_without_the_completion_code(world: World, outcome: Outcome):
    minted = _started(world)
    _return(world, minted, outcome)

    view = _poll(world, minted)

    assert view["status"] == "PENDING"
    assert "attestation" not in view and "reason" not in view and "binding" not in view


@pytest.mark.parametrize("outcome", VERDICTS, ids=lambda o: o.status)
def test_a_verdict_reads_expired_without_the_code_once_expires_at_passes(world: World, outcome: Outcome):
    minted = _started(world)
    _return(world, minted, outcome)
    world.clock.advance(300)

    view = _poll(world, minted)

    assert (view["status"], view["reason"]) == ("EXPIRED", "DEVICE_TIMEOUT")
    assert "attestation" not in view


def test_what_a_caller_without_the_code_sees_does_not_depend_on_the_verdict(world: World):
    seen = []
    for outcome in VERDICTS:
        minted = _started(world)
        _return(world, minted, outcome)
        seen.append({k: v for k, v in _poll(world, minted).items() if k != "check_id"})

    assert seen[0] == seen[1] == seen[2]


@pytest.mark.parametrize("outcome", VERDICTS, ids=lambda o: o.status)
def test_the_completion_code_reveals_the_verdict_with_its_attestation(world: World, outcome: Outcome):
    minted = _started(world)
    code = _return(world, minted, outcome)

    view = _poll(world, minted, code)

    assert view["status"] == outcome.status.value
    claims = _claims(view["attestation"])
    assert (claims["status"], claims["phone_number"], claims["sub"], claims["jti"]) == (
        outcome.status.value, NUMBER, NUMBER, minted.check_id)


def test_the_code_still_reveals_the_verdict_after_expires_at(world: World):
    minted = _started(world)
    code = _return(world, minted, Outcome.not_verified())
    world.clock.advance(3600)

    assert _poll(world, minted, code)["status"] == "NOT_VERIFIED"


def test_a_callback_verdict_is_hidden_until_the_device_returns_with_its_code(world: World):
    minted = _started(world)
    _callback(world, minted, Outcome.not_verified())

    assert _poll(world, minted)["status"] == "PENDING"
    code = _return(world, minted, None)  # the device comes back after the callback settled the check
    assert _poll(world, minted)["status"] == "PENDING"
    assert _poll(world, minted, code)["status"] == "NOT_VERIFIED"


def test_a_callback_verdict_whose_device_never_returns_reads_expired(world: World):
    minted = _started(world)
    _callback(world, minted, Outcome.verified())
    world.clock.advance(300)

    assert _poll(world, minted)["status"] == "EXPIRED"


@pytest.mark.parametrize("outcome", [None, *VERDICTS], ids=lambda o: o.status if o else "pending")
def test_a_wrong_code_is_refused_whatever_the_verdict(world: World, outcome: Outcome | None):
    minted = _started(world)
    _return(world, minted, outcome)

    with pytest.raises(CompletionCodeInvalid):
        _poll(world, minted, "not-the-code")


def test_a_refusal_before_any_device_hop_is_visible_with_the_poll_token_alone(world: World):
    minted = _started(world, flow=None)
    world.store.finish(minted.check_id, Outcome.failed(Reason.CARRIER_UNSUPPORTED, "x"), world.clock.now())

    view = _poll(world, minted)

    assert (view["status"], view["reason"]) == ("FAILED", "CARRIER_UNSUPPORTED")
    assert _claims(view["attestation"])["reason"] == "CARRIER_UNSUPPORTED"


@pytest.mark.parametrize("flow", [Binding.NONE, Binding.OPERATOR_TOKEN])
def test_flows_without_a_return_hop_show_their_verdict_with_the_poll_token(world: World, flow: Binding):
    minted = _started(world, flow=flow)
    world.store.finish(minted.check_id, Outcome.verified(), world.clock.now())

    view = _poll(world, minted)

    assert (view["status"], view["binding"]) == ("VERIFIED", flow.value)
    assert _claims(view["attestation"])["binding"] == flow.value


def test_the_attestation_says_who_issued_it_for_whom_and_until_when(world: World):
    minted = _started(world)
    code = _return(world, minted, Outcome.verified())

    claims = _claims(_poll(world, minted, code)["attestation"])

    assert (claims["iss"], claims["aud"], claims["provider"], claims["binding"]) == (
        ISSUER, "silentcheck", "truid", "device")
    assert claims["iat"] == world.clock.now()
    assert claims["exp"] - claims["iat"] == 300


def test_the_attestation_is_signed_once_and_served_as_stored(world: World):
    minted = _started(world)
    code = _return(world, minted, Outcome.verified())

    first = _poll(world, minted, code)["attestation"]
    world.clock.advance(60)
    second = _poll(world, minted, code)["attestation"]

    assert first == second
    assert len(world.signer.signed) == 1


def test_the_number_is_forgotten_once_the_attestation_is_signed(world: World):
    minted = _started(world)
    code = _return(world, minted, Outcome.verified())

    _poll(world, minted, code)

    stored = world.store.get(minted.check_id)
    assert stored is not None and stored.subject is None and stored.attestation


def test_a_signing_failure_keeps_the_result_and_the_next_read_signs(world: World):
    minted = _started(world)
    code = _return(world, minted, Outcome.verified())
    world.signer.failures = 1

    failed = _poll(world, minted, code)
    retried = _poll(world, minted, code)

    assert failed["status"] == "VERIFIED" and "attestation" not in failed
    assert retried["status"] == "VERIFIED" and retried["attestation"]


def test_a_read_whose_signature_loses_to_one_stored_meanwhile_is_served_the_stored_one(world: World):
    minted = _started(world)
    code = _return(world, minted, Outcome.verified())
    world.store.on_save_attestation = lambda check_id: world.store.save_attestation(check_id, "theirs")

    view = _poll(world, minted, code)

    assert view["attestation"] == "theirs"
    assert world.store.get(minted.check_id).attestation == "theirs"  # type: ignore[union-attr]


def test_reads_that_each_signed_at_once_are_all_served_the_one_stored_attestation(world: World):
    minted = _started(world)
    code = _return(world, minted, Outcome.verified())
    rival: list[dict[str, object]] = []
    # A rival read saw the same final check and signed it, and stores its signature just before ours.
    world.store.on_save_attestation = lambda _: rival.append(_poll(world, minted, code))

    ours = _poll(world, minted, code)
    later = _poll(world, minted, code)

    assert len(world.signer.signed) == 2  # both read before either stored: each signed
    assert ours["attestation"] == rival[0]["attestation"] == later["attestation"]


def test_a_pending_check_has_no_attestation(world: World):
    minted = _started(world)

    view = _poll(world, minted)

    assert view["status"] == "PENDING" and "attestation" not in view
    assert world.signer.signed == []


def test_after_expires_at_a_hidden_verdict_reads_exactly_like_a_real_expiry(world: World):
    never_opened = _started(world)
    never_settled = _started(world)
    _return(world, never_settled, None)
    settled = []
    for outcome in VERDICTS:
        settled.append(_started(world))
        _return(world, settled[-1], outcome)
    world.clock.advance(300)

    views = [{k: v for k, v in _poll(world, minted).items() if k != "check_id"}
             for minted in (never_opened, never_settled, *settled)]

    assert world.store.checks[never_opened.check_id].status is Status.EXPIRED  # recorded by its poll
    assert views[1:] == [views[0]] * 4
    assert "completed_at" not in views[0]


def test_a_check_really_expired_by_an_earlier_poll_still_shows_no_completed_at_without_the_code(world: World):
    minted = _started(world)
    world.clock.advance(300)
    _poll(world, minted)  # records the expiry
    world.clock.advance(60)

    view = _poll(world, minted)

    assert world.store.checks[minted.check_id].status is Status.EXPIRED
    assert set(view) == {"check_id", "status", "reason", "provider"}


def test_a_poll_without_the_code_does_not_ask_the_provider_about_a_device_bound_check(world: World):
    minted = _started(world)
    world.provider.refresh_result = Outcome.failed(Reason.NOT_ON_MOBILE_DATA, "not_mobile_ip")

    for _ in range(3):
        _poll(world, minted)

    assert world.provider.refreshed == []
    assert world.store.checks[minted.check_id].status is Status.PENDING


@pytest.mark.parametrize("settle", ["callback", "poll_without_code"])
def test_a_check_settled_before_the_phone_returns_still_gives_the_phone_its_code_and_the_app_its_reason(
        world: World, settle: str):
    minted = _started(world)
    failure = Outcome.failed(Reason.NOT_ON_MOBILE_DATA, "not_mobile_ip")  # tru.ID v0.2 ERROR, before the return
    world.provider.refresh_result = failure
    if settle == "callback":
        _callback(world, minted, failure)
    else:
        _poll(world, minted)

    code = _return(world, minted, None)
    view = _poll(world, minted, code)

    assert (view["status"], view["reason"]) == ("FAILED", "NOT_ON_MOBILE_DATA")
    assert _claims(view["attestation"])["reason"] == "NOT_ON_MOBILE_DATA"


def test_a_return_state_too_long_to_be_ours_is_refused_and_changes_nothing(world: World):
    minted = _started(world)
    before = world.store.checks[minted.check_id]

    with pytest.raises(InvalidReturn):
        service.device_return({"state": minted.state + "x" * 2 * binding.MAX_ID_LENGTH}, world.deps)
    assert world.store.checks[minted.check_id] == before


def test_a_callback_capability_too_long_to_be_ours_is_an_unknown_callback(world: World):
    minted = _started(world)
    world.provider.callback_outcome = Outcome.verified()

    with pytest.raises(CheckNotFound, match="unknown callback"):
        service.provider_callback(world.provider.name, minted.capability + "x" * 2 * binding.MAX_ID_LENGTH,
                                  CallbackRequest("POST", "/truid/x", {}, {}, b"{}"), world.deps)
    assert world.store.checks[minted.check_id].status is Status.PENDING
