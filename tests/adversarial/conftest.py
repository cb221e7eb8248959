"""The threat model, as tests. Each module attacks the running sandbox (or the layer, where only the layer
decides) the way a fraudster attacks a fintech's sign-up: an ordinary app user with their own phone, the public
API, the public callback URL, and a victim who can be made to load one link. Each test is named after its attack
and fails if the attack succeeds. The sandbox's stack and the integration tests' `App` are shared from
tests/integration/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from sandbox import stack as stacks
from tests.integration.conftest import (  # noqa: F401 - fixtures, registered by importing them here
    App,
    _fresh_providers,
    _within_function_timeouts,
    advance,
    app,
)


@pytest.fixture(autouse=True)
def _fresh_infobip(stack: stacks.Stack) -> Iterator[None]:
    """The integration tests' refresh leaves Infobip alone; attacks start from its default client too."""
    stack.configure_infobip()
    requests.delete(f"{stack.infobip.base_url}/_sandbox/delivery", timeout=5)  # normal delivery, nothing held
    yield
    stack.infobip_simulator.courier.wait_idle(10)
