"""ChecksFinished counts each check once, when the service's transition out of PENDING wins (the store does
I/O only and counts nothing). The service against in-memory fakes and a fake clock."""

from __future__ import annotations

import json
from typing import Any

import pytest

from silentcheck import service
from silentcheck.checks import Binding, Outcome, Status
from tests.fakes import World


def _finished(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The dimensions of every ChecksFinished emitted so far."""
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    return [{name: line[name] for name in ("provider", "status", "reason")}
            for line in lines if "ChecksFinished" in line]


def test_a_check_settled_by_two_identical_callbacks_counts_once(world: World, capsys):
    minted = world.started(flow=Binding.NONE)
    world.provider.callback_outcome = Outcome.verified("pushed")

    world.callback(minted)
    world.callback(minted)

    assert _finished(capsys) == [{"provider": "truid", "status": "VERIFIED", "reason": "NONE"}]


def test_a_check_settled_by_its_device_return_counts_once(world: World, capsys):
    minted = world.started(flow=Binding.DEVICE)
    world.provider.on_return_outcome = Outcome.not_verified("mismatch")

    service.device_return({"state": minted.state}, world.deps)

    assert _finished(capsys) == [{"provider": "truid", "status": "NOT_VERIFIED", "reason": "NONE"}]


def test_an_expired_check_polled_twice_counts_once(world: World, capsys):
    minted = world.started(flow=Binding.NONE, ttl=300)
    world.clock.advance(300)

    world.poll(minted)
    world.poll(minted)

    assert _finished(capsys) == [{"provider": "truid", "status": "EXPIRED", "reason": "DEVICE_TIMEOUT"}]


def test_an_expiry_that_loses_to_a_verdict_counts_only_the_verdict(world: World, capsys):
    minted = world.started(flow=Binding.NONE, ttl=300)
    world.provider.callback_outcome = Outcome.verified("pushed")
    world.clock.advance(300)

    def a_callback_a_second_earlier_finishes_it_first(_: str) -> None:  # the poll read the item PENDING
        world.clock.advance(-1)
        world.callback(minted)
        world.clock.advance(1)

    world.store.on_mark_expired = a_callback_a_second_earlier_finishes_it_first

    assert world.poll(minted) is Status.VERIFIED
    assert _finished(capsys) == [{"provider": "truid", "status": "VERIFIED", "reason": "NONE"}]
