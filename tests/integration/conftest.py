"""The sandbox stack for integration tests: DynamoDB Local, moto, simulated tru.ID and network,
and the real handlers behind the template-driven gateway, all on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from sandbox import stack as stacks
from sandbox.device import OpenResult, Phone, bound_session
from sandbox.local_aws.services import client
from silentcheck.store import keys
from tests.conftest import refresh

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _fresh_providers(stack: stacks.Stack) -> None:
    refresh(stack)


@pytest.fixture(autouse=True)
def _within_function_timeouts(stack: stacks.Stack) -> Iterator[None]:
    """Fails the test if any invocation ran past its function's Timeout (Lambda would have killed it)."""
    stack.gateway.overruns.take()
    yield
    overruns = stack.gateway.overruns.take()
    assert not overruns, f"invocations Lambda would have killed: {overruns}"


@dataclass
class App:
    """What an app (or its backend) does with the API."""

    stack: stacks.Stack

    @property
    def api(self) -> str:
        return self.stack.api_url

    @property
    def backend_headers(self) -> dict[str, str]:
        """What the customer's backend sends with POST /checks (backend mode: its API key)."""
        return {"x-api-key": self.stack.api_key}

    def start(self, phone_number: Any = "+447400900002", idempotency_key: str | None = None,
              **body: Any) -> requests.Response:
        headers = {**self.backend_headers, **({"Idempotency-Key": idempotency_key} if idempotency_key else {})}
        return requests.post(f"{self.api}/checks", json={"phone_number": phone_number, **body},
                             headers=headers, timeout=15)

    def started(self, phone_number: str = "+447400900002") -> dict[str, Any]:
        response = self.start(phone_number)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def poll(self, check: dict[str, Any], code: str | None = None, token: str | None = None) -> requests.Response:
        params = {"code": code} if code else {}
        headers = {"Authorization": f"Bearer {token or check['poll_token']}"}
        return requests.get(f"{self.api}/checks/{check['check_id']}", headers=headers, params=params, timeout=15)

    def phone(self, sim: str = "+447400900002", bearer: str = "cellular") -> Phone:
        return Phone.join(self.stack.network.base_url, sim, bearer)  # type: ignore[arg-type]

    def open_on_own_phone(self, check: dict[str, Any], sim: str | None = None) -> OpenResult:
        return self.phone(sim or "+447400900002").open(check["check_url"])

    def return_url(self, check: dict[str, Any], sim: str = "+447400900002") -> str:
        """Follow the check URL's redirect chain from the phone, stopping before the hop to our API."""
        url: str = check["check_url"]
        with bound_session(self.phone(sim).ip) as cellular:
            while not url.startswith(self.api):
                url = cellular.get(url, allow_redirects=False, timeout=10).headers["Location"]
        return url

    def truid_requests(self) -> list[dict[str, Any]]:
        logged: list[dict[str, Any]] = requests.get(f"{self.stack.truid.base_url}/_sandbox/requests",
                                                    timeout=5).json()
        return logged

    def truid_checks_created(self) -> list[dict[str, Any]]:
        """The billable requests tru.ID received: check creations. (A late callback of an earlier test may
        still make tru.ID key-set and check reads; those bill nothing and belong to no start.)"""
        return [r for r in self.truid_requests() if r["method"] == "POST" and r["path"].endswith("/checks")]

    def truid_fault(self, **fault: Any) -> None:
        response = requests.post(f"{self.stack.truid.base_url}/_sandbox/faults", json=fault, timeout=5)
        assert response.status_code < 300, response.text

    def truid_callback_fault(self, mode: str, count: int = 1, truid_check_id: str | None = None) -> None:
        """How tru.ID's next `count` callbacks misbehave (`never` keeps them from being sent); with
        `truid_check_id`, only that tru.ID check's callbacks."""
        fault: dict[str, Any] = {"mode": mode, "count": count}
        if truid_check_id:
            fault["check_id"] = truid_check_id
        response = requests.post(f"{self.stack.truid.base_url}/_sandbox/callback-faults", json=fault, timeout=5)
        assert response.status_code == 201, response.text

    def idempotency_records(self) -> list[dict[str, Any]]:
        """Every raw item of the Idempotency-Key table, as stored."""
        scanned: list[dict[str, Any]] = client("dynamodb", self.stack.dynamodb.endpoint).scan(
            TableName=stacks.IDEMPOTENCY_TABLE_NAME, ConsistentRead=True)["Items"]
        return scanned

    def items(self, prefix: str) -> list[dict[str, Any]]:
        """Every raw DynamoDB item whose key starts with `prefix` (keys.CHECK, keys.LIMIT, keys.BREAKER)."""
        scanned: list[dict[str, Any]] = client("dynamodb", self.stack.dynamodb.endpoint).scan(
            TableName=stacks.TABLE_NAME, FilterExpression=f"begins_with({keys.PARTITION_KEY}, :prefix)",
            ExpressionAttributeValues={":prefix": {"S": prefix}})["Items"]
        return scanned

    def item(self, check_id: str) -> dict[str, Any]:
        """The check's raw DynamoDB item, as stored (empty when there is none)."""
        dynamodb = client("dynamodb", self.stack.dynamodb.endpoint)
        found: dict[str, Any] = dynamodb.get_item(TableName=stacks.TABLE_NAME, ConsistentRead=True,
                                                  Key=keys.item_key(keys.check(check_id))).get("Item", {})
        return found

    def camara_requests(self, path_suffix: str = "") -> list[dict[str, Any]]:
        logged: list[dict[str, Any]] = requests.get(f"{self.stack.camara.base_url}/_sandbox/requests",
                                                    timeout=5).json()
        return [entry for entry in logged if entry["path"].endswith(path_suffix)]

    def camara_fault(self, endpoint: str, **fault: Any) -> None:
        response = requests.post(f"{self.stack.camara.base_url}/_sandbox/faults",
                                 json={"endpoint": endpoint, **fault}, timeout=5)
        assert response.status_code < 300, response.text

    def operator_token(self, sim: str) -> str:
        """What the phone's TS.43 entitlement exchange with its operator yields (no mobile data needed)."""
        response = requests.post(f"{self.stack.camara.base_url}/_sandbox/operator-tokens", json={"msisdn": sim},
                                 timeout=5)
        assert response.status_code == 201, response.text
        token: str = response.json()["operator_token"]
        return token


@pytest.fixture
def app(stack: stacks.Stack) -> App:
    return App(stack)


@contextmanager
def sandbox_time(stack: stacks.Stack) -> Iterator[Callable[[float], None]]:
    """Within it, the functions' clock follows the sandbox's, and the function it gives moves both forward,
    so a CIBA interval passes for the functions and the simulated aggregator without waiting for it."""
    from silentcheck import clock

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(clock, "now", lambda: int(stack.clock()))
        try:
            yield stack.clock.advance
        finally:
            stack.clock.reset()


@pytest.fixture
def advance(stack: stacks.Stack) -> Iterator[Callable[[float], None]]:
    with sandbox_time(stack) as move:
        yield move


def completion_code(opened: OpenResult) -> str:
    assert isinstance(opened.json, dict), opened.body
    code: str = opened.json["completion_code"]
    return code


