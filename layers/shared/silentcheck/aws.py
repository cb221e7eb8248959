"""boto3 clients, created lazily and cached per container (boto3 is imported on first use).

One boto3 session serves every client, and its service models are read through one loader kept for
the container's life: a second client, or a client made again after a SnapStart restore, reuses them."""

from __future__ import annotations

from functools import cache
from typing import Any


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
    from botocore.config import Config

    # Endpoints come from boto3's own AWS_ENDPOINT_URL_* variables, which the sandbox sets.
    config = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"})
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


def reset() -> None:
    """Forget the clients and the session, with the credentials they hold (the models stay loaded)."""
    client.cache_clear()
    session.cache_clear()
