"""DynamoDB misbehaving under the real handlers: throttling is retried by botocore's standard mode, and
what is still throttled after the last attempt is a clean 503 problem with Retry-After, never a 500, a
stack trace or a half-written record (docs/reliability.md)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.retries.standard import ExponentialBackoff

from silentcheck import aws
from tests.integration.conftest import App, completion_code

THROTTLED = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                        "message": "The level of configured provisioned throughput for the table was exceeded."})


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


KMS_FAILED = json.dumps({"__type": "KMSInternalException", "message": "The request was rejected because an "
                         "internal exception occurred."})


@dataclass
class Throttle:
    """An AWS service answers the functions' calls of `operation` with an error (DynamoDB's
    ProvisionedThroughputExceededException unless told otherwise), `times` times (None: every time)."""

    operation: str
    times: int | None = None
    seen: list[str] = field(default_factory=list)  # the operations refused
    status: int = 400
    body: str = THROTTLED
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        with self._lock:
            if self.times is not None and len(self.seen) >= self.times:
                return None
            self.seen.append(str(request.headers.get("X-Amz-Target", b""), "ascii").rpartition(".")[2])
        headers = HTTPHeaders()
        headers["Content-Type"], headers["x-amzn-RequestId"] = "application/x-amz-json-1.0", "throttled"
        return AWSResponse(request.url, self.status, headers, _Raw(self.body.encode()))


@contextmanager
def throttled(operation: str = "*", times: int | None = None, service: str = "dynamodb", status: int = 400,
              body: str = THROTTLED) -> Iterator[Throttle]:
    events = aws.client(service).meta.events
    event = f"before-send.{service}" + ("" if operation == "*" else f".{operation}")
    throttle = Throttle(operation, times, status=status, body=body)
    events.register(event, throttle, unique_id="test-throttle")
    try:
        yield throttle
    finally:
        events.unregister(event, unique_id="test-throttle")


def attempts() -> int:
    """How often the functions' client tries one call (its `max_attempts` of 3 counts the retries only)."""
    return int(aws.client("dynamodb").meta.config.retries["total_max_attempts"])


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's jittered backoff (up to 1 s, then 2 s) does not shrink with the test stack's time scale;
    the attempts themselves are what is under test."""
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)


def _assert_busy_problem(response: requests.Response) -> None:
    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0
    assert response.json()["code"] == "TEMPORARILY_UNAVAILABLE"


def test_a_start_throttled_through_every_retry_is_a_503_problem_and_calls_no_provider(app: App):
    with throttled() as throttle:
        response = app.start()

    _assert_busy_problem(response)
    # the first write (the start's budgets with its check: one transaction), retried, then no more
    assert throttle.seen == ["TransactWriteItems"] * attempts()
    assert app.truid_checks_created() == []


def test_a_start_whose_transaction_is_cancelled_for_throttling_is_a_503_problem_and_records_nothing(app: App):
    cancelled = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                            "message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
                            "CancellationReasons": [{"Code": "ThrottlingError"}, {"Code": "None"}, {"Code": "None"},
                                                    {"Code": "None"}]})
    with throttled("TransactWriteItems", body=cancelled) as throttle:
        response = app.start()

    _assert_busy_problem(response)
    assert throttle.seen == ["TransactWriteItems"]  # not a budget's refusal: answered at once, not tried again
    assert app.truid_checks_created() == []


def test_throttling_that_ends_within_the_retries_goes_unnoticed(app: App):
    with throttled(times=attempts() - 1):
        response = app.start()

    assert response.status_code == 201
    assert response.json()["status"] == "PENDING"


def test_a_poll_throttled_through_every_retry_is_a_503_problem(app: App):
    check = app.started()

    with throttled("GetItem"):
        response = app.poll(check)

    _assert_busy_problem(response)
    assert app.poll(check).json()["status"] == "PENDING"


def test_a_return_throttled_through_every_retry_keeps_its_state_for_another_try(app: App):
    check = app.started()
    url = app.return_url(check)

    with throttled("UpdateItem"):
        busy = requests.get(url, headers={"Accept": "application/json"}, timeout=15)
    retried = requests.get(url, headers={"Accept": "application/json"}, timeout=15)

    _assert_busy_problem(busy)
    assert retried.status_code == 200
    assert app.poll(check, code=retried.json()["completion_code"]).json()["status"] == "VERIFIED"


def test_a_throttled_callback_is_answered_503_and_the_providers_redelivery_settles_the_check(app: App):
    infobip = app.stack.infobip.base_url
    requests.delete(f"{infobip}/_sandbox/callbacks", timeout=5)
    requests.post(f"{infobip}/_sandbox/delivery", json={"mode": "late", "delay_seconds": 0.2},
                  timeout=5).raise_for_status()
    check = app.start("+447400900112", provider="infobip").json()
    with throttled("GetItem", times=attempts()):  # the first delivery's read, every attempt
        opened = app.phone("+447400900112").open(check["check_url"])
        assert app.stack.infobip_simulator.courier.wait_idle(10)

    deliveries = [d["status_code"] for d in requests.get(f"{infobip}/_sandbox/callbacks", timeout=5).json()]
    assert deliveries == [503, 200]
    assert app.poll(check, code=completion_code(opened)).json()["status"] == "VERIFIED"


def test_a_failed_signature_keeps_the_result_and_the_next_read_signs(app: App):
    check = app.started()
    code = completion_code(app.open_on_own_phone(check))

    with throttled("Sign", service="kms", status=500, body=KMS_FAILED) as failing:
        first = app.poll(check, code=code)
    second = app.poll(check, code=code)

    assert len(failing.seen) == attempts()  # KMS's 500 is retried like DynamoDB's throttling
    assert (first.status_code, first.json()["status"]) == (200, "VERIFIED")
    assert "attestation" not in first.json()
    assert second.json()["status"] == "VERIFIED" and second.json()["attestation"]
