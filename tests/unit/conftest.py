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


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The environment of a deployment: the template never sets SANDBOX_LOOPBACK_PROVIDERS, so what a
    provider URL must be is the settings' word."""
    for name, value in {"TABLE_NAME": "checks", "CALLBACK_SECRET_ID": "callback-secret"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SANDBOX_LOOPBACK_PROVIDERS", raising=False)
    config.reset()
    yield
    config.reset()
