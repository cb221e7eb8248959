"""Swagger UI (/docs/ on the sandbox API's origin) renders docs/openapi.json offline and calls the sandbox."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Request

from sandbox import stack as stacks
from sandbox.web import DOCS_PATH
from tests.openapi_doc import load

pytestmark = pytest.mark.browser


def test_swagger_ui_renders_every_operation_from_files_on_the_sandbox_alone(browser: Browser, stack: stacks.Stack):
    context = browser.new_context()
    page = context.new_page()
    requested: list[Request] = []
    page.on("request", lambda request: requested.append(request))

    page.goto(f"{stack.gateway.api.base_url}{DOCS_PATH}")
    page.wait_for_selector(".opblock-summary-path", timeout=20_000)
    shown = {(block.get_attribute("data-path") or block.inner_text()).replace("\u200b", "")
             for block in page.query_selector_all(".opblock-summary-path")}
    context.close()

    assert shown == set(load()["paths"])
    assert {urlsplit(r.url).netloc for r in requested if not r.url.startswith("data:")} == {
        urlsplit(stack.api_url).netloc}


def test_swagger_uis_try_it_out_starts_a_check_on_this_sandbox(browser: Browser, stack: stacks.Stack):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{stack.gateway.api.base_url}{DOCS_PATH}")
    operation = "#operations-checks-startCheck"  # try-it-out is on from the start (tryItOutEnabled)
    page.click(f"{operation} .opblock-summary")
    page.fill(f"{operation} textarea.body-param__text", json.dumps({"phone_number": "+447400900002"}))
    page.click(f"{operation} .execute")
    status = page.wait_for_selector(f"{operation} .live-responses-table tbody .response-col_status", timeout=20_000)
    assert status is not None
    answered, url = status.inner_text().strip(), page.inner_text(f"{operation} .request-url pre")
    context.close()

    assert (answered, url) == ("201", f"{stack.api_url}/checks")
