"""Fixtures the sandbox's own tests share: a simulated mobile network served for the module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.simulators.network import MobileNetwork, make_app
from tests.servers import SwappableServer


@pytest.fixture(scope="module")
def network_server() -> Iterator[SwappableServer]:
    server = SwappableServer()
    yield server
    server.stop()


@pytest.fixture
def network_url(network_server: SwappableServer) -> str:
    """A fresh simulated network for this test, on the module's server."""
    return network_server.serve(make_app(MobileNetwork()))
