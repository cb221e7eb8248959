"""The shared HTTP session for provider calls: always a timeout, retries only where safe, and every call
of one invocation within that invocation's deadline (see docs/reliability.md, Time budgets)."""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from silentcheck.config import settings
from silentcheck.errors import ProviderNotConfigured

if TYPE_CHECKING:
    import requests

# A call with less time than this left is not made: it could not get an answer and would only bill.
MIN_CALL_SECONDS = 0.1
# Far above any answer a provider documents (a check, a token, discovery, a JWKS: a few KB); a body past
# it is not read further, so a hostile or broken endpoint cannot fill the function's memory.
MAX_RESPONSE_BYTES = 256 * 1024

_deadline: ContextVar[float | None] = ContextVar("provider_deadline", default=None)


class ProviderUnavailable(Exception):
    """The provider did not answer usably: timeout, connection failure, or a body past MAX_RESPONSE_BYTES
    (never an HTTP status)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind  # "timeout" | "connection" | "too_large"


@contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Every provider call inside must be answered within `seconds` from now (None: per-call timeouts only)."""
    token = _deadline.set(None if seconds is None else time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left before this invocation's deadline, or None outside one."""
    at = _deadline.get()
    return None if at is None else at - time.monotonic()


@cache
def session() -> requests.Session:
    from urllib.request import getproxies  # what requests asks, per request, when trust_env is on

    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    # One retry on connection failures for idempotent reads; never for POST/PATCH, which may have landed. An
    # answer is never retried nor raised, whatever its status: a 429 or 503 with Retry-After is the adapter's
    # to read (urllib3 would otherwise count it as a status retry and raise once none is left).
    retry = Retry(total=1, connect=1, read=0, status=0, allowed_methods=frozenset({"GET"}), backoff_factor=0.2,
                  respect_retry_after_header=False, raise_on_status=False)
    s = requests.Session()
    s.mount("https://", HTTPAdapter(max_retries=retry, pool_maxsize=10))
    s.mount("http://", HTTPAdapter(max_retries=retry, pool_maxsize=10))
    s.headers["User-Agent"] = "silentcheck/0.1"
    # With trust_env, requests reads the environment on every request: every variable for a proxy, ~/.netrc for
    # credentials, the CA-bundle variables (in the sandbox a fifth of a provider request's CPU: docs/benchmarks.md).
    # A container's environment does not change, so without a proxy variable it is read here once; with one,
    # requests goes on reading it per request and HTTPS_PROXY and NO_PROXY work as requests documents them.
    if not getproxies():
        s.trust_env = False  # and no credentials from a ~/.netrc: each adapter sends its own
        s.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return s


def _timeout() -> float:
    """The per-call timeout, cut to what is left of the deadline; too little left is a timeout already."""
    timeout = settings().provider_timeout_seconds
    left = remaining()
    if left is None:
        return timeout
    if left < MIN_CALL_SECONDS:
        raise ProviderUnavailable("timeout")
    return min(timeout, left)


def send(method: str, url: str, **kwargs: Any) -> requests.Response:
    """One provider request within the per-call timeout and the invocation's deadline (connect and read
    together), its body streamed and capped at MAX_RESPONSE_BYTES; network failures, a spent deadline and
    an oversized body become ProviderUnavailable."""
    import requests
    from urllib3.util import Timeout

    timeout = _timeout()
    until = time.monotonic() + timeout
    kwargs.setdefault("allow_redirects", False)
    try:
        # total: connecting and reading the headers share the one allowance; the body is read below.
        total: Any = Timeout(total=timeout)  # requests passes a urllib3 Timeout through (types say float)
        response = session().request(method, url, timeout=total, stream=True, **kwargs)
        with response:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
                raise ProviderUnavailable("too_large")
            chunks, size = [], 0
            for chunk in response.iter_content(16384):  # decoded: a compressed body is capped as it inflates
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise ProviderUnavailable("too_large")
                if time.monotonic() > until:  # a provider trickling its answer gets no more time
                    raise requests.Timeout()
            response._content = b"".join(chunks)
    except requests.Timeout:
        raise ProviderUnavailable("timeout") from None
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError) as error:  # refused, reset, or an answer cut short
        raise ProviderUnavailable("timeout" if _timed_out(error) else "connection") from None
    return response


def _timed_out(error: Exception) -> bool:
    """requests reports some timeouts as ConnectionError: a read timing out in the body, or one that
    used up the GET retry (urllib3's MaxRetryError wrapping a timeout)."""
    from urllib3.exceptions import TimeoutError as Urllib3Timeout

    cause = error.args[0] if error.args else None
    return isinstance(cause, Urllib3Timeout) or isinstance(getattr(cause, "reason", None), Urllib3Timeout)


def is_secure_url(url: str, loopback_http: bool | None = None) -> bool:
    """https; plain http only to a loopback host (127.0.0.0/8, ::1, localhost: the sandbox's simulators) and
    only where `loopback_http` (by default the SANDBOX_LOOPBACK_PROVIDERS setting) allows it. Anything
    else would carry client secrets, tokens and numbers in clear, or reach what listens on loopback."""
    if loopback_http is None:
        loopback_http = settings().sandbox_loopback_providers
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if not host:
        return False
    if parts.scheme == "https":
        return True
    return loopback_http and parts.scheme == "http" and is_loopback_host(host)


def is_loopback_host(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1."""
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
        raise ProviderNotConfigured(f"{setting} must be an https URL (plain http only to a loopback host, and "
                                    "only in the sandbox: SANDBOX_LOOPBACK_PROVIDERS); fix it in the provider secret")
    return url


def reset() -> None:
    session.cache_clear()
