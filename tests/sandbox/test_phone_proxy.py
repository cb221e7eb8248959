"""The phone proxy (sandbox/web/phone.py): a browser's requests leave from the phone's line, one hop at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
import requests

from sandbox.httpserver import RunningServer, serve
from sandbox.simulators import network as network_sim
from sandbox.web.phone import CONTROL_URL, PhoneProxy, start_phone_proxy


def _echo(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Answers with the caller's address; /away redirects to /here."""
    if environ["PATH_INFO"] == "/away":
        start_response("302 Found", [("Location", "/here"), ("Content-Length", "0")])
        return [b""]
    body = str(environ["REMOTE_ADDR"]).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[RunningServer, RunningServer]]:
    network, echo = serve(network_sim.make_app(network_sim.MobileNetwork())), serve(_echo)
    yield network, echo
    network.stop()
    echo.stop()


@pytest.fixture
def proxy(servers: tuple[RunningServer, RunningServer]) -> Iterator[PhoneProxy]:
    running = start_phone_proxy(servers[0].base_url)
    yield running
    running.stop()


def _through(proxy: PhoneProxy) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.proxies = {"http": proxy.url}
    return session


def test_requests_leave_from_the_address_the_network_gave_the_phone(proxy, servers):
    with _through(proxy) as browser:
        phone = browser.put(f"{CONTROL_URL}/phone", json={"sim": "+447400900002", "bearer": "cellular"}, timeout=5)
        seen = browser.get(f"{servers[1].base_url}/here", timeout=5)

    assert seen.text == phone.json()["ip"]
    assert requests.get(f"{servers[0].base_url}/lines/{seen.text}", timeout=5).json()["msisdn"] == "+447400900002"


def test_the_proxy_hands_redirects_to_the_browser_and_logs_each_hop(proxy, servers):
    with _through(proxy) as browser:
        answer = browser.get(f"{servers[1].base_url}/away", allow_redirects=False, timeout=5)
        log = browser.get(f"{CONTROL_URL}/log", timeout=5).json()["hops"]

    assert (answer.status_code, answer.headers["Location"]) == (302, "/here")
    assert [(hop["url"], hop["status"], hop["location"]) for hop in log] == [
        (f"{servers[1].base_url}/away", 302, "/here")]


def test_the_phone_reaches_nothing_beyond_loopback(proxy):
    with _through(proxy) as browser:
        refused = browser.get("http://example.com/", timeout=5)
        log = browser.get(f"{CONTROL_URL}/log", timeout=5).json()["hops"]

    assert (refused.status_code, refused.json()["error"], log) == (403, "not_loopback", [])


def test_a_sim_that_is_not_a_number_is_refused_with_the_networks_reason(proxy):
    with _through(proxy) as browser:
        refused = browser.put(f"{CONTROL_URL}/phone", json={"sim": "07700 900002"}, timeout=5)
        phone = browser.get(f"{CONTROL_URL}/phone", timeout=5).json()

    assert refused.status_code == 400
    assert "E.164" in refused.json()["detail"]
    assert phone["sim"] is None
