"""Many identical requests for one check at once (docs/reliability.md, Races): exactly one transition
and one provider exchange, whatever arrives first. Every request here is sent by one of 200 threads
released together."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
import requests

from silentcheck import aws, store
from tests.integration.conftest import App, completion_code
from tests.integration.test_camara_operator_token import poll_until_final, wait_until_poll_is_due

CONCURRENT = 200
T = TypeVar("T")


def all_at_once(call: Callable[[], T], n: int = CONCURRENT) -> list[T]:
    """`n` calls of `call`, each on its own thread, released together."""
    gate = threading.Barrier(n)

    def released() -> T:
        gate.wait(timeout=60)
        return call()

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: released(), range(n)))


@pytest.fixture
def transitions(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The checks the functions moved out of PENDING (every store.finish that won its conditional write)."""
    won: list[str] = []
    finish = store.finish

    def counted(check_id: str, *args: Any, **kwargs: Any) -> Any:
        finished = finish(check_id, *args, **kwargs)
        won.append(check_id)
        return finished

    monkeypatch.setattr(store, "finish", counted)
    yield won


def _return(url: str) -> requests.Response:
    return requests.get(url, headers={"Accept": "application/json"}, timeout=60)


def test_concurrent_identical_returns_make_one_transition_and_one_code_exchange(app: App, transitions: list[str]):
    check = app.started()
    url = app.return_url(check)

    answers = all_at_once(lambda: _return(url))

    assert sorted(a.status_code for a in answers).count(200) == 1
    assert {a.status_code for a in answers} == {200, 400}
    assert len([r for r in app.truid_requests() if r["method"] == "PATCH"]) == 1
    assert transitions == [check["check_id"]]
    (winner,) = [a for a in answers if a.status_code == 200]
    assert app.poll(check, code=winner.json()["completion_code"]).json()["status"] == "VERIFIED"


def test_concurrent_identical_callbacks_make_one_transition_and_no_provider_call(app: App,
                                                                              transitions: list[str]):
    infobip = app.stack.infobip.base_url
    requests.delete(f"{infobip}/_sandbox/requests", timeout=5)
    requests.post(f"{infobip}/_sandbox/delivery", json={"mode": "never"}, timeout=5).raise_for_status()
    check = app.start("+447400900112", provider="infobip").json()
    opened = app.phone("+447400900112").open(check["check_url"])
    token = app.item(check["check_id"])["provider_ref"]["S"]
    (verify,) = [e for e in requests.get(f"{infobip}/_sandbox/requests", timeout=5).json()
                 if e["path"] == "/mi/verification/1/verify"]
    callback_url = json.loads(verify["body"])["callbackUrl"]
    requests.delete(f"{infobip}/_sandbox/requests", timeout=5)

    answers = all_at_once(lambda: requests.post(callback_url, json={"token": token, "result": "VALID"}, timeout=60))

    assert {a.status_code for a in answers} == {200}
    assert transitions == [check["check_id"]]
    assert requests.get(f"{infobip}/_sandbox/requests", timeout=5).json() == []
    assert app.poll(check, code=completion_code(opened)).json()["status"] == "VERIFIED"


def test_concurrent_polls_of_a_settled_provider_check_make_one_transition(app: App, transitions: list[str],
                                                                         advance: Callable[[float], None]):
    app.stack.configure_truid(api_version="v0.1")
    app.stack.configure_api(allow_unbound_checks=True)  # v0.1: binding none
    app.truid_callback_fault("never", count=5)
    check = app.started()
    app.open_on_own_phone(check)
    wait_until_poll_is_due(app, check, advance)  # polls are paced toward tru.ID: all of these are due at once

    views = all_at_once(lambda: app.poll(check).json()["status"])

    assert set(views) <= {"PENDING", "VERIFIED"}
    assert poll_until_final(app, check, advance)["status"] == "VERIFIED"
    assert transitions == [check["check_id"]]


def test_concurrent_polls_with_the_code_are_all_served_the_one_attestation_kept(app: App):
    """Reads that find no attestation at the same moment may each sign (no claim write before signing), but one
    signature is kept and every read, then and later, is served that one."""
    check = app.started()
    code = completion_code(app.open_on_own_phone(check))
    signed: list[str] = []
    events = aws.client("kms").meta.events
    events.register("before-send.kms.Sign", lambda request, **_: signed.append(request.url), unique_id="count-sign")
    try:
        views = all_at_once(lambda: app.poll(check, code=code).json())
    finally:
        events.unregister("before-send.kms.Sign", unique_id="count-sign")
    later = app.poll(check, code=code).json()

    assert {view["status"] for view in views} == {"VERIFIED"}
    assert 1 <= len(signed) <= len(views)
    assert {view.get("attestation") for view in views} == {later["attestation"]}
    assert later["attestation"]
