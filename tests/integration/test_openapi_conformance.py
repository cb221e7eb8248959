"""Real answers of the running sandbox against docs/openapi.json: status documented, Content-Type
documented for that status, body valid against the documented schema."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from requests.adapters import HTTPAdapter

from sandbox.local_aws import services as aws
from sandbox.stack import SECRET_NAME, forget_function_caches
from silentcheck import clock
from tests.integration.conftest import App, completion_code
from tests.openapi_doc import DOC_URI, pointer

START, POLL, RETURN = ("/checks", "post"), ("/checks/{check_id}", "get"), ("/checks/return", "get")


def assert_documented(doc: dict[str, Any], operation: tuple[str, str], response: requests.Response) -> None:
    """The status is documented for the operation, the Content-Type for that status, the body by its schema."""
    path, method = operation
    responses = doc["paths"][path][method]["responses"]
    status = str(response.status_code)
    assert status in responses, f"{method.upper()} {path} answered undocumented {status}: {response.text}"
    media = response.headers["Content-Type"].split(";")[0].strip()
    assert media in responses[status]["content"], f"{status} with undocumented Content-Type {media}"
    if media.endswith("json"):
        registry: Registry[Any] = Registry().with_resource(DOC_URI, DRAFT202012.create_resource(doc))
        schema = {"$ref": DOC_URI + "#" + pointer("paths", path, method, "responses", status, "content", media,
                                                   "schema")}
        validator = Draft202012Validator(schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)
        assert [error.message for error in validator.iter_errors(response.json())] == []


class _FromAddress(HTTPAdapter):
    """Sends from the phone's address, so the simulated network recognises its line."""

    def __init__(self, source_ip: str) -> None:
        self._source_ip = source_ip
        super().__init__(max_retries=0)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block=block, source_address=(self._source_ip, 0), **pool_kwargs)


def open_on_phone_keeping_the_answer(app: App, check: dict[str, Any], accept: str) -> requests.Response:
    """The phone follows check_url to /checks/return; the last answer is kept with its headers."""
    phone = app.phone()
    with requests.Session() as session:
        session.trust_env = False
        session.mount("http://", _FromAddress(phone.ip))
        response = session.get(check["check_url"], headers={"Accept": accept}, timeout=15)
    assert response.url.startswith(f"{app.api}/checks/return?"), response.url
    return response


def test_start_answers_201_as_documented(app: App, doc: dict[str, Any]):
    response = app.start("+447400900002")

    assert response.status_code == 201
    assert_documented(doc, START, response)


def test_start_refused_by_the_provider_answers_a_final_201_as_documented(app: App, doc: dict[str, Any]):
    response = app.start("+447400900098")  # tru.ID: 400 mno_not_supported

    assert (response.status_code, response.json()["status"]) == (201, "FAILED")
    assert_documented(doc, START, response)


def test_start_with_a_number_not_in_e164_answers_400_problem_as_documented(app: App, doc: dict[str, Any]):
    response = app.start("07700 900002")

    assert (response.status_code, response.json()["code"]) == (400, "INVALID_PHONE_NUMBER")
    assert_documented(doc, START, response)


def test_start_with_an_unknown_field_answers_400_problem_as_documented(app: App, doc: dict[str, Any]):
    response = app.start("+447400900002", install_id="not-a-field")

    assert (response.status_code, response.json()["code"]) == (400, "INVALID_REQUEST")
    assert_documented(doc, START, response)


def test_start_failing_unexpectedly_answers_500_problem_as_documented(app: App, doc: dict[str, Any]):
    without_pepper = {k: v for k, v in app.stack.secret_value.items() if k != "pepper"}
    aws.seed_secret(aws.client("secretsmanager", app.stack.moto.endpoint), SECRET_NAME, without_pepper)
    forget_function_caches()
    try:
        response = app.start("+447400900002")
    finally:
        app.stack.configure_truid()  # puts the whole secret back

    assert (response.status_code, response.json()["code"]) == (500, "INTERNAL_ERROR")
    assert_documented(doc, START, response)


def test_pending_poll_answers_200_as_documented(app: App, doc: dict[str, Any]):
    response = app.poll(app.started())

    assert (response.status_code, response.json()["status"]) == (200, "PENDING")
    assert_documented(doc, POLL, response)


def test_verified_poll_with_the_completion_code_answers_200_as_documented(app: App, doc: dict[str, Any]):
    check = app.started()
    code = completion_code(app.open_on_own_phone(check))

    response = app.poll(check, code=code)

    assert (response.status_code, response.json()["status"]) == (200, "VERIFIED")
    assert_documented(doc, POLL, response)


def test_verified_poll_without_the_completion_code_reads_pending_as_documented(app: App, doc: dict[str, Any]):
    check = app.started()
    app.open_on_own_phone(check)

    response = app.poll(check)

    assert (response.status_code, response.json()["status"]) == (200, "PENDING")
    assert_documented(doc, POLL, response)


def test_failed_poll_answers_200_with_a_reason_as_documented(app: App, doc: dict[str, Any]):
    check = app.started("+447400900093")  # the simulated chain ends in mno_redirect_unsupported
    code = completion_code(app.phone("+447400900093").open(check["check_url"]))

    response = app.poll(check, code=code)

    assert (response.status_code, response.json()["reason"]) == (200, "CARRIER_UNSUPPORTED")
    assert_documented(doc, POLL, response)


def test_expired_poll_answers_200_as_documented(app: App, doc: dict[str, Any], monkeypatch: pytest.MonkeyPatch):
    check = app.started()
    later = clock.now() + 3600
    monkeypatch.setattr(clock, "now", lambda: later)

    response = app.poll(check)

    assert (response.status_code, response.json()["status"]) == (200, "EXPIRED")
    assert_documented(doc, POLL, response)


def test_poll_with_a_wrong_token_answers_404_problem_as_documented(app: App, doc: dict[str, Any]):
    response = app.poll(app.started(), token="not-the-poll-token")

    assert (response.status_code, response.json()["code"]) == (404, "CHECK_NOT_FOUND")
    assert_documented(doc, POLL, response)


def test_poll_with_a_wrong_completion_code_answers_403_problem_as_documented(app: App, doc: dict[str, Any]):
    check = app.started()
    app.open_on_own_phone(check)

    response = app.poll(check, code="not-the-code")

    assert (response.status_code, response.json()["code"]) == (403, "COMPLETION_CODE_INVALID")
    assert_documented(doc, POLL, response)


def test_device_return_asking_for_json_answers_200_device_returned_as_documented(app: App, doc: dict[str, Any]):
    response = open_on_phone_keeping_the_answer(app, app.started(), accept="application/json")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert_documented(doc, RETURN, response)


def test_device_return_in_a_browser_answers_200_html_as_documented(app: App, doc: dict[str, Any]):
    response = open_on_phone_keeping_the_answer(app, app.started(), accept="text/html")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert_documented(doc, RETURN, response)


def test_device_return_with_an_unknown_state_answers_400_problem_as_documented(app: App, doc: dict[str, Any]):
    response = requests.get(f"{app.api}/checks/return", params={"state": "unknown.state"},
                            headers={"Accept": "application/json"}, timeout=10)

    assert (response.status_code, response.json()["code"]) == (400, "INVALID_RETURN")
    assert_documented(doc, RETURN, response)


def test_device_return_with_an_unknown_state_in_a_browser_answers_400_html_as_documented(
        app: App, doc: dict[str, Any]):
    response = requests.get(f"{app.api}/checks/return", params={"state": "unknown.state"}, timeout=10)

    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/html")
    assert_documented(doc, RETURN, response)
