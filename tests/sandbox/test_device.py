"""The simulated phone opening URLs over real HTTP on loopback, against small throwaway WSGI apps."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qs, quote

import pytest
import requests

from sandbox.device import Phone
from sandbox.httpserver import WSGIApp
from sandbox.simulators.network_client import redeem_continuation, register_partner
from tests.servers import SwappableServer

StartResponse = Callable[..., Any]


@pytest.fixture(scope="module")
def site_server() -> Iterator[SwappableServer]:
    server = SwappableServer()
    yield server
    server.stop()


@pytest.fixture
def site(site_server: SwappableServer) -> Callable[[WSGIApp], str]:
    """Serves a throwaway app for this test and gives its base URL."""
    return site_server.serve


@pytest.fixture
def phone(network_url: str) -> Phone:
    return Phone.join(network_url, "+447400900002")


def respond(
    start_response: StartResponse, status: str, body: Any = "", headers: list[tuple[str, str]] | None = None
) -> list[bytes]:
    if isinstance(body, str):
        encoded, content_type = body.encode(), "text/plain"
    else:
        encoded, content_type = json.dumps(body).encode(), "application/json"
    start_response(status, [("Content-Type", content_type), *(headers or [])])
    return [encoded]


def redirect(start_response: StartResponse, location: str, status: str = "302 Found") -> list[bytes]:
    return respond(start_response, status, headers=[("Location", location)])


def recording(requests_seen: list[dict[str, Any]], app: WSGIApp) -> WSGIApp:
    def record(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        requests_seen.append(dict(environ))
        return app(environ, start_response)

    return record


def countdown(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    """`/hops/N` redirects to `/hops/N-1`; `/hops/0` answers 200."""
    left = int(environ["PATH_INFO"].removeprefix("/hops/"))
    if left == 0:
        return respond(start_response, "200 OK", {"done": True})
    return redirect(start_response, f"/hops/{left - 1}")


def echo(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    return respond(start_response, "200 OK", {"remote_addr": environ["REMOTE_ADDR"]})


def test_phone_joins_the_network_with_an_address_for_its_sim(network_url: str) -> None:
    phone = Phone.join(network_url, "+447400900002")

    assert (phone.ip, phone.sim, phone.bearer, phone.network_id) == ("127.64.0.1", "+447400900002", "cellular", "23410")


def test_phone_join_fails_loudly_when_the_network_refuses(network_url: str) -> None:
    with pytest.raises(requests.HTTPError):
        Phone.join(network_url, "07400900002")


def test_phone_connects_from_its_own_address(phone: Phone, site: Callable[[WSGIApp], str]) -> None:
    result = phone.open(site(echo) + "/")

    assert result.json == {"remote_addr": phone.ip}


def test_wifi_phone_connects_from_its_wifi_address(network_url: str, site: Callable[[WSGIApp], str]) -> None:
    phone = Phone.join(network_url, "+447400900002", bearer="wifi")

    assert phone.open(site(echo) + "/").json == {"remote_addr": "127.192.0.1"}


def test_phone_sends_the_sdk_headers(phone: Phone, site: Callable[[WSGIApp], str]) -> None:
    seen: list[dict[str, Any]] = []

    phone.open(site(recording(seen, echo)) + "/")

    assert seen[0]["HTTP_ACCEPT"] == "application/json"
    assert seen[0]["HTTP_USER_AGENT"] == "silentcheck-sandbox-phone/1"
    uuid.UUID(seen[0]["HTTP_X_TRU_SDK_REQUEST"])


def test_phone_sends_one_sdk_request_id_per_open(phone: Phone, site: Callable[[WSGIApp], str]) -> None:
    seen: list[dict[str, Any]] = []
    base = site(recording(seen, countdown))

    phone.open(base + "/hops/1")
    phone.open(base + "/hops/0")

    ids = [environ["HTTP_X_TRU_SDK_REQUEST"] for environ in seen]
    assert ids[0] == ids[1] != ids[2]


def test_phone_follows_redirects_and_records_every_hop(phone: Phone, site: Callable[[WSGIApp], str]) -> None:
    base = site(countdown)

    result = phone.open(base + "/hops/2")

    assert (result.status, result.url, result.json, result.error) == (200, base + "/hops/0", {"done": True}, None)
    assert [(hop.method, hop.url, hop.status, hop.location) for hop in result.hops] == [
        ("GET", base + "/hops/2", 302, "/hops/1"),
        ("GET", base + "/hops/1", 302, "/hops/0"),
        ("GET", base + "/hops/0", 200, None),
    ]


def test_phone_follows_at_most_ten_redirects(phone: Phone, site: Callable[[WSGIApp], str]) -> None:
    base = site(countdown)

    ten = phone.open(base + "/hops/10")
    eleven = phone.open(base + "/hops/11")

    assert (ten.status, ten.error) == (200, None)
    assert eleven.error == "sdk_redirect_error"
    assert len(eleven.hops) == 11


@pytest.mark.parametrize(
    "status",
    ["301 Moved Permanently", "302 Found", "303 See Other", "307 Temporary Redirect", "308 Permanent Redirect"],
)
def test_phone_follows_every_redirect_status_with_a_get(
    phone: Phone, site: Callable[[WSGIApp], str], status: str
) -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        if environ["PATH_INFO"] == "/start":
            return redirect(start_response, "/end", status)
        return respond(start_response, "200 OK", {"method": environ["REQUEST_METHOD"]})

    result = phone.open(site(app) + "/start")

    assert (result.status, result.json) == (200, {"method": "GET"})


def test_phone_resolves_relative_redirects(phone: Phone, site: Callable[[WSGIApp], str]) -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        path = environ["PATH_INFO"]
        if path == "/a/b/start":
            return redirect(start_response, "next?step=2")
        if path == "/a/b/next":
            return redirect(start_response, "../../end")
        return respond(start_response, "200 OK", {"path": path})

    base = site(app)
    result = phone.open(base + "/a/b/start")

    assert [hop.url for hop in result.hops] == [base + "/a/b/start", base + "/a/b/next?step=2", base + "/end"]


def test_phone_keeps_cookies_across_hops(phone: Phone, site: Callable[[WSGIApp], str]) -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        if environ["PATH_INFO"] == "/mno/start":
            return respond(
                start_response, "302 Found", headers=[("Location", "/mno/continue"), ("Set-Cookie", "mno=abc; Path=/")]
            )
        if "mno=abc" not in environ.get("HTTP_COOKIE", ""):
            return respond(start_response, "403 Forbidden", {"error": "cookie missing"})
        return respond(start_response, "200 OK", {"ok": True})

    result = phone.open(site(app) + "/mno/start")

    assert (result.status, result.json) == (200, {"ok": True})


def test_phone_starts_every_open_without_cookies(phone: Phone, site: Callable[[WSGIApp], str]) -> None:
    seen: list[dict[str, Any]] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        return respond(start_response, "200 OK", headers=[("Set-Cookie", "mno=abc; Path=/")])

    base = site(recording(seen, app))
    phone.open(base + "/")
    phone.open(base + "/")

    assert "HTTP_COOKIE" not in seen[1]


@pytest.mark.parametrize(
    "url", ["https://example.com/check", "http://10.0.0.1/check", "http://127.0.0.1@evil.example/"]
)
def test_phone_refuses_to_open_a_url_off_loopback(phone: Phone, url: str) -> None:
    result = phone.open(url)

    assert (result.status, result.error, result.hops) == (None, "sdk_error", [])


def test_phone_refuses_schemes_other_than_http_and_https(phone: Phone) -> None:
    assert phone.open("ftp://127.0.0.1/check").error == "sdk_error"


def test_phone_refuses_a_redirect_off_loopback(phone: Phone, site: Callable[[WSGIApp], str]) -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        return redirect(start_response, "https://evil.example/steal")

    result = phone.open(site(app) + "/")

    assert result.error == "sdk_redirect_error"
    assert len(result.hops) == 1


def test_phone_treats_a_redirect_without_location_as_an_error(phone: Phone, site: Callable[[WSGIApp], str]) -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        return respond(start_response, "302 Found")

    assert phone.open(site(app) + "/").error == "sdk_redirect_error"


def test_phone_reports_a_connection_error_when_nothing_listens(phone: Phone) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    result = phone.open(f"http://127.0.0.1:{closed_port}/check")

    assert (result.status, result.error) == (None, "sdk_connection_error")


def test_phone_gives_up_on_a_hop_that_does_not_answer_in_time(phone: Phone, site: Callable[[WSGIApp], str]) -> None:
    answer = threading.Event()

    def slow(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        answer.wait(5)  # answers only after the phone has given up
        return respond(start_response, "200 OK")

    result = dataclasses.replace(phone, hop_timeout=0.2).open(site(slow) + "/")
    answer.set()

    assert result.error == "sdk_connection_error"


def test_phone_leaves_json_empty_when_the_body_is_not_json(phone: Phone, site: Callable[[WSGIApp], str]) -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        return respond(start_response, "200 OK", "<html>done</html>")

    result = phone.open(site(app) + "/")

    assert (result.body, result.json) == ("<html>done</html>", None)


def test_cellular_phone_passing_header_enrichment_is_known_by_its_sim(
    network_url: str, phone: Phone, site: Callable[[WSGIApp], str]
) -> None:
    def provider(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        query = parse_qs(environ["QUERY_STRING"])
        seen = redeem_continuation(network_url, query["session"][0], query["continuation"][0])
        return respond(start_response, "200 OK", seen)

    return_to = site(provider) + "/return"
    register_partner(network_url, return_to)
    result = phone.open(f"{network_url}/he/authorize?session=s-1&return_to={quote(return_to, safe='')}")

    assert result.json == {"session": "s-1", "mobile": True, "msisdn": "+447400900002", "network_id": "23410",
                           "device_ip": phone.ip}
