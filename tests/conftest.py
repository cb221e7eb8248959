"""Fixtures shared by unit and integration tests: AWS stand-ins on loopback, the table from template.yaml."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import secrets
from collections.abc import Iterator

import pytest

from sandbox import stack as stacks
from sandbox.local_aws import services as aws
from silentcheck import caches

TEST_TABLE = "silentcheck-test-checks"
TEST_IDEMPOTENCY_TABLE = "silentcheck-test-idempotency"
TEST_SECRET = "silentcheck/test"
TEST_CALLBACK_SECRET = "silentcheck/test-callbacks"


@pytest.fixture(scope="session")
def moto_server() -> Iterator[aws.MotoServer]:
    server = aws.start_moto_server()
    yield server
    server.stop()


@pytest.fixture
def moto_env(moto_server: aws.MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[aws.MotoServer]:
    """Unit-test environment: DynamoDB and Secrets Manager from moto's server on 127.0.0.1, a fresh table."""
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_DYNAMODB": moto_server.endpoint,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_server.endpoint,
        "TABLE_NAME": TEST_TABLE,
        "IDEMPOTENCY_TABLE_NAME": TEST_IDEMPOTENCY_TABLE,
        "SECRET_ID": TEST_SECRET,
        "CALLBACK_SECRET_ID": TEST_CALLBACK_SECRET,
        "PROVIDER_TIMEOUT_SECONDS": "2",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # Fresh tables, not moto's /moto-api/reset: moto keeps one state per process, and under pytest-xdist the
    # same worker also serves a sandbox stack whose secrets and signing keys a reset would wipe.
    dynamodb = aws.client("dynamodb", moto_server.endpoint)
    for table, env_var in ((TEST_TABLE, "TABLE_NAME"), (TEST_IDEMPOTENCY_TABLE, "IDEMPOTENCY_TABLE_NAME")):
        with contextlib.suppress(dynamodb.exceptions.ResourceNotFoundException):
            dynamodb.delete_table(TableName=table)
        aws.create_table(dynamodb, table, env_var)
    aws.seed_secret(aws.client("secretsmanager", moto_server.endpoint), TEST_SECRET,
                    {"pepper": secrets.token_urlsafe(32)})
    aws.seed_secret(aws.client("secretsmanager", moto_server.endpoint), TEST_CALLBACK_SECRET, {})
    caches.reset_caches()
    yield moto_server
    caches.reset_caches()


# The template's time budgets, four times faster: provider calls time out after 2 s, functions after
# 3.75 s, 0.75 s of which are kept to record the outcome (docs/reliability.md, Time budgets).
TIME_SCALE = 1 / 4
TRUID_SLOW_SECONDS = 3.0


@pytest.fixture(scope="session")
def stack() -> Iterator[stacks.Stack]:
    """The sandbox (sandbox/stack.py), one per session: integration and browser tests share it."""
    with stacks.running_stack(time_scale=TIME_SCALE, truid_slow_seconds=TRUID_SLOW_SECONDS,
                              log_level="INFO") as running:
        yield running


def refresh(stack: stacks.Stack) -> None:
    """Put the stack back as a test expects to find it: tru.ID v0.2 in live mode and the default CAMARA client,
    the sandbox's routing and limits, the template's API defaults, closed breakers, no starts counted, no
    Idempotency-Key remembered, no faults and empty request logs."""
    import requests

    stack.configure_truid()
    stack.configure_camara()
    stack.configure_routing()
    stack.configure_limits()
    stack.configure_api()  # the template's defaults: ClientAuth api_key, no CORS origins
    stack.reset_counters()  # closed breakers, no starts counted
    stack.forget_idempotency_records()
    stack.clock.reset()
    for simulator in (stack.truid, stack.camara):
        requests.delete(f"{simulator.base_url}/_sandbox/faults", timeout=5)
    for simulator in (stack.truid, stack.camara, stack.infobip):
        requests.delete(f"{simulator.base_url}/_sandbox/requests", timeout=5)
    requests.delete(f"{stack.truid.base_url}/_sandbox/callback-faults", timeout=5)


@pytest.fixture(scope="session")
def doc() -> dict[str, object]:
    """The committed OpenAPI document (docs/openapi.json)."""
    from tests import openapi_doc

    return openapi_doc.load()


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("POWERTOOLS_DEV", "false")
    # The tests' providers are the sandbox's simulators on 127.0.0.1 over plain http, as in `make run`;
    # tests/unit/test_provider_urls.py unsets it to pin what a deployment (which never sets it) does.
    os.environ.setdefault("SANDBOX_LOOPBACK_PROVIDERS", "true")


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """The functions' log lines, formatted by their own (masking) formatter."""
    from silentcheck.observability import logger

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logging.getLogger(logger.service).addHandler(handler)
    yield stream
    logging.getLogger(logger.service).removeHandler(handler)
