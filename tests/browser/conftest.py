"""Browser tests: the sandbox's pages in headless Chromium, against the same stack as the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from sandbox import stack as stacks
from tests.browser.demo import PhoneBrowser, chromium, phone_browser
from tests.conftest import refresh


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_stack(stack: stacks.Stack) -> None:
    refresh(stack)


@pytest.fixture
def phone(browser: Browser, stack: stacks.Stack) -> Iterator[PhoneBrowser]:
    """A browser tab that is a phone with no SIM yet: the page puts one in."""
    with phone_browser(browser, stack.network.base_url) as running:
        yield running
