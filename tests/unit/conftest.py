"""Fixtures of the service's unit tests: its collaborators in memory (tests/fakes.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from silentcheck import config
from tests.fakes import World, configure_for_fakes


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """An in-memory store, scripted providers, a fake clock and signer, and the environment they need; a
    module that wants other providers or settings defines its own `world`."""
    configure_for_fakes(monkeypatch)
    yield World()
    config.reset()
