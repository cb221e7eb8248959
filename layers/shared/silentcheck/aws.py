"""boto3 clients, created lazily and cached per container (boto3 is imported on first use)."""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    # Endpoints come from boto3's own AWS_ENDPOINT_URL_* variables, which the sandbox sets.
    config = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"})
    session: Any = boto3.session.Session()
    return session.client(service, config=config)


def reset() -> None:
    client.cache_clear()
