"""Headless Chromium (Debian's, through Playwright) with each browser context a phone on the simulated network,
and the demo page driven as a user drives it. `python -m tests.browser.demo [PATH]` starts the sandbox, runs a
VERIFIED check on the page and saves a screenshot (default docs/img/demo.png)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

from sandbox.web.phone import PhoneProxy, start_phone_proxy

CHROMIUM = "/usr/bin/chromium"
# Nothing but the page's own requests: no QUIC, no background, component or sync traffic.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 900}
RESULT_TIMEOUT_MS = 30_000
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "demo.png"


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's chromium, headless; never a browser Playwright downloads."""
    if not Path(CHROMIUM).is_file() and shutil.which("chromium") is None:
        raise RuntimeError(f"no {CHROMIUM}: `make system-deps` installs Debian's chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PhoneBrowser:
    """A browser context whose every request leaves from one phone (its proxy), and its one tab."""

    page: Page
    proxy: PhoneProxy


@contextmanager
def phone_browser(browser: Browser, network_url: str) -> Iterator[PhoneBrowser]:
    proxy = start_phone_proxy(network_url)
    context = browser.new_context(proxy={"server": proxy.url}, viewport=VIEWPORT)  # type: ignore[arg-type]
    try:
        yield PhoneBrowser(context.new_page(), proxy)
    finally:
        context.close()
        proxy.stop()


@dataclass(frozen=True)
class Outcome:
    """What the page showed at the end of a run."""

    status: str
    reason: str
    hops: list[tuple[str, str]]  # (service, HTTP status) of each request in the phone's redirect chain
    steps: list[tuple[str, str]]  # (title, "done" | "failed") of each step of the timeline
    sim_swap: str = ""  # "true", "false", "unknown" (no answer) or "" (not shown)


def run_demo(page: Page, demo_url: str, number: str, *, sim: str = "", provider: str = "",
             bearer: str = "cellular", sim_swap_hours: str = "", sim_changed_hours_ago: str = "") -> Outcome:
    """Open the demo page, fill it in as a user would, press Verify and wait for the result."""
    page.goto(demo_url)
    page.wait_for_selector("body[data-ready=true]")
    page.fill("#number", number)
    page.fill("#sim", sim)
    page.click(f"input[name=provider][value='{provider}'] + span")
    page.click(f"input[name=bearer][value='{bearer}'] + span")
    page.fill("#sim-swap-hours", sim_swap_hours)
    page.fill("#sim-changed-hours-ago", sim_changed_hours_ago)
    page.click("#verify")
    result = page.wait_for_selector("#result:not([hidden])", timeout=RESULT_TIMEOUT_MS)
    assert result is not None
    page.wait_for_selector("#verify:not([disabled])")
    hops = [(str(hop.get_attribute("data-service")), str(hop.get_attribute("data-status")))
            for hop in page.query_selector_all(".hop")]
    steps = [(step.query_selector(".step-title > span").inner_text(),  # type: ignore[union-attr]
              "failed" if "failed" in str(step.get_attribute("class")) else "done")
             for step in page.query_selector_all(".step")]
    sim_swap = page.query_selector("#sim-swap:not([hidden])")
    return Outcome(str(result.get_attribute("data-status")), str(result.get_attribute("data-reason")), hops, steps,
                   str(sim_swap.get_attribute("data-swapped")) if sim_swap else "")


def main(argv: list[str]) -> int:
    from sandbox import stack as stacks

    target = Path(argv[0]) if argv else SCREENSHOT
    with stacks.running_stack(log_level="WARNING") as stack, chromium() as browser, \
            phone_browser(browser, stack.network.base_url) as phone:
        outcome = run_demo(phone.page, stack.demo_url, "+447400900002")
        if outcome.status != "VERIFIED":
            print(f"the demo did not verify: {outcome}", file=sys.stderr)
            return 1
        target.parent.mkdir(parents=True, exist_ok=True)
        phone.page.screenshot(path=str(target), full_page=True)
    print(f"saved {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
