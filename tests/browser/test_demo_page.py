"""The demo page (sandbox/web/demo) in headless Chromium: the browser is the phone, follows the redirect chain
itself, and the page calls the real API as a web app does."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from playwright.sync_api import Browser, Response

from sandbox import stack as stacks
from tests.browser.demo import PhoneBrowser, run_demo

pytestmark = pytest.mark.browser

TRUID_CHAIN = ["tru.ID", "mobile network", "tru.ID", "silentcheck API"]


def _decoded(segment: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return decoded


def test_a_phone_holding_the_numbers_sim_verifies(phone: PhoneBrowser, stack: stacks.Stack):
    outcome = run_demo(phone.page, stack.demo_url, "+447400900002")

    assert outcome.status == "VERIFIED"
    assert outcome.hops == list(zip(TRUID_CHAIN, ["302", "302", "302", "200"], strict=True))
    assert all(state == "done" for _, state in outcome.steps)


def test_the_browser_itself_sends_each_hop_of_the_chain(phone: PhoneBrowser, stack: stacks.Stack):
    run_demo(phone.page, stack.demo_url, "+447400900002")

    framed = [hop for hop in phone.proxy.state.log() if hop.dest == "iframe"]
    # The proxy forwards one request at a time and follows nothing: every hop is the browser's own request.
    assert [hop.url.split("?")[0] for hop in framed[1:]] == [
        hop.location.split("?")[0] for hop in framed[:-1] if hop.location]
    assert framed[-1].url.startswith(f"{stack.api_url}/checks/return?")


@pytest.mark.parametrize(("max_age_hours", "swapped"), [("24", "true"), ("6", "false")])
def test_the_page_shows_whether_the_sim_changed_within_the_hours_asked(phone: PhoneBrowser, stack: stacks.Stack,
                                                                       max_age_hours: str, swapped: str):
    outcome = run_demo(phone.page, stack.demo_url, "+447400900002", sim_swap_hours=max_age_hours,
                       sim_changed_hours_ago="12")

    assert (outcome.status, outcome.sim_swap) == ("VERIFIED", swapped)
    assert f"within {max_age_hours} h" in phone.page.inner_text("#sim-swap")
    assert json.loads(phone.page.inner_text("#jws-payload"))["sim_swap"]["swapped"] is (swapped == "true")


def test_the_page_asks_nothing_of_the_sim_unless_told_to(phone: PhoneBrowser, stack: stacks.Stack):
    outcome = run_demo(phone.page, stack.demo_url, "+447400900002", sim_changed_hours_ago="12")

    assert (outcome.status, outcome.sim_swap) == ("VERIFIED", "")
    assert "sim_swap" not in json.loads(phone.page.inner_text("#jws-payload"))


def test_a_phone_holding_another_sim_does_not_verify(phone: PhoneBrowser, stack: stacks.Stack):
    outcome = run_demo(phone.page, stack.demo_url, "+447400900002", sim="+447400900004")

    assert outcome.status == "NOT_VERIFIED"
    assert [service for service, _ in outcome.hops] == TRUID_CHAIN


def test_an_operator_error_fails_the_check_through_the_browsers_chain(phone: PhoneBrowser, stack: stacks.Stack):
    outcome = run_demo(phone.page, stack.demo_url, "+447400900099")  # tru.ID trigger: mno_server_error

    assert (outcome.status, outcome.reason) == ("FAILED", "PROVIDER_ERROR")
    assert outcome.hops == [("tru.ID", "302"), ("silentcheck API", "200")]


def test_a_phone_on_wifi_is_told_where_its_chain_stopped_and_polls_once(phone: PhoneBrowser, stack: stacks.Stack):
    outcome = run_demo(phone.page, stack.demo_url, "+447400900002", bearer="wifi")

    assert outcome.status == "NO_COMPLETION_CODE"
    assert outcome.hops == [("tru.ID", "302"), ("mobile network", "302"), ("tru.ID", "412")]
    assert ("Return", "failed") in outcome.steps
    assert "not on mobile data" in phone.page.inner_text("#result-detail")
    polls = [hop for hop in phone.proxy.state.log()
             if hop.url.startswith(f"{stack.api_url}/checks/") and "/checks/return" not in hop.url]
    assert len(polls) == 1  # without a completion code every poll reads PENDING: the page does not wait


def test_the_page_shows_the_final_answers_attestation_decoded(phone: PhoneBrowser, stack: stacks.Stack):
    polls: list[Response] = []
    phone.page.on("response", lambda r: polls.append(r) if "/checks/" in r.url and r.request.method == "GET"
                  and "/checks/return" not in r.url else None)

    run_demo(phone.page, stack.demo_url, "+447400900002")

    final: dict[str, Any] = polls[-1].json()
    if "attestation" in final:
        header, payload, _ = final["attestation"].split(".")
        assert json.loads(phone.page.inner_text("#jws-header")) == _decoded(header)
        assert json.loads(phone.page.inner_text("#jws-payload")) == _decoded(payload)
    else:
        assert phone.page.is_visible("#attestation .no-attestation")


def test_a_camara_check_verifies_through_the_aggregators_chain(phone: PhoneBrowser, stack: stacks.Stack):
    outcome = run_demo(phone.page, stack.demo_url, "+34600000012", provider="camara")

    assert outcome.status == "VERIFIED"
    assert [service for service, _ in outcome.hops] == [
        "CAMARA aggregator", "mobile network", "CAMARA aggregator", "silentcheck API"]


def test_a_browser_that_is_not_a_phone_is_told_how_to_become_one(browser: Browser, stack: stacks.Stack):
    context = browser.new_context()  # no phone proxy
    page = context.new_page()
    page.goto(stack.demo_url)
    page.wait_for_selector("body[data-ready=true]")
    told, command, can_verify = page.is_visible("#not-a-phone"), page.inner_text("#phone-command"), \
        page.is_enabled("#verify")
    context.close()

    assert told and not can_verify
    assert f"--proxy-server={stack.phone_proxy.url}" in command
