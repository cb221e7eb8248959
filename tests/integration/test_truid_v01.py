"""tru.ID PhoneCheck v0.1 (the seed guide's flow): no return hop; the poll asks tru.ID for the result."""

from collections.abc import Callable
from typing import Any

import pytest

from sandbox import stack as stacks
from silentcheck import clock
from tests.integration.conftest import App
from tests.integration.test_camara_operator_token import poll_until_final, wait_until_poll_is_due

Advance = Callable[[float], None]


@pytest.fixture(autouse=True)
def _v01(stack: stacks.Stack, app: App) -> None:
    """The poll path alone: tru.ID's callbacks (test_truid_callbacks) would otherwise race the polls."""
    stack.configure_truid(api_version="v0.1")
    stack.configure_api(allow_unbound_checks=True)  # v0.1 has binding none: the deployment must allow it
    app.truid_callback_fault("never", count=20)


def _due_poll(app: App, check: dict[str, Any], advance: Advance) -> dict[str, Any]:
    """The app's poll once tru.ID may be asked again (polls are paced toward tru.ID)."""
    wait_until_poll_is_due(app, check, advance)
    view: dict[str, Any] = app.poll(check).json()
    return view


def _truid_reads(app: App) -> list[dict[str, Any]]:
    return [r for r in app.truid_requests() if r["method"] == "GET" and "/phone_check/v0.1/checks/" in r["path"]]


def test_phone_holding_the_sim_verifies_with_no_binding(app: App, advance: Advance):
    check = app.started("+447400900002")
    opened = app.open_on_own_phone(check)

    view = poll_until_final(app, check, advance)

    assert opened.status == 200
    assert (view["status"], view["binding"]) == ("VERIFIED", "none")


def test_first_poll_after_the_phone_finishes_may_still_be_pending(app: App, advance: Advance):
    check = app.started("+447400900002")
    app.open_on_own_phone(check)

    first, second = _due_poll(app, check, advance), _due_poll(app, check, advance)

    assert first["status"] == "PENDING"
    assert second["status"] == "VERIFIED"


def test_phone_holding_another_sim_is_not_verified(app: App, advance: Advance):
    check = app.started("+447400900004")
    app.phone("+447400900006").open(check["check_url"])

    assert poll_until_final(app, check, advance)["status"] == "NOT_VERIFIED"


def test_create_sends_no_redirect_url(app: App):
    app.started()

    create = next(r for r in app.truid_requests() if r["method"] == "POST" and r["path"].endswith("/checks"))

    assert create["path"] == "/phone_check/v0.1/checks"
    assert "redirect_url" not in create["body"]


def test_check_error_reported_by_get_fails_with_its_reason(app: App, advance: Advance):
    check = app.started("+447400900099")
    app.phone("+447400900099").open(check["check_url"])

    view = poll_until_final(app, check, advance)

    assert (view["status"], view["reason"]) == ("FAILED", "PROVIDER_ERROR")


def test_transient_error_while_polling_keeps_the_check_pending(app: App, advance: Advance):
    check = app.started()
    app.open_on_own_phone(check)
    app.truid_fault(method="GET", path_regex="/phone_check/v0.1/checks/", status=503, count=3)

    assert _due_poll(app, check, advance)["status"] == "PENDING"
    assert poll_until_final(app, check, advance)["status"] == "VERIFIED"


def test_a_rate_limited_read_asks_truid_again_only_after_its_retry_after(app: App, advance: Advance):
    check = app.started()
    app.open_on_own_phone(check)
    app.truid_fault(method="GET", path_regex="/phone_check/v0.1/checks/", status=429, count=1)  # Retry-After: 30

    assert _due_poll(app, check, advance)["status"] == "PENDING"
    reads = len(_truid_reads(app))
    for _ in range(4):  # an app polling every 5 s within tru.ID's 30 s
        advance(5)
        app.poll(check)

    assert len(_truid_reads(app)) == reads
    assert int(app.item(check["check_id"])["poll_interval"]["N"]) == 30
    assert poll_until_final(app, check, advance)["status"] == "VERIFIED"


def test_polls_inside_truids_interval_are_answered_from_the_record(app: App, monkeypatch: pytest.MonkeyPatch):
    check = app.started()  # nobody opens it: tru.ID has no verdict, every read would be one more request
    one_second = clock.now() + 10  # past the first due time: exactly one of the polls asks
    monkeypatch.setattr(clock, "now", lambda: one_second)

    views = [app.poll(check).json()["status"] for _ in range(30)]

    assert views == ["PENDING"] * 30
    assert len(_truid_reads(app)) == 1


def test_polls_before_the_first_interval_has_passed_do_not_reach_truid(app: App, monkeypatch: pytest.MonkeyPatch):
    started_at = clock.now()
    monkeypatch.setattr(clock, "now", lambda: started_at)
    check = app.started()

    for _ in range(5):
        app.poll(check)

    assert _truid_reads(app) == []


@pytest.mark.parametrize("status", [401, 403, 404])
def test_a_read_refused_as_a_credential_rotation_would_be_is_retried_with_a_fresh_secret_and_token(
        app: App, advance: Advance, status: int):
    check = app.started()
    app.open_on_own_phone(check)
    app.truid_fault(method="GET", path_regex="/phone_check/v0.1/checks/", status=status, count=1)

    view: dict[str, Any] = {}
    for _ in range(5):  # as an app polls: every few seconds, each poll due to ask tru.ID
        advance(3)
        view = app.poll(check).json()
        if view["status"] != "PENDING":
            break

    assert view["status"] == "VERIFIED"  # not FAILED on the first refusal
    assert len([r for r in app.truid_requests() if r["path"] == "/oauth2/v1/token"]) == 2


def test_sandbox_mode_project_follows_truid_digit_rule(app: App, stack: stacks.Stack):
    stack.configure_truid(api_version="v0.2", mode="sandbox")
    even, odd = app.started("+447400900002"), app.started("+447400900003")

    from tests.integration.conftest import completion_code

    even_code = completion_code(app.phone("+447400900002").open(even["check_url"]))
    odd_code = completion_code(app.phone("+447400900003").open(odd["check_url"]))

    assert app.poll(even, code=even_code).json()["status"] == "VERIFIED"
    assert app.poll(odd, code=odd_code).json()["status"] == "NOT_VERIFIED"
