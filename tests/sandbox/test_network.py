"""The simulated mobile network over real HTTP on loopback, called from the addresses phones would use."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from sandbox.simulators.network import Bearer, MobileNetwork, make_app
from tests.servers import SwappableServer


class Answer:
    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers = response.headers
        raw = response.read()
        self.json: Any = json.loads(raw) if raw else None


def request(
    method: str,
    url: str,
    source_ip: str = "127.0.0.1",
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """One HTTP request whose socket is bound to `source_ip`, as a simulated phone's would be."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5, source_address=(source_ip, 0))
    try:
        payload = json.dumps(body).encode() if body is not None else None
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, path, body=payload, headers=headers or {})
        return Answer(connection.getresponse())
    finally:
        connection.close()


@pytest.fixture(scope="module")
def module_server() -> Iterator[SwappableServer]:
    server = SwappableServer()
    yield server
    server.stop()


@pytest.fixture
def network() -> MobileNetwork:
    return MobileNetwork()


PARTNER_RETURN = "http://127.0.0.1:9/return"  # the provider's registered resume URL


@pytest.fixture
def base_url(network: MobileNetwork, module_server: SwappableServer) -> str:
    network.register_partner(PARTNER_RETURN)
    return module_server.serve(make_app(network))


def join(base_url: str, sim: str, bearer: str = "cellular", **extra: str) -> Answer:
    return request("POST", f"{base_url}/_admin/phones", body={"sim": sim, "bearer": bearer, **extra})


def authorize_url(base_url: str, session: str, return_to: str = PARTNER_RETURN) -> str:
    return f"{base_url}/he/authorize?session={quote(session)}&return_to={quote(return_to, safe='')}"


def continuation_of(answer: Answer) -> str:
    """The one-time continuation the hop handed the device, from the redirect it received."""
    (continuation,) = parse_qs(urlsplit(answer.headers["Location"]).query)["continuation"]
    return continuation


def redeem(base_url: str, session: str, continuation: str) -> Answer:
    return request("POST", f"{base_url}/he/sessions/{session}/redeem", body={"continuation": continuation})


def test_any_127_address_is_local_so_a_phone_can_bind_to_it(module_server: SwappableServer) -> None:
    def echo_remote_addr(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(environ["REMOTE_ADDR"]).encode()]

    url = module_server.serve(echo_remote_addr) + "/"

    assert request("GET", url, source_ip="127.64.0.5").json == "127.64.0.5"


def test_cellular_phones_get_consecutive_addresses_in_the_cellular_range(base_url: str) -> None:
    first = join(base_url, "+447400900002")
    second = join(base_url, "+447400900004")

    assert first.status == 201
    assert first.json == {
        "ip": "127.64.0.1",
        "sim": "+447400900002",
        "bearer": "cellular",
        "network_id": "23410",
    }
    assert second.json["ip"] == "127.64.0.2"


def test_wifi_phones_get_addresses_in_the_wifi_range(base_url: str) -> None:
    answer = join(base_url, "+447400900002", bearer="wifi")

    assert answer.status == 201
    assert answer.json["ip"] == "127.192.0.1"


def test_every_new_network_hands_out_the_same_addresses_in_the_same_order() -> None:
    def addresses(network: MobileNetwork) -> list[str]:
        bearers: list[Bearer] = ["cellular", "wifi", "cellular"]
        return [network.add_phone("+447400900002", bearer).ip for bearer in bearers]

    assert addresses(MobileNetwork()) == addresses(MobileNetwork()) == ["127.64.0.1", "127.192.0.1", "127.64.0.2"]


