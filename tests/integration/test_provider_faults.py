"""Provider answers that are broken rather than refusals, through the real handlers: cut-short or
malformed JSON, the wrong content type, rotated credentials, a redirect loop the phone gives up on.
Each ends in its documented status and reason (docs/reliability.md, Faults)."""

from __future__ import annotations

import pytest

from sandbox import stack as stacks
from sandbox.local_aws import services as aws
from silentcheck import clock, credentials
from tests.integration.conftest import App, completion_code

CREATE = "^/phone_check/v0.2/checks$"
PATCH = "^/phone_check/v0.2/checks/[^/]+$"


@pytest.fixture(autouse=True)
def _truid_alone(app: App):
    app.stack.configure_routing({"default": ["truid"]})


@pytest.mark.parametrize(("body", "content_type"), [
    ('{"check_id": "c4a1', "application/hal+json"),  # cut short
    ("<html><body>Bad gateway</body></html>", "text/html"),  # a proxy's page, answered 201
    ('["not", "an", "object"]', "application/hal+json"),
])
def test_a_broken_create_answer_fails_the_check_as_provider_error(app: App, body: str, content_type: str):
    app.truid_fault(method="POST", path_regex=CREATE, status=201, raw_body=body, content_type=content_type)

    created = app.start().json()

    assert (created["status"], created["reason"], created["check_url"]) == ("FAILED", "PROVIDER_ERROR", None)
    assert app.poll(created).json()["status"] == "FAILED"


@pytest.mark.parametrize(("body", "content_type"), [
    ('{"status": "COMPL', "application/json"),
    ('{"status": "COMPLETED", "match": true}', "text/plain"),
    ("[]", "application/json"),
])
def test_a_broken_code_exchange_answer_fails_the_check_as_provider_error(app: App, body: str, content_type: str):
    check = app.started()
    app.truid_fault(method="PATCH", path_regex=PATCH, status=200, raw_body=body, content_type=content_type)

    opened = app.open_on_own_phone(check)
    view = app.poll(check, code=completion_code(opened)).json()

    assert opened.status == 200
    assert (view["status"], view["reason"]) == ("FAILED", "PROVIDER_ERROR")


def test_rotated_credentials_are_read_again_once_on_a_401_and_the_check_goes_ahead(app: App, stack: stacks.Stack):
    right = dict(stack.callback_secret_value["truid"])
    _store_truid_secret(stack, {**right, "client_secret": "rotated-out"})
    credentials.forget()
    credentials.callback_section("truid")  # this container now holds the old credentials
    _store_truid_secret(stack, right)  # ...and the secret has the new ones

    check = app.start().json()

    assert check["status"] == "PENDING"
    assert len([r for r in app.truid_requests() if r["path"] == "/oauth2/v1/token"]) == 2


def test_a_redirect_loop_the_phone_gives_up_on_leaves_the_check_pending_then_expired(app: App, monkeypatch):
    check = app.started()
    app.truid_fault(method="GET", path_regex="/redirect$", status=302, headers={"Location": check["check_url"]},
                    count=50)

    opened = app.open_on_own_phone(check)

    assert opened.error == "sdk_redirect_error"
    assert app.poll(check).json()["status"] == "PENDING"
    later = clock.now() + 3600
    monkeypatch.setattr(clock, "now", lambda: later)
    assert (app.poll(check).json()["status"], app.poll(check).json()["reason"]) == ("EXPIRED", "DEVICE_TIMEOUT")


def _store_truid_secret(stack: stacks.Stack, truid: dict[str, str]) -> None:
    """Change the callback secret (tru.ID's credentials) in Secrets Manager only: the functions keep what
    they cached."""
    stack.callback_secret_value["truid"] = truid
    aws.seed_secret(aws.client("secretsmanager", stack.moto.endpoint), stacks.CALLBACK_SECRET_NAME,
                    stack.callback_secret_value)
