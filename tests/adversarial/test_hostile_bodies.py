"""Attack 3: raise the 5xx alarm at will with a body the parser chokes on (100 000 nested brackets made an
unhandled RecursionError, before any budget was spent). Every body the API or the callback URL can receive is
answered 4xx or 2xx; the limits are checked before parsing and named in the problem."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from silentcheck.api import MAX_BODY_BYTES, MAX_BODY_DEPTH
from silentcheck.providers.base import CALLBACK_MAX_BYTES
from silentcheck.store import keys
from tests.integration.conftest import App
from tests.integration.test_infobip import start as start_with_infobip

ATTACK = "[" * 100_000 + "]" * 100_000  # as reported: 200 000 bytes
# Deep enough for Python's json module to raise RecursionError (it recurses once per level; the limit is 1000),
# small enough to pass the size limit, so only the depth limit stops them.
DEEP = {
    "arrays": "[" * 3000 + "]" * 3000,
    "objects": '{"a":' * 2000 + "1" + "}" * 2000,
    "in a field": '{"phone_number": ' + "[" * 3000 + "]" * 3000 + "}",
}


def _post_start(app: App, body: str | bytes) -> requests.Response:
    return requests.post(f"{app.api}/checks", data=body,
                         headers={**app.backend_headers, "Content-Type": "application/json"}, timeout=30)


def test_the_reported_100000_brackets_are_a_400_problem_before_any_budget_is_spent(app: App):
    response = _post_start(app, ATTACK)

    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "limit" in response.json()["detail"]
    assert app.items(keys.LIMIT) == []


@pytest.mark.parametrize("body", DEEP.values(), ids=DEEP.keys())
def test_a_deeply_nested_start_body_is_a_400_naming_the_depth_limit(app: App, body: str):
    before = len(app.items(keys.CHECK))

    response = _post_start(app, body)

    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "INVALID_REQUEST"
    assert f"nesting depth limit is {MAX_BODY_DEPTH}" in response.json()["detail"]
    assert len(app.items(keys.CHECK)) == before and app.items(keys.LIMIT) == []


def test_a_start_body_past_the_size_limit_is_a_400_naming_it(app: App):
    body = '{"phone_number": "+447400900002", "provider": "' + "x" * MAX_BODY_BYTES + '"}'

    response = _post_start(app, body)

    assert response.status_code == 400, response.text
    assert response.json()["code"] == "INVALID_REQUEST"
    assert f"larger than {MAX_BODY_BYTES} bytes, the body size limit" in response.json()["detail"]
    assert app.items(keys.LIMIT) == []


def test_brackets_inside_strings_do_not_count_toward_the_depth_limit(app: App):
    response = _post_start(app, '{"phone_number": "[[[[[[[[[[{{{{{{{{{{+447400900002"}')

    assert (response.status_code, response.json()["code"]) == (400, "INVALID_PHONE_NUMBER"), response.text


@pytest.fixture
def infobip_callback_url(app: App) -> str:
    app.stack.configure_infobip()
    start_with_infobip(app)
    logged = requests.get(f"{app.stack.infobip.base_url}/_sandbox/requests", timeout=5).json()
    verify = [entry for entry in logged if entry["path"] == "/mi/verification/1/verify"][-1]
    url: str = json.loads(verify["body"])["callbackUrl"]
    return url


@pytest.mark.parametrize("body", [ATTACK, *DEEP.values(), '{"token": "' + "x" * CALLBACK_MAX_BYTES + '"}'],
                         ids=["reported", *DEEP.keys(), "oversized"])
def test_a_hostile_callback_body_is_not_accepted_rather_than_a_5xx(app: App, infobip_callback_url: str,
                                                                  body: Any):
    response = requests.post(infobip_callback_url, data=body, headers={"Content-Type": "application/json"},
                             timeout=30)

    assert (response.status_code, response.json()["code"]) == (403, "CALLBACK_NOT_ACCEPTED"), response.text
