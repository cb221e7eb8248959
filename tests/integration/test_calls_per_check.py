"""What one plain tru.ID v0.2 check (start, the device's return, one poll with the completion code; no
Idempotency-Key) asks of DynamoDB and KMS in a warm container, counted from botocore's own events on the
functions' boto3 session (benchmarks/counting.py). docs/capacity.md gives the reason for each request."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from benchmarks.counting import CallCounter, Instrumented
from sandbox import stack as stacks
from silentcheck import breakers
from tests.integration.conftest import App, completion_code

# Each DynamoDB request of the check, by function, and why it is there (docs/capacity.md, Calls per check).
EXPECTED_DYNAMODB = {
    "StartCheckFunction": Counter({
        # the check, recorded with the address's budget, the number's from this address and its places for
        # addresses: one transaction, all or nothing
        ("dynamodb", "TransactWriteItems"): 1,
        # the global budget's shard (shared by every start: kept out of the transaction); the provider's acceptance
        ("dynamodb", "UpdateItem"): 2,
    }),
    "OidcCallbackFunction": Counter({
        ("dynamodb", "UpdateItem"): 2,  # the one-time state spent (and the completion code attached); the verdict
    }),
    "PollResultFunction": Counter({
        ("dynamodb", "GetItem"): 1,  # the check
        ("dynamodb", "UpdateItem"): 1,  # the attestation signed from that read, kept unless one is kept already
    }),
}


@pytest.fixture
def instrumented(stack: stacks.Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Instrumented]:
    # A warm container read the breakers moments ago; a slow machine must not make this run a cold one.
    monkeypatch.setattr(breakers, "READ_CACHE_SECONDS", 3600)
    counting = Instrumented(CallCounter().install()).install_on(stack)
    try:
        yield counting
    finally:
        counting.uninstall_from(stack)
        counting.counter.uninstall()


def _verified(app: App) -> None:
    check = app.started("+447400900002")
    code = completion_code(app.open_on_own_phone(check))
    assert app.poll(check, code=code).json()["status"] == "VERIFIED"


def _by_function(instrumented: Instrumented, first: int, service: str) -> dict[str, Counter[tuple[str, str]]]:
    found: dict[str, Counter[tuple[str, str]]] = {}
    for served in instrumented.served[first:]:
        if served.function == "ProviderCallbackFunction":
            continue  # tru.ID's signed callback: a hint after the fact, not the app's path
        calls = Counter({key: n for key, n in served.calls.aws.items() if key[0] == service})
        found[served.function] = found.get(served.function, Counter()) + calls
    return found


def test_a_plain_truid_check_makes_seven_dynamodb_requests_each_with_its_reason(app: App, instrumented: Instrumented):
    _verified(app)  # warms this flow's caches: secrets, tokens, the breakers' read
    first = len(instrumented.served)

    _verified(app)

    counted = _by_function(instrumented, first, "dynamodb")
    assert counted == EXPECTED_DYNAMODB
    assert sum(sum(c.values()) for c in counted.values()) == 7


def test_a_plain_truid_check_signs_once_with_kms(app: App, instrumented: Instrumented):
    _verified(app)
    first = len(instrumented.served)

    _verified(app)

    assert _by_function(instrumented, first, "kms") == {"StartCheckFunction": Counter(),
                                                        "OidcCallbackFunction": Counter(),
                                                        "PollResultFunction": Counter({("kms", "Sign"): 1})}
