"""silentcheck.provider_http: every provider call ends within its per-call timeout and within the invocation's
deadline, counting connect, headers and body together."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from sandbox.httpserver import serve
from silentcheck import config, provider_http

SLOW_SECONDS = 3.0  # how long the slow server takes; every deadline below is far shorter
# A call cut to a 0.15 s deadline returns well within this, with room for a loaded machine's scheduling.
GAVE_UP_WITHIN = SLOW_SECONDS / 3


def _app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    calls.append(str(environ["PATH_INFO"]))
    if environ["PATH_INFO"] == "/slow":
        time.sleep(SLOW_SECONDS)
    if environ["PATH_INFO"] == "/trickle":
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "12")])
        return _trickle()
    if environ["PATH_INFO"] == "/huge":  # declares its size
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(HUGE)))])
        return [HUGE]
    if environ["PATH_INFO"] == "/endless":  # no Content-Length: chunk after chunk, never ending on its own
        start_response("200 OK", [("Content-Type", "application/json")])
        return _endless()
    if environ["PATH_INFO"] in ("/429", "/503"):  # a rate limit or an outage that says when to come back
        start_response(f"{environ['PATH_INFO'][1:]} Busy",
                       [("Content-Type", "application/json"), ("Retry-After", "30")])
        return [b'{"busy": true}']
    if environ["PATH_INFO"] == "/inflating":  # small on the wire, huge once decoded
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Encoding", "gzip"),
                                  ("Content-Length", str(len(INFLATING)))])
        return [INFLATING]
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b'{"ok": true}']


def _trickle() -> Iterator[bytes]:
    for part in (b'{"ok"', b": tr", b"ue}"):
        yield part
        time.sleep(SLOW_SECONDS / 3)


calls: list[str] = []
HUGE = b"[" + b"0," * 1024 * 1024 + b"0]"  # 2 MiB: far past any answer a provider sends
INFLATING = gzip.compress(HUGE)


def _endless() -> Iterator[bytes]:
    while True:
        yield b" " * 65536


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = serve(_app)
    yield server.base_url
    server.stop()


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {"TABLE_NAME": "checks", "SECRET_ID": "secret", "CALLBACK_SECRET_ID": "callback-secret",
                        "PROVIDER_TIMEOUT_SECONDS": "5"}.items():
        monkeypatch.setenv(name, value)
    config.reset()
    calls.clear()
    yield
    config.reset()


def _timed(call: Callable[[], Any]) -> float:
    started = time.monotonic()
    with pytest.raises(provider_http.ProviderUnavailable) as raised:
        call()
    assert raised.value.kind == "timeout"
    return time.monotonic() - started


def test_a_call_inside_a_deadline_is_cut_to_what_is_left_of_it(base_url: str) -> None:
    with provider_http.deadline(0.15):
        elapsed = _timed(lambda: provider_http.send("GET", f"{base_url}/slow"))
    assert elapsed < GAVE_UP_WITHIN


def test_a_call_with_too_little_left_is_a_timeout_without_a_request(base_url: str) -> None:
    with provider_http.deadline(provider_http.MIN_CALL_SECONDS / 2):
        _timed(lambda: provider_http.send("GET", f"{base_url}/fast"))
    assert calls == []


def test_an_answer_trickling_past_the_deadline_is_a_timeout(base_url: str) -> None:
    with provider_http.deadline(0.15):
        elapsed = _timed(lambda: provider_http.send("GET", f"{base_url}/trickle"))
    assert elapsed < GAVE_UP_WITHIN


def test_the_deadline_is_only_this_invocations(base_url: str) -> None:
    seen: list[float | None] = []
    with provider_http.deadline(0.15):
        other = threading.Thread(target=lambda: seen.append(provider_http.remaining()))
        other.start()
        other.join()
    assert seen == [None] and provider_http.remaining() is None


def test_an_answer_in_time_is_read_whole(base_url: str) -> None:
    with provider_http.deadline(2):
        response = provider_http.send("GET", f"{base_url}/fast")
    assert response.json() == {"ok": True}


@pytest.mark.parametrize("path", ["/huge", "/endless", "/inflating"])
def test_a_body_past_the_size_cap_is_not_read_and_counts_as_no_answer(base_url: str, path: str) -> None:
    with pytest.raises(provider_http.ProviderUnavailable) as raised:
        provider_http.send("GET", f"{base_url}{path}")
    assert raised.value.kind == "too_large"


@pytest.mark.parametrize("status", [429, 503])
def test_a_read_answered_with_retry_after_is_handed_back_once_not_retried_or_raised(base_url: str, status: int) -> None:
    response = provider_http.send("GET", f"{base_url}/{status}")

    assert (response.status_code, response.headers["Retry-After"]) == (status, "30")
    assert calls == [f"/{status}"]


@pytest.fixture
def without_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No *_proxy variable in the environment, and a session made anew for the test and after it."""
    import os

    for name in [n for n in os.environ if n.lower().endswith("_proxy")]:
        monkeypatch.delenv(name)
    provider_http.reset()
    yield monkeypatch
    provider_http.reset()


def test_without_a_proxy_variable_the_environment_is_read_once_per_container_not_per_request(
        base_url: str, without_proxy_variables: pytest.MonkeyPatch) -> None:
    import requests.sessions

    read: list[str] = []

    def counted(name: str) -> Callable[..., Any]:
        original = getattr(requests.sessions, name)

        def reading(*args: Any, **kwargs: Any) -> Any:
            read.append(name)
            return original(*args, **kwargs)
        return reading

    for name in ("get_environ_proxies", "get_netrc_auth"):  # what requests calls per request with trust_env
        without_proxy_variables.setattr(requests.sessions, name, counted(name))

    provider_http.send("GET", f"{base_url}/fast")
    provider_http.send("GET", f"{base_url}/fast")

    assert read == [] and calls == ["/fast", "/fast"]


def test_a_ca_bundle_variable_is_still_the_sessions_trust_store(without_proxy_variables: pytest.MonkeyPatch) -> None:
    without_proxy_variables.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/provider-ca.pem")

    # what requests verifies an https request against (Session.request merges it for every call)
    settings = provider_http.session().merge_environment_settings("https://provider.example/", {}, None, None, None)

    assert settings["verify"] == "/etc/ssl/certs/provider-ca.pem"


def test_a_proxy_variable_sends_provider_requests_through_that_proxy(
        base_url: str, without_proxy_variables: pytest.MonkeyPatch) -> None:
    proxied: list[str] = []

    def proxy(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        proxied.append(str(environ["PATH_INFO"]))  # the absolute URL a proxy is asked for
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"via": "proxy"}']

    server = serve(proxy)
    try:
        without_proxy_variables.setenv("HTTP_PROXY", server.base_url)
        response = provider_http.send("GET", f"{base_url}/fast")
    finally:
        server.stop()

    assert response.json() == {"via": "proxy"} and proxied == [f"{base_url}/fast"] and calls == []


def test_a_host_in_no_proxy_is_reached_directly_despite_a_proxy_variable(
        base_url: str, without_proxy_variables: pytest.MonkeyPatch) -> None:
    without_proxy_variables.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    without_proxy_variables.setenv("NO_PROXY", "127.0.0.1")

    response = provider_http.send("GET", f"{base_url}/fast")

    assert response.json() == {"ok": True} and calls == ["/fast"]
