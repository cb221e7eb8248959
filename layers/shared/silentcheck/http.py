"""The shared HTTP session for provider calls: always a timeout, retries only where safe."""

from __future__ import annotations

import ipaddress
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from silentcheck.errors import ProviderNotConfigured
from silentcheck.settings import settings

if TYPE_CHECKING:
    import requests


class ProviderUnavailable(Exception):
    """The provider did not answer: timeout or connection failure (never an HTTP status)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind  # "timeout" | "connection"


@cache
def session() -> requests.Session:
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    # One retry on connection failures for idempotent reads; never for POST/PATCH, which may have landed.
    retry = Retry(total=1, connect=1, read=0, status=0, allowed_methods=frozenset({"GET"}), backoff_factor=0.2)
    s = requests.Session()
    s.mount("https://", HTTPAdapter(max_retries=retry, pool_maxsize=10))
    s.mount("http://", HTTPAdapter(max_retries=retry, pool_maxsize=10))
    s.headers["User-Agent"] = "silentcheck/0.1"
    return s


def send(method: str, url: str, **kwargs: Any) -> requests.Response:
    """One provider request with the configured timeout; network failures become ProviderUnavailable."""
    import requests

    kwargs.setdefault("timeout", settings().provider_timeout_seconds)
    kwargs.setdefault("allow_redirects", False)
    try:
        return session().request(method, url, **kwargs)
    except requests.Timeout:
        raise ProviderUnavailable("timeout") from None
    except requests.ConnectionError:
        raise ProviderUnavailable("connection") from None


def is_secure_url(url: str) -> bool:
    """https, or plain http to a loopback host (127.0.0.0/8, ::1, localhost: the sandbox's simulators).
    Anything else would carry client secrets, tokens and numbers in clear."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if not host:
        return False
    if parts.scheme == "https":
        return True
    if parts.scheme != "http":
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secure_url(url: str, setting: str) -> str:
    """`url` when is_secure_url; otherwise ProviderNotConfigured naming the setting, not the URL (which
    may carry credentials)."""
    if not is_secure_url(url):
        raise ProviderNotConfigured(f"{setting} must be an https URL (plain http only to a loopback host such "
                                    "as the sandbox's simulators); fix it in the provider secret")
    return url


def reset() -> None:
    session.cache_clear()