def test_concurrent_joins_never_share_an_address(network: MobileNetwork) -> None:
    ips: list[str] = []
    lock = threading.Lock()

    def join_many() -> None:
        for _ in range(50):
            ip = network.add_phone("+447400900002").ip
            with lock:
                ips.append(ip)

    threads = [threading.Thread(target=join_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(ips) == len(set(ips)) == 400


@pytest.mark.parametrize("sim", ["447400900002", "+0447400900002", "+4474009000021234567", "", 447400900002])
def test_admin_refuses_a_sim_that_is_not_e164(base_url: str, sim: Any) -> None:
    answer = request("POST", f"{base_url}/_admin/phones", body={"sim": sim})

    assert answer.status == 400
    assert "E.164" in answer.json["detail"]


def test_admin_refuses_an_unknown_bearer(base_url: str) -> None:
    assert join(base_url, "+447400900002", bearer="satellite").status == 400


def test_lines_reports_the_sim_and_operator_behind_a_cellular_address(base_url: str) -> None:
    ip = join(base_url, "+447400900002").json["ip"]

    answer = request("GET", f"{base_url}/lines/{ip}")

    assert answer.status == 200
    assert answer.json == {
        "ip": ip,
        "mobile": True,
        "msisdn": "+447400900002",
        "network_id": "23410",
        "operator": "O2 UK",
    }


def test_a_phone_can_join_on_another_operator(base_url: str) -> None:
    ip = join(base_url, "+447400900002", network_id="23415").json["ip"]

    line = request("GET", f"{base_url}/lines/{ip}").json

    assert (line["network_id"], line["operator"]) == ("23415", "Vodafone UK")


def test_lines_reports_a_wifi_address_as_not_mobile(base_url: str) -> None:
    ip = join(base_url, "+447400900002", bearer="wifi").json["ip"]

    assert request("GET", f"{base_url}/lines/{ip}").json == {"ip": ip, "mobile": False}


def test_lines_reports_an_unknown_address_as_not_mobile(base_url: str) -> None:
    assert request("GET", f"{base_url}/lines/127.64.9.9").json == {"ip": "127.64.9.9", "mobile": False}


def test_network_identifies_a_cellular_phone_by_its_source_address(base_url: str) -> None:
    ip = join(base_url, "+447400900002").json["ip"]
    join(base_url, "+447400900004")

    hop = request("GET", authorize_url(base_url, "s-1"), source_ip=ip)
    seen = redeem(base_url, "s-1", continuation_of(hop))

    assert seen.status == 200
    assert seen.json == {"session": "s-1", "mobile": True, "msisdn": "+447400900002", "network_id": "23410",
                         "device_ip": ip}


def test_wifi_phone_is_not_on_mobile_data(base_url: str) -> None:
    ip = join(base_url, "+447400900002", bearer="wifi").json["ip"]

    hop = request("GET", authorize_url(base_url, "s-1"), source_ip=ip)

    assert redeem(base_url, "s-1", continuation_of(hop)).json == {"session": "s-1", "mobile": False, "device_ip": ip}


def test_he_authorize_redirects_to_the_registered_url_with_the_session_and_a_continuation(base_url: str) -> None:
    answer = request("GET", authorize_url(base_url, "s-1"))

    assert answer.status == 302
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == PARTNER_RETURN
    query = parse_qs(location.query)
    assert (set(query), query["session"]) == ({"session", "continuation"}, ["s-1"])
    assert len(query["continuation"][0]) >= 32


def test_each_hop_hands_its_device_a_fresh_continuation(base_url: str) -> None:
    first = continuation_of(request("GET", authorize_url(base_url, "s-1")))
    second = continuation_of(request("GET", authorize_url(base_url, "s-2")))

    assert first != second


@pytest.mark.parametrize("return_to", [
    "http://127.0.0.1:9/other",  # loopback, but not the URL the partner registered
    "http://127.0.0.1:9/return?session=s-0",
    "http://127.0.0.1:10/return",
])
def test_he_authorize_refuses_a_return_to_no_partner_registered(base_url: str, return_to: str) -> None:
    answer = request("GET", authorize_url(base_url, "s-1", return_to))

    assert answer.status == 400
    assert "Location" not in answer.headers


@pytest.mark.parametrize("return_to", ["https://evil.example/cb", "http://127.0.0.1:9/cb?x=1", "", 7])
def test_a_partner_url_must_be_loopback_without_a_query(base_url: str, return_to: Any) -> None:
    assert request("POST", f"{base_url}/_admin/partners", body={"return_to": return_to}).status == 400


@pytest.mark.parametrize(
    "return_to",
    [
        "https://evil.example/cb",
        "http://127.0.0.1@evil.example/cb",
        "http://127.0.0.1\\@evil.example/cb",
        "http://10.0.0.1/cb",
        "javascript:alert(1)",
        "//127.0.0.1/cb",
        "",
    ],
)
def test_he_authorize_refuses_to_redirect_off_loopback(base_url: str, return_to: str) -> None:
    answer = request("GET", authorize_url(base_url, "s-1", return_to))

    assert answer.status == 400
    assert "Location" not in answer.headers
    assert request("GET", authorize_url(base_url, "s-1")).status == 302  # the session was not recorded


def test_he_authorize_sets_an_mno_session_cookie(base_url: str) -> None:
    answer = request("GET", authorize_url(base_url, "s-1"))

    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("mno_session=")
    assert len(cookie.split(";")[0].removeprefix("mno_session=")) >= 16


def test_he_authorize_keeps_the_mno_cookie_the_device_sends_back(base_url: str) -> None:
    first = request("GET", authorize_url(base_url, "s-1")).headers["Set-Cookie"].split(";")[0]

    again = request("GET", authorize_url(base_url, "s-2"), headers={"Cookie": first})

    assert again.status == 302
    assert again.headers["Set-Cookie"].split(";")[0] == first


def test_a_continuation_is_redeemed_once(base_url: str) -> None:
    continuation = continuation_of(request("GET", authorize_url(base_url, "s-1")))

    redemptions = [redeem(base_url, "s-1", continuation) for _ in range(3)]

    assert [answer.status for answer in redemptions] == [200, 404, 404]


def test_the_session_alone_redeems_nothing(base_url: str) -> None:
    request("GET", authorize_url(base_url, "s-1"))

    assert redeem(base_url, "s-1", "").status == 404
    assert redeem(base_url, "s-1", "not-the-continuation-the-device-got").status == 404
    assert request("GET", f"{base_url}/he/sessions/s-1").status == 404  # no reading a session by its name


def test_another_sessions_continuation_redeems_nothing(base_url: str) -> None:
    request("GET", authorize_url(base_url, "s-1"))
    other = continuation_of(request("GET", authorize_url(base_url, "s-2")))

    assert redeem(base_url, "s-1", other).status == 404


def test_unknown_he_session_is_not_found(base_url: str) -> None:
    assert redeem(base_url, "never-seen", "anything").status == 404


def test_a_second_device_cannot_overwrite_a_recorded_session(base_url: str) -> None:
    first_ip = join(base_url, "+447400900002").json["ip"]
    second_ip = join(base_url, "+447400900004").json["ip"]
    hop = request("GET", authorize_url(base_url, "s-1"), source_ip=first_ip)

    replay = request("GET", authorize_url(base_url, "s-1"), source_ip=second_ip)

    assert replay.status == 409
    assert redeem(base_url, "s-1", continuation_of(hop)).json["msisdn"] == "+447400900002"
