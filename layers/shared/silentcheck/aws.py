"""boto3 clients, created lazily and cached per container (boto3 is imported on first use).

One boto3 session serves every client, and its service models are read through one loader kept for
the container's life: a second client, or a client made again after a SnapStart restore, reuses them."""

from __future__ import annotations

from functools import cache
from typing import Any

# One DynamoDB or Secrets Manager attempt fits in the functions' RECORD_MARGIN_SECONDS (template.yaml), so the
# write that records an outcome gets its first try in full after the provider calls' deadline.
CONNECT_TIMEOUT_SECONDS = 1
READ_TIMEOUT_SECONDS = 2


@cache
def _loader() -> Any:
    from botocore.loaders import create_loader

    return create_loader()


@cache
def session() -> Any:
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    core.register_component("data_loader", _loader())
    return boto3.session.Session(botocore_session=core)


@cache
def client(service: str) -> Any:
    import platform

    import botocore
    from botocore.config import Config

    # Endpoints come from boto3's own AWS_ENDPOINT_URL_* variables, which the sandbox sets. A fixed User-Agent:
    # botocore otherwise builds and sanitises its string twice per request, a fifth of its CPU per request
    # (docs/benchmarks.md, Against tru.ID's dev-server); this one still names the SDK and the runtime.
    config = Config(connect_timeout=CONNECT_TIMEOUT_SECONDS, read_timeout=READ_TIMEOUT_SECONDS,
                    retries={"max_attempts": 3, "mode": "standard"},
                    user_agent=f"silentcheck Botocore/{botocore.__version__} Python/{platform.python_version()}")
    return session().client(service, config=config)


def preload(*services: str) -> None:
    """Read the services' models now (before a SnapStart snapshot), without creating a client or
    resolving credentials."""
    loader = _loader()
    for service in services:
        for kind in ("service-2", "endpoint-rule-set-1"):
            loader.load_service_model(service, kind, api_version=None)  # as botocore's ClientCreator asks
    for data in ("partitions", "sdk-default-configuration", "_retry"):
        loader.load_data(data)


# What botocore's standard mode retries (botocore.retries.standard: throttled and transient errors); when
# one is still coming after the last attempt, the request is answered 503 with Retry-After.
RETRY_LATER_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
    "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown",
    "PriorRequestNotComplete", "RequestTimeout", "RequestTimeoutException",
})
RETRY_LATER_STATUSES = frozenset({429, 500, 502, 503, 504})
# Why DynamoDB cancels a transaction (its CancellationReasons) when the table, not the request, is at fault.
RETRY_LATER_CANCELLATIONS = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded"})


def exhausted(error: BaseException) -> bool:
    """An AWS call that failed, after every attempt the client makes, for a reason worth retrying later:
    throttled, the service failing, or not answering at all."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(error, ClientError):
        reasons = {reason.get("Code") for reason in error.response.get("CancellationReasons", [])}
        if reasons & RETRY_LATER_CANCELLATIONS:  # a transaction cancelled because the table throttled it
            return True
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return error.response.get("Error", {}).get("Code") in RETRY_LATER_CODES or status in RETRY_LATER_STATUSES
    return isinstance(error, ConnectionError | HTTPClientError)


def reset() -> None:
    """Forget the clients and the session, with the credentials they hold (the models stay loaded)."""
    client.cache_clear()
    session.cache_clear()
