"""The logic `make bench` reports with: the call counter, order statistics, importtime reading and the cost
model. Cheap: moto and one loopback HTTP server; the benchmarks themselves stay out of `make test`."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.retries import standard

from benchmarks import costs
from benchmarks.counting import CallCounter, Calls
from benchmarks.importtime import parse_importtime, unused_by_request
from benchmarks.stats import percentile
from sandbox.httpserver import RunningServer, serve
from sandbox.local_aws import services as sandbox_aws
from silentcheck import aws, credentials, provider_http
from silentcheck.store import keys
from tests.conftest import TEST_TABLE


@pytest.fixture
def counter(moto_env: sandbox_aws.MotoServer) -> Iterator[CallCounter]:
    with CallCounter() as installed:
        yield installed


@pytest.fixture
def provider() -> Iterator[RunningServer]:
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]

    server = serve(app)
    yield server
    server.stop()


def test_counter_counts_dynamodb_requests_by_operation(counter: CallCounter) -> None:
    dynamodb = aws.client("dynamodb")
    dynamodb.put_item(TableName=TEST_TABLE, Item=keys.item_key(keys.check("a")))
    dynamodb.get_item(TableName=TEST_TABLE, Key=keys.item_key(keys.check("a")))
    dynamodb.get_item(TableName=TEST_TABLE, Key=keys.item_key(keys.check("b")))

    assert counter.thread_calls().aws == Counter({("dynamodb", "GetItem"): 2, ("dynamodb", "PutItem"): 1})


def test_counter_sees_a_warm_secret_cost_no_secrets_manager_read(counter: CallCounter) -> None:
    credentials.pepper()
    credentials.pepper()

    assert counter.thread_calls().aws_count("secrets-manager") == 1


def test_counter_counts_provider_requests_and_their_waiting_time(counter: CallCounter,
                                                                  provider: RunningServer) -> None:
    counter.provider_latency = 0.05
    provider_http.send("GET", f"{provider.base_url}/phone_check/v0.2/checks/x")
    provider_http.send("POST", f"{provider.base_url}/oauth2/v1/token")

    calls = counter.thread_calls()
    assert calls.http == Counter({(f"127.0.0.1:{provider.port}", "GET", "/phone_check/v0.2/checks/x"): 1,
                                  (f"127.0.0.1:{provider.port}", "POST", "/oauth2/v1/token"): 1})
    assert calls.http_count("token") == 1
    assert calls.waited >= 0.1


def test_a_whole_aws_call_holds_botocores_client_work_outside_the_socket_wait(counter: CallCounter) -> None:
    dynamodb = aws.client("dynamodb")
    dynamodb.meta.events.register("before-parameter-build.dynamodb.GetItem", lambda **_: time.sleep(0.05))
    dynamodb.get_item(TableName=TEST_TABLE, Key=keys.item_key(keys.check("a")))

    calls = counter.thread_calls()
    assert calls.aws_calls == Counter({("dynamodb", "GetItem"): 1})
    assert calls.in_calls >= calls.waited + 0.05  # the client-side work: in the call, not in the wait


class _Raw:
    def stream(self) -> Iterator[bytes]:
        yield b'{"__type": "InternalServerError", "message": "try again"}'


def test_a_retried_aws_call_is_one_call_with_its_attempts_and_backoff_inside(counter: CallCounter,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.05)
    attempts: list[str] = []

    def first_fails(request: Any, **_: Any) -> AWSResponse | None:
        attempts.append(request.url)
        return AWSResponse(request.url, 500, HTTPHeaders(), _Raw()) if len(attempts) == 1 else None

    dynamodb = aws.client("dynamodb")
    dynamodb.meta.events.register_first("before-send.dynamodb.GetItem", first_fails)
    dynamodb.get_item(TableName=TEST_TABLE, Key=keys.item_key(keys.check("a")))

    calls = counter.thread_calls()
    assert (len(attempts), calls.aws, calls.aws_calls) == (
        2, Counter({("dynamodb", "GetItem"): 2}), Counter({("dynamodb", "GetItem"): 1}))
    assert calls.in_calls >= calls.waited + 0.05  # the backoff between the attempts is inside the one call


def test_a_whole_provider_request_holds_its_preparation_outside_the_socket_wait(counter: CallCounter,
                                                                               provider: RunningServer) -> None:
    def slow_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
        time.sleep(0.05)  # applied while the request is prepared, before it is sent
        return request

    provider_http.send("GET", f"{provider.base_url}/phone_check/v0.2/checks/x", auth=slow_auth)

    calls = counter.thread_calls()
    assert calls.http_count("/checks/x") == 1
    assert calls.in_calls >= calls.waited + 0.05


def test_measuring_collects_what_other_threads_asked_for(counter: CallCounter) -> None:
    aws.client("dynamodb").get_item(TableName=TEST_TABLE, Key={"pk": {"S": "before"}})  # not in the block
    with counter.measuring() as calls:
        worker = threading.Thread(target=lambda: aws.client("dynamodb").get_item(
            TableName=TEST_TABLE, Key={"pk": {"S": "during"}}))
        worker.start()
        worker.join()

    assert calls.aws == Counter({("dynamodb", "GetItem"): 1})


def test_percentile_is_a_measured_value_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 1001)]

    assert (percentile(values, 50), percentile(values, 99), percentile([7.0], 99)) == (500.0, 990.0, 7.0)


def test_unused_by_request_lists_imports_whose_code_never_ran() -> None:
    stderr = ("import time: self [us] | cumulative | imported package\n"
              "import time:      3000 |       3000 |     pydantic.main\n"
              "import time:      2500 |       2500 |   asyncio.events\n"
              "import time:       400 |        400 |   silentcheck.store\n"
              "import time:      9000 |      14900 | app\n")
    imported = parse_importtime(stderr)

    assert unused_by_request(imported, used={"app", "silentcheck.store", "pydantic.main"}) == [
        ("asyncio.events", 2.5)]


def test_cost_model_prices_each_counted_call() -> None:
    calls = Calls(aws=Counter({("dynamodb", "UpdateItem"): 3, ("dynamodb", "PutItem"): 1,
                               ("dynamodb", "TransactWriteItems"): 1,
                               ("dynamodb", "GetItem"): 2, ("dynamodb", "BatchGetItem"): 1,
                               ("kms", "Sign"): 1, ("secrets-manager", "GetSecretValue"): 0}))
    invocations = {"StartCheckFunction": 1, "PollResultFunction": 1, "ProviderCallbackFunction": 1}
    durations = {"StartCheckFunction": 99.2, "PollResultFunction": 10.0, "ProviderCallbackFunction": 20.0}
    lines, provider = costs.per_million(calls, invocations, durations, dict.fromkeys(invocations, 1024),
                                        provider_price=0.02)
    bill = {line.item: round(line.usd_per_million_checks, 4) for line in lines}

    assert bill["DynamoDB writes"] == round((4 + 2 * 4) * 0.625, 4)  # a transaction's 4 items: 2 units each
    assert bill["DynamoDB reads"] == round(3 * 0.125, 4)
    assert bill["KMS Sign (ECC)"] == round(0.15 / 10_000 * 1_000_000, 4)
    assert bill["API Gateway REST requests"] == round(2 * 3.50, 4)  # the function URL is not API Gateway
    assert bill["Lambda compute (arm64)"] == round((100 + 10 + 20) / 1000 * 0.0000133334 * 1_000_000, 4)
    assert provider == 20_000.0
