"""tru.ID PhoneCheck v0.1 (the seed guide's flow): no return hop; the poll asks tru.ID for the result."""

from typing import Any

import pytest

from sandbox import stack as stacks
from tests.integration.conftest import App


@pytest.fixture(autouse=True)
def _v01(stack: stacks.Stack, app: App) -> None:
    """The poll path alone: tru.ID's callbacks (test_truid_callbacks) would otherwise race the polls."""
    stack.configure_truid(api_version="v0.1")
    app.truid_callback_fault("never", count=20)


def _poll_until_final(app: App, check: dict[str, Any], attempts: int = 5) -> dict[str, Any]:
    view: dict[str, Any] = {}
    for _ in range(attempts):
        view = app.poll(check).json()
        if view["status"] != "PENDING":
            break
    return view


def test_phone_holding_the_sim_verifies_with_no_binding(app: App):
    check = app.started("+447400900002")
    opened = app.open_on_own_phone(check)

    view = _poll_until_final(app, check)

    assert opened.status == 200
    assert (view["status"], view["binding"]) == ("VERIFIED", "none")


def test_first_poll_after_the_phone_finishes_may_still_be_pending(app: App):
    check = app.started("+447400900002")
    app.open_on_own_phone(check)

    first, second = app.poll(check).json(), app.poll(check).json()

    assert first["status"] == "PENDING"
    assert second["status"] == "VERIFIED"


def test_phone_holding_another_sim_is_not_verified(app: App):
    check = app.started("+447400900004")
    app.phone("+447400900006").open(check["check_url"])

    assert _poll_until_final(app, check)["status"] == "NOT_VERIFIED"


def test_create_sends_no_redirect_url(app: App):
    app.started()

    create = next(r for r in app.truid_requests() if r["method"] == "POST" and r["path"].endswith("/checks"))

    assert create["path"] == "/phone_check/v0.1/checks"
    assert "redirect_url" not in create["body"]


def test_check_error_reported_by_get_fails_with_its_reason(app: App):
    check = app.started("+447400900099")
    app.phone("+447400900099").open(check["check_url"])

    view = _poll_until_final(app, check)

    assert (view["status"], view["reason"]) == ("FAILED", "PROVIDER_ERROR")


def test_transient_error_while_polling_keeps_the_check_pending(app: App):
    check = app.started()
    app.open_on_own_phone(check)
    app.truid_fault(method="GET", path_regex="/phone_check/v0.1/checks/", status=503, count=3)

    assert app.poll(check).json()["status"] == "PENDING"
    assert _poll_until_final(app, check, attempts=8)["status"] == "VERIFIED"


def test_sandbox_mode_project_follows_truid_digit_rule(app: App, stack: stacks.Stack):
    stack.configure_truid(api_version="v0.2", mode="sandbox")
    even, odd = app.started("+447400900002"), app.started("+447400900003")

    from tests.integration.conftest import completion_code

    even_code = completion_code(app.phone("+447400900002").open(even["check_url"]))
    odd_code = completion_code(app.phone("+447400900003").open(odd["check_url"]))

    assert app.poll(even, code=even_code).json()["status"] == "VERIFIED"
    assert app.poll(odd, code=odd_code).json()["status"] == "NOT_VERIFIED"
