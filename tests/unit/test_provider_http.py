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

SLOW_SECONDS = 0.6  # how long the slow server takes; every deadline below is far shorter


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
    assert elapsed < SLOW_SECONDS / 2


def test_a_call_with_too_little_left_is_a_timeout_without_a_request(base_url: str) -> None:
    with provider_http.deadline(provider_http.MIN_CALL_SECONDS / 2):
        _timed(lambda: provider_http.send("GET", f"{base_url}/fast"))
    assert calls == []


def test_an_answer_trickling_past_the_deadline_is_a_timeout(base_url: str) -> None:
    with provider_http.deadline(0.15):
        elapsed = _timed(lambda: provider_http.send("GET", f"{base_url}/trickle"))
    assert elapsed < SLOW_SECONDS / 2


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
