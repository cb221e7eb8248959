"""The simulated Infobip SMV API over real HTTP on loopback, beside the simulated mobile network, with a
small receiver standing in for our callback endpoint and the app's returnUrl."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from sandbox.device import Phone, bound_session
from sandbox.simulators import network as network_sim
from sandbox.simulators.infobip import RESUME_PATH, InfobipConfig, InfobipSimulator, make_app
from sandbox.simulators.infobip.callbacks import USER_AGENT
from sandbox.simulators.network_client import register_partner
from tests.servers import SwappableServer

API_KEY = "sandbox-infobip-key"
UK_NUMBER, UK_SIM = "447400900002", "+447400900002"
OTHER_SIM = "+447400900013"
BR_NUMBER, BR_SIM = "5511987650002", "+5511987650002"
VERIFY = "/mi/verification/1/verify"
OMIT = object()
CALLBACK_WAIT_SECONDS = 3.0


# -- the receiving side: our callback endpoint and the app's return page --------------------------

class Receiver:
    """Records every request in arrival order; `/cb…` answers 500 `fail_first` times, then 200."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.fail_first = 0
        self.base_url = ""
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length).decode() if length else ""
        entry = {"method": environ["REQUEST_METHOD"], "path": environ["PATH_INFO"],
                 "query": environ.get("QUERY_STRING", ""), "content_type": environ.get("CONTENT_TYPE", ""),
                 "body": body}
        with self._lock:
            self.seen.append(entry)
            failing = entry["path"].startswith("/cb") and self.fail_first > 0
            self.fail_first -= failing
        start_response("500 Internal Server Error" if failing else "200 OK", [("Content-Type", "text/plain")])
        return [b"fail" if failing else b"ok"]

    @property
    def callback_url(self) -> str:
        return f"{self.base_url}/cb/capability-7f3a"

    @property
    def return_url(self) -> str:
        return f"{self.base_url}/return?flow=signup"

    def paths(self) -> list[str]:
        with self._lock:
            return [entry["path"] for entry in self.seen]

    def callbacks(self) -> list[dict[str, Any]]:
        with self._lock:
            return [entry for entry in self.seen if entry["path"].startswith("/cb")]

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(entry["body"]) for entry in self.callbacks()]

    def wait_for_callbacks(self, count: int, timeout: float = CALLBACK_WAIT_SECONDS) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.callbacks()) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.callbacks()


class Clock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Infobip:
    """A running simulator plus the calls a backend and a tester make to it."""

    base_url: str
    simulator: InfobipSimulator
    clock: Clock
    receiver: Receiver
    network_url: str
    http: requests.Session = field(default_factory=requests.Session)

    def verify(self, phone: Any = UK_NUMBER, key: str = API_KEY, **fields: Any) -> requests.Response:
        body = {"phoneNumber": phone, "consentGranted": True, "callbackUrl": self.receiver.callback_url, **fields}
        body = {name: value for name, value in body.items() if value is not OMIT}
        return self.http.post(f"{self.base_url}{VERIFY}", json=body, headers={"Authorization": f"App {key}"},
                              timeout=5)

    def started(self, phone: str = UK_NUMBER, **fields: Any) -> dict[str, Any]:
        response = self.verify(phone, **fields)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def phone(self, sim: str = UK_SIM, bearer: network_sim.Bearer = "cellular") -> Phone:
        return Phone.join(self.network_url, sim, bearer)

    def admin(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.http.request(method, f"{self.base_url}/_sandbox/{path}", timeout=5, **kwargs)

    def plan(self, **plan: Any) -> None:
        response = self.admin("POST", "delivery", json=plan)
        assert response.status_code == 201, response.text

    def attempts(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = self.admin("GET", "callbacks").json()
        return records


def assert_error(response: requests.Response, status: int, error_id: int, name: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"token", "status", "error"} and body["status"] == "ERROR"
    assert uuid.UUID(body["token"]).version == 4
    assert set(body["error"]) == {"id", "name", "description"}
    assert (body["error"]["id"], body["error"]["name"]) == (error_id, name)
    return body


def assert_platform_error(response: requests.Response, status: int, message_id: str) -> None:
    assert response.status_code == status, response.text
    assert set(response.json()) == {"requestError"}
    assert response.json()["requestError"]["serviceException"]["messageId"] == message_id


def callback(token: str, result: str, error: tuple[int, str] | None = None) -> dict[str, Any]:
    """The callback body expected for `token`, compared on the error's id and name."""
    return {"result": result, "token": token, "error": error}


def comparable(body: dict[str, Any]) -> dict[str, Any]:
    error = body["error"]
    return {**body, "error": None if error is None else (error["id"], error["name"])}


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, SwappableServer]]:
    running = {name: SwappableServer() for name in ("network", "infobip", "receiver")}
    yield running
    for server in running.values():
        server.stop()


@pytest.fixture
def make_infobip(servers: dict[str, SwappableServer]) -> Iterator[Callable[..., Infobip]]:
    made: list[Infobip] = []
    network_url = servers["network"].serve(network_sim.make_app(network_sim.MobileNetwork()))
    receiver = Receiver()
    receiver.base_url = servers["receiver"].serve(receiver)

    def make(**overrides: Any) -> Infobip:
        clock = Clock()
        settings: dict[str, Any] = {"callback_retry_seconds": 0.02, "slow_seconds": 0.3, **overrides}
        config = InfobipConfig(network_url=network_url, api_keys=frozenset({API_KEY, "second-key"}), clock=clock,
                               **settings)
        simulator = InfobipSimulator(config)
        infobip = Infobip(servers["infobip"].serve(make_app(simulator)), simulator, clock, receiver, network_url)
        register_partner(network_url, f"{infobip.base_url}{RESUME_PATH}")
        infobip.http.trust_env = False
        made.append(infobip)
        return infobip

    yield make
    for infobip in made:  # a background delivery must not reach the next test's receiver
        assert infobip.simulator.courier.wait_idle(5)
        infobip.http.close()


@pytest.fixture
def infobip(make_infobip: Callable[..., Infobip]) -> Infobip:
    return make_infobip()


# -- authentication and media type ----------------------------------------------------------------

def test_verify_without_authorization_is_unauthorized_in_the_platform_shape(infobip: Infobip) -> None:
    response = infobip.http.post(f"{infobip.base_url}{VERIFY}", json={"phoneNumber": UK_NUMBER})
    assert response.status_code == 401
    assert response.json() == {"requestError": {"serviceException": {
        "messageId": "UNAUTHORIZED", "text": "Invalid login details"}}}


def test_verify_with_an_unknown_api_key_is_unauthorized(infobip: Infobip) -> None:
    assert_platform_error(infobip.verify(key="not-our-key"), 401, "UNAUTHORIZED")


@pytest.mark.parametrize("scheme", ["Bearer", "Basic"])
def test_verify_with_a_known_key_under_another_scheme_is_unauthorized(infobip: Infobip, scheme: str) -> None:
    response = infobip.http.post(f"{infobip.base_url}{VERIFY}", json={"phoneNumber": UK_NUMBER},
                                 headers={"Authorization": f"{scheme} {API_KEY}"})
    assert_platform_error(response, 401, "UNAUTHORIZED")


def test_verify_accepts_every_configured_api_key(infobip: Infobip) -> None:
    assert infobip.verify(key="second-key").status_code == 200


def test_verify_requires_a_json_content_type(infobip: Infobip) -> None:
    response = infobip.http.post(f"{infobip.base_url}{VERIFY}", data="phoneNumber=447400900002",
                                 headers={"Authorization": f"App {API_KEY}",
                                          "Content-Type": "application/x-www-form-urlencoded"})
    assert_platform_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_verify_with_a_body_that_is_not_json_is_unprocessable(infobip: Infobip) -> None:
    response = infobip.http.post(f"{infobip.base_url}{VERIFY}", data="{not json",
                                 headers={"Authorization": f"App {API_KEY}", "Content-Type": "application/json"})
    assert_error(response, 422, 400, "EC_UNPROCESSABLE_CONTENT")


# -- validation of the verify body ----------------------------------------------------------------

@pytest.mark.parametrize("phone", ["+447400900002", "44 7700 900002", "4474009000ab", "0447400900002",
                                   "447400900002123456", 447400900002, OMIT])
def test_verify_rejects_a_phone_number_that_is_not_international_digits(infobip: Infobip, phone: Any) -> None:
    assert_error(infobip.verify(phone), 400, 200, "EC_INVALID_REQUEST")


@pytest.mark.parametrize("consent", [False, "true", 1, None, OMIT])
def test_verify_without_consent_granted_true_is_refused(infobip: Infobip, consent: Any) -> None:
    assert_error(infobip.verify(consentGranted=consent), 400, 202, "EC_CONSENT_NOT_GRANTED")


@pytest.mark.parametrize("url", [OMIT, None, "https://backend.example.com/cb", "ftp://127.0.0.1/cb", "/cb", 7])
def test_verify_requires_a_loopback_http_callback_url(infobip: Infobip, url: Any) -> None:
    assert_error(infobip.verify(callbackUrl=url), 400, 200, "EC_INVALID_REQUEST")


@pytest.mark.parametrize("url", ["https://app.example.com/return", "javascript:alert(1)", "", 7])
def test_verify_rejects_a_return_url_off_loopback(infobip: Infobip, url: Any) -> None:
    assert_error(infobip.verify(returnUrl=url), 400, 200, "EC_INVALID_REQUEST")


@pytest.mark.parametrize("ip", ["999.1.1.1", "localhost", "127.0.0.1:443", 2130706433])
def test_verify_rejects_a_device_ip_that_is_not_an_ip_literal(infobip: Infobip, ip: Any) -> None:
    assert_error(infobip.verify(deviceIp=ip), 400, 200, "EC_INVALID_REQUEST")


@pytest.mark.parametrize("ip", ["127.64.0.9", "2001:db8::7"])
def test_verify_accepts_an_ipv4_or_ipv6_device_ip_with_a_port(infobip: Infobip, ip: str) -> None:
    assert infobip.verify(deviceIp=ip, devicePort=51234).status_code == 200


@pytest.mark.parametrize("port", [0, 65536, "443", True, 44.5])
def test_verify_rejects_a_device_port_out_of_range(infobip: Infobip, port: Any) -> None:
    assert_error(infobip.verify(deviceIp="127.64.0.9", devicePort=port), 400, 200, "EC_INVALID_REQUEST")


def test_verify_rejects_a_device_port_without_device_ip(infobip: Infobip) -> None:
    assert_error(infobip.verify(devicePort=51234), 400, 200, "EC_INVALID_REQUEST")


@pytest.mark.parametrize("extra", [{"applicationId": "app-1"}, {"phone_number": UK_NUMBER}, {"simSwapCheck": {}}])
def test_verify_rejects_unknown_fields(infobip: Infobip, extra: dict[str, Any]) -> None:
    assert_error(infobip.verify(**extra), 400, 200, "EC_INVALID_REQUEST")


def test_verify_rejects_a_json_array_body(infobip: Infobip) -> None:
    response = infobip.http.post(f"{infobip.base_url}{VERIFY}", json=[UK_NUMBER],
                                 headers={"Authorization": f"App {API_KEY}"})
    assert_error(response, 422, 400, "EC_UNPROCESSABLE_CONTENT")


def test_sms_failover_is_rejected_and_recorded(infobip: Infobip) -> None:
    failover = {"from": "InfoSMS", "text": "Your code is {{pin}}"}
    assert_error(infobip.verify(smsFailover=failover), 400, 200, "EC_INVALID_REQUEST")
    [recorded] = infobip.admin("GET", "sms-failover").json()
    assert (recorded["path"], recorded["smsFailover"]) == (VERIFY, failover)


def test_sms_failover_is_recorded_even_when_authentication_fails(infobip: Infobip) -> None:
    infobip.verify(key="wrong", smsFailover=None)
    assert len(infobip.admin("GET", "sms-failover").json()) == 1


def test_no_sms_failover_recorded_for_a_plain_verify(infobip: Infobip) -> None:
    infobip.started()
    assert infobip.admin("GET", "sms-failover").json() == []


def test_refused_requests_create_no_check(infobip: Infobip) -> None:
    infobip.verify(consentGranted=False)
    assert infobip.admin("GET", "checks").json() == []


# -- the REDIRECT flow ----------------------------------------------------------------------------

def test_verify_answers_redirect_with_a_device_link(infobip: Infobip) -> None:
    response = infobip.verify()
    body = response.json()
    assert (response.status_code, response.headers["Content-Type"]) == (200, "application/json")
    assert set(body) == {"token", "status", "deviceRedirectUrl"} and body["status"] == "REDIRECT"
    assert uuid.UUID(body["token"]).version == 4
    assert body["deviceRedirectUrl"] == f"{infobip.base_url}/mi/verification/1/complete?token={body['token']}"


def test_device_link_sends_the_phone_through_header_enrichment(infobip: Infobip) -> None:
    started = infobip.started()
    response = infobip.http.get(started["deviceRedirectUrl"], allow_redirects=False)
    location = urlsplit(response.headers["Location"])
    assert response.status_code == 302 and response.headers["Location"].startswith(infobip.network_url)
    query = parse_qs(location.query)
    assert location.path == "/he/authorize" and len(query["session"][0]) >= 22
    assert query["return_to"] == [f"{infobip.base_url}/mi/verification/1/complete/continue"]


def test_phone_on_its_own_sim_gets_valid_callback_then_returns_to_return_url(infobip: Infobip) -> None:
    started = infobip.started(returnUrl=infobip.receiver.return_url)
    opened = infobip.phone().open(started["deviceRedirectUrl"])
    assert (opened.status, opened.url) == (200, infobip.receiver.return_url)
    [sent] = infobip.receiver.callbacks()
    assert (sent["method"], sent["content_type"], sent["path"]) == ("POST", "application/json", "/cb/capability-7f3a")
    assert json.loads(sent["body"]) == {"result": "VALID", "token": started["token"], "error": None}
    assert infobip.receiver.paths() == ["/cb/capability-7f3a", "/return"]  # the callback before the phone


def test_return_url_is_followed_exactly_as_given(infobip: Infobip) -> None:
    started = infobip.started(returnUrl=infobip.receiver.return_url)
    opened = infobip.phone().open(started["deviceRedirectUrl"])
    assert opened.hops[-2].location == infobip.receiver.return_url


def test_phone_on_another_sim_gets_invalid(infobip: Infobip) -> None:
    started = infobip.started()
    infobip.phone(OTHER_SIM).open(started["deviceRedirectUrl"])
    assert comparable(infobip.receiver.bodies()[0]) == callback(started["token"], "INVALID")


def test_phone_on_wifi_gets_error_306(infobip: Infobip) -> None:
    started = infobip.started()
    infobip.phone(bearer="wifi").open(started["deviceRedirectUrl"])
    assert comparable(infobip.receiver.bodies()[0]) == callback(
        started["token"], "ERROR", (306, "EC_REJECTED_INVALID_IP_ADDRESS"))


def test_without_return_url_the_phone_ends_on_a_small_page(infobip: Infobip) -> None:
    started = infobip.started()
    opened = infobip.phone().open(started["deviceRedirectUrl"])
    assert opened.status == 200 and "complete" in opened.body
    assert infobip.receiver.paths() == ["/cb/capability-7f3a"]


def test_device_link_works_once(infobip: Infobip) -> None:
    started = infobip.started()
    phone = infobip.phone()
    phone.open(started["deviceRedirectUrl"])
    assert phone.open(started["deviceRedirectUrl"]).status == 404
    assert len(infobip.receiver.callbacks()) == 1


def test_unknown_device_link_is_not_found(infobip: Infobip) -> None:
    response = infobip.http.get(f"{infobip.base_url}/mi/verification/1/complete?token={uuid.uuid4()}")
    assert response.status_code == 404 and response.headers["Referrer-Policy"] == "no-referrer"


def test_operator_return_with_a_forged_session_is_not_found_and_sends_nothing(infobip: Infobip) -> None:
    infobip.started()
    response = infobip.http.get(f"{infobip.base_url}/mi/verification/1/complete/continue?session=forged")
    assert response.status_code == 404 and infobip.receiver.callbacks() == []


def test_phone_skipping_the_operator_hop_is_not_found_and_decides_nothing(infobip: Infobip) -> None:
    started = infobip.started()
    hop = infobip.http.get(started["deviceRedirectUrl"], allow_redirects=False)
    session = parse_qs(urlsplit(hop.headers["Location"]).query)["session"][0]
    response = infobip.http.get(f"{infobip.base_url}/mi/verification/1/complete/continue?session={session}")
    assert response.status_code == 404 and infobip.receiver.callbacks() == []


def _resume_url(infobip: Infobip, phone_ip: str) -> tuple[str, requests.Session]:
    """A phone opens the device link and makes the operator's hop; the URL it was sent back to, and its cookies."""
    device = bound_session(phone_ip)
    hop = device.get(infobip.started()["deviceRedirectUrl"], allow_redirects=False, timeout=5).headers["Location"]
    resume: str = device.get(hop, allow_redirects=False, timeout=5).headers["Location"]
    assert resume.startswith(f"{infobip.base_url}/mi/verification/1/complete/continue?")
    return resume, device


def test_the_device_link_sets_a_device_cookie(infobip: Infobip) -> None:
    response = infobip.http.get(infobip.started()["deviceRedirectUrl"], allow_redirects=False)
    assert response.headers["Set-Cookie"].startswith("infobip_device=")


def test_a_return_from_another_device_ends_in_error_306(infobip: Infobip) -> None:
    resume, device = _resume_url(infobip, infobip.phone().ip)
    with device, bound_session(infobip.phone().ip) as elsewhere:
        elsewhere.cookies.update(device.cookies)  # even with the phone's cookie
        elsewhere.get(resume, allow_redirects=False, timeout=5)

    assert infobip.receiver.bodies()[0]["error"]["id"] == 306


def test_a_return_without_the_cookie_set_at_the_device_link_ends_in_error_306(infobip: Infobip) -> None:
    resume, device = _resume_url(infobip, infobip.phone().ip)
    with device:
        device.cookies.clear()
        device.get(resume, allow_redirects=False, timeout=5)

    assert infobip.receiver.bodies()[0]["error"]["id"] == 306


def test_a_continuation_resumes_the_chain_once(infobip: Infobip) -> None:
    resume, device = _resume_url(infobip, infobip.phone().ip)
    with device:
        first = device.get(resume, allow_redirects=False, timeout=5)
        again = device.get(resume, allow_redirects=False, timeout=5)

    assert (first.status_code, again.status_code) == (200, 404)
    assert [body["result"] for body in infobip.receiver.bodies()] == ["VALID"]


# -- the Brazil OK flow ---------------------------------------------------------------------------

def test_brazil_number_answers_ok_without_a_device_link(infobip: Infobip) -> None:
    phone = infobip.phone(BR_SIM)
    body = infobip.started(BR_NUMBER, deviceIp=phone.ip, devicePort=51234)
    assert set(body) == {"token", "status"} and body["status"] == "OK"


def test_brazil_device_ip_of_the_numbers_cellular_phone_is_valid(infobip: Infobip) -> None:
    phone = infobip.phone(BR_SIM)
    body = infobip.started(BR_NUMBER, deviceIp=phone.ip, devicePort=51234)
    infobip.receiver.wait_for_callbacks(1)
    assert comparable(infobip.receiver.bodies()[0]) == callback(body["token"], "VALID")


def test_brazil_device_ip_of_another_line_is_invalid(infobip: Infobip) -> None:
    phone = infobip.phone(OTHER_SIM)
    body = infobip.started(BR_NUMBER, deviceIp=phone.ip)
    infobip.receiver.wait_for_callbacks(1)
    assert comparable(infobip.receiver.bodies()[0]) == callback(body["token"], "INVALID")


def test_brazil_device_ip_of_a_wifi_phone_is_error_306(infobip: Infobip) -> None:
    phone = infobip.phone(BR_SIM, bearer="wifi")
    body = infobip.started(BR_NUMBER, deviceIp=phone.ip, devicePort=51234)
    infobip.receiver.wait_for_callbacks(1)
    assert comparable(infobip.receiver.bodies()[0]) == callback(
        body["token"], "ERROR", (306, "EC_REJECTED_INVALID_IP_ADDRESS"))


def test_brazil_without_device_ip_is_error_306(infobip: Infobip) -> None:
    body = infobip.started(BR_NUMBER)
    infobip.receiver.wait_for_callbacks(1)
    assert infobip.receiver.bodies()[0]["token"] == body["token"]
    assert infobip.receiver.bodies()[0]["error"]["id"] == 306


# -- trigger numbers ------------------------------------------------------------------------------

def test_number_ending_98_has_no_coverage(infobip: Infobip) -> None:
    assert_error(infobip.verify("447400900098"), 400, 100, "EC_NO_COVERAGE")


def test_number_ending_97_is_throttled_with_retry_after(infobip: Infobip) -> None:
    response = infobip.verify("447400900097")
    assert_platform_error(response, 429, "TOO_MANY_REQUESTS")
    assert response.headers["Retry-After"] == "30"


def test_number_ending_96_is_an_internal_error(infobip: Infobip) -> None:
    assert_error(infobip.verify("447400900096"), 500, 1000, "EC_USER_INTERNAL_ERROR")


def test_number_ending_95_answers_only_after_slow_seconds(infobip: Infobip) -> None:
    began = time.monotonic()
    response = infobip.verify("447400900095")
    assert response.status_code == 200 and time.monotonic() - began >= 0.3


def test_number_ending_94_ends_the_device_hop_with_gateway_failure(infobip: Infobip) -> None:
    started = infobip.started("447400900094")
    infobip.phone("+447400900094").open(started["deviceRedirectUrl"])
    assert comparable(infobip.receiver.bodies()[0]) == callback(
        started["token"], "ERROR", (101, "EC_GATEWAY_OPERATION_FAILED"))


def test_number_ending_93_times_out_at_once_without_the_device(infobip: Infobip) -> None:
    started = infobip.started("447400900093")
    infobip.receiver.wait_for_callbacks(1)
    assert comparable(infobip.receiver.bodies()[0]) == callback(
        started["token"], "ERROR", (305, "EC_MOBILE_DEVICE_TIMEOUT"))
    assert infobip.http.get(started["deviceRedirectUrl"]).status_code == 404


# -- delivery plans -------------------------------------------------------------------------------

def test_late_callback_arrives_after_the_phone_was_redirected(infobip: Infobip) -> None:
    infobip.plan(mode="late", delay_seconds=0.4)
    started = infobip.started(returnUrl=infobip.receiver.return_url)
    infobip.phone().open(started["deviceRedirectUrl"])
    assert infobip.receiver.paths() == ["/return"]
    infobip.receiver.wait_for_callbacks(1)
    assert infobip.receiver.paths() == ["/return", "/cb/capability-7f3a"]
    assert infobip.receiver.bodies()[0]["result"] == "VALID"


def test_a_held_callback_leaves_only_when_released(infobip: Infobip) -> None:
    infobip.plan(mode="held")
    started = infobip.started(returnUrl=infobip.receiver.return_url)
    infobip.phone().open(started["deviceRedirectUrl"])
    assert not infobip.simulator.courier.wait_idle(0.1)
    assert infobip.receiver.paths() == ["/return"]

    assert infobip.admin("POST", "delivery/release").json() == {"released": 1}

    infobip.receiver.wait_for_callbacks(1)
    assert infobip.receiver.paths() == ["/return", "/cb/capability-7f3a"]
    assert infobip.receiver.bodies()[0]["result"] == "VALID"


def test_resetting_the_plans_lets_a_held_callback_go(infobip: Infobip) -> None:
    infobip.plan(mode="held")
    started = infobip.started()
    infobip.phone().open(started["deviceRedirectUrl"])

    assert infobip.admin("DELETE", "delivery").status_code == 204

    assert infobip.simulator.courier.wait_idle(5) and len(infobip.receiver.callbacks()) == 1


def test_twice_delivers_the_identical_body_two_times(infobip: Infobip) -> None:
    infobip.plan(mode="twice")
    started = infobip.started()
    infobip.phone().open(started["deviceRedirectUrl"])
    first, second = infobip.receiver.callbacks()
    assert first["body"] == second["body"] and json.loads(first["body"])["token"] == started["token"]


def test_never_sends_no_callback_but_still_redirects_the_phone(infobip: Infobip) -> None:
    infobip.plan(mode="never")
    started = infobip.started(returnUrl=infobip.receiver.return_url)
    assert infobip.phone().open(started["deviceRedirectUrl"]).url == infobip.receiver.return_url
    assert infobip.simulator.courier.wait_idle(1)
    assert infobip.receiver.callbacks() == []
    assert [(a["fault"], "status_code" in a) for a in infobip.attempts()] == [("never", False)]


def test_out_of_order_sends_a_different_result_first_and_the_real_one_last(infobip: Infobip) -> None:
    infobip.plan(mode="out_of_order")
    started = infobip.started()
    infobip.phone().open(started["deviceRedirectUrl"])
    first, last = infobip.receiver.bodies()
    assert first["token"] == last["token"] == started["token"]
    assert first["result"] != "VALID" and last == {"result": "VALID", "token": started["token"], "error": None}


def test_out_of_order_result_chooses_the_stale_first_result(infobip: Infobip) -> None:
    infobip.plan(mode="out_of_order", result="VALID")
    started = infobip.started()
    infobip.phone(OTHER_SIM).open(started["deviceRedirectUrl"])
    assert [body["result"] for body in infobip.receiver.bodies()] == ["VALID", "INVALID"]


def test_a_plan_applies_to_the_next_check_only(infobip: Infobip) -> None:
    infobip.plan(mode="never")
    infobip.started()
    second = infobip.started()
    infobip.phone().open(second["deviceRedirectUrl"])
    assert [body["token"] for body in infobip.receiver.bodies()] == [second["token"]]


def test_a_plan_can_target_a_check_by_token(infobip: Infobip) -> None:
    started = infobip.started()
    infobip.plan(mode="twice", token=started["token"])
    infobip.phone().open(started["deviceRedirectUrl"])
    assert len(infobip.receiver.callbacks()) == 2


def test_a_plan_for_an_unknown_token_is_not_found(infobip: Infobip) -> None:
    assert infobip.admin("POST", "delivery", json={"mode": "twice", "token": str(uuid.uuid4())}).status_code == 404


def test_deleting_the_delivery_plan_restores_normal_delivery(infobip: Infobip) -> None:
    infobip.plan(mode="never")
    assert infobip.admin("DELETE", "delivery").status_code == 204
    started = infobip.started()
    infobip.phone().open(started["deviceRedirectUrl"])
    assert len(infobip.receiver.callbacks()) == 1


@pytest.mark.parametrize("plan", [{"mode": "sometimes"}, {"mode": "late", "delay_seconds": -1},
                                  {"mode": "twice", "result": "VALID"}, {"mode": "out_of_order", "result": "MAYBE"},
                                  {"attempts": 0}, {"colour": "red"}, ["late"]])
def test_an_invalid_delivery_plan_is_refused(infobip: Infobip, plan: Any) -> None:
    assert infobip.admin("POST", "delivery", json=plan).status_code == 400


# -- the legacy GET form, retries, records and replays --------------------------------------------

def test_legacy_callback_url_gets_a_get_with_placeholders_filled_in(infobip: Infobip) -> None:
    url = f"{infobip.receiver.base_url}/cb/legacy?result={{result}}&token={{token}}&tenant=7"
    started = infobip.started(callbackUrl=url)
    infobip.phone().open(started["deviceRedirectUrl"])
    [sent] = infobip.receiver.callbacks()
    assert (sent["method"], sent["body"], sent["path"]) == ("GET", "", "/cb/legacy")
    assert parse_qs(sent["query"]) == {"result": ["VALID"], "token": [started["token"]], "tenant": ["7"]}


def test_callback_answered_500_is_retried_until_200(infobip: Infobip) -> None:
    infobip.receiver.fail_first = 1
    started = infobip.started()
    infobip.phone().open(started["deviceRedirectUrl"])
    assert [record["status_code"] for record in infobip.attempts()] == [500, 200]
    first, second = infobip.receiver.callbacks()
    assert first["body"] == second["body"]


def test_callback_gives_up_after_three_attempts(infobip: Infobip) -> None:
    infobip.receiver.fail_first = 5
    started = infobip.started()
    infobip.phone().open(started["deviceRedirectUrl"])
    assert [record["attempt"] for record in infobip.attempts()] == [1, 2, 3]


def test_a_plan_can_set_attempts_and_retry_interval(infobip: Infobip) -> None:
    infobip.receiver.fail_first = 5
    infobip.plan(attempts=2, retry_seconds=0)
    started = infobip.started()
    infobip.phone().open(started["deviceRedirectUrl"])
    assert len(infobip.receiver.callbacks()) == 2


def test_an_unreachable_callback_is_recorded_as_an_error(make_infobip: Callable[..., Infobip]) -> None:
    infobip = make_infobip(callback_timeout_seconds=0.5)
    started = infobip.started(callbackUrl="http://127.0.0.1:9/cb", returnUrl=infobip.receiver.return_url)
    assert infobip.phone().open(started["deviceRedirectUrl"]).url == infobip.receiver.return_url
    records = infobip.attempts()
    assert len(records) == 3 and all("error" in r and "status_code" not in r for r in records)


def test_every_callback_attempt_is_recorded(infobip: Infobip) -> None:
    started = infobip.started()
    infobip.phone().open(started["deviceRedirectUrl"])
    [record] = infobip.attempts()
    assert json.loads(record.pop("body")) == {"result": "VALID", "token": started["token"], "error": None}
    assert record == {"token": started["token"], "url": infobip.receiver.callback_url, "method": "POST",
                      "attempt": 1, "fault": None, "redelivery": False, "status_code": 200,
                      "headers": {"User-Agent": USER_AGENT, "Content-Type": "application/json"},
                      "at": datetime.fromtimestamp(infobip.clock.now, UTC).isoformat(timespec="milliseconds")}


def test_redeliver_resends_the_last_body_of_a_token(infobip: Infobip) -> None:
    started = infobip.started()
    infobip.phone().open(started["deviceRedirectUrl"])
    response = infobip.admin("POST", f"callbacks/{started['token']}/redeliver")
    assert (response.status_code, response.json()["status_code"], response.json()["redelivery"]) == (200, 200, True)
    first, replay = infobip.receiver.callbacks()
    assert first["body"] == replay["body"]


def test_redeliver_of_a_token_never_called_back_is_not_found(infobip: Infobip) -> None:
    started = infobip.started()
    assert infobip.admin("POST", f"callbacks/{started['token']}/redeliver").status_code == 404


# -- device timeouts ------------------------------------------------------------------------------

def test_sweep_times_out_unopened_checks_past_the_device_timeout(infobip: Infobip) -> None:
    stale = infobip.started()
    infobip.clock.now += 120
    fresh = infobip.started()
    assert infobip.admin("POST", "sweep").json() == {"timed_out": [stale["token"]]}
    assert comparable(infobip.receiver.bodies()[0]) == callback(
        stale["token"], "ERROR", (305, "EC_MOBILE_DEVICE_TIMEOUT"))
    assert infobip.http.get(stale["deviceRedirectUrl"]).status_code == 404
    assert infobip.http.get(fresh["deviceRedirectUrl"], allow_redirects=False).status_code == 302


def test_sweep_leaves_opened_checks_alone(infobip: Infobip) -> None:
    started = infobip.started()
    infobip.http.get(started["deviceRedirectUrl"], allow_redirects=False)
    infobip.clock.now += 600
    assert infobip.admin("POST", "sweep").json() == {"timed_out": []}


def test_a_device_link_opened_after_the_timeout_is_dead_and_times_out(infobip: Infobip) -> None:
    started = infobip.started()
    infobip.clock.now += 121
    assert infobip.phone().open(started["deviceRedirectUrl"]).status == 404
    assert infobip.receiver.bodies()[0]["error"]["name"] == "EC_MOBILE_DEVICE_TIMEOUT"


# -- the request log and the rest of the surface --------------------------------------------------

def test_requests_are_recorded_with_the_authorization_scheme_only(infobip: Infobip) -> None:
    infobip.started()
    [recorded] = infobip.admin("GET", "requests").json()
    assert (recorded["method"], recorded["path"], recorded["headers"]["Authorization"]) == ("POST", VERIFY, "App")
    assert json.loads(recorded["body"])["phoneNumber"] == UK_NUMBER
    assert infobip.admin("DELETE", "requests").status_code == 204
    assert infobip.admin("GET", "requests").json() == []


def test_unknown_paths_and_methods_answer_in_the_platform_shape(infobip: Infobip) -> None:
    assert_platform_error(infobip.http.get(f"{infobip.base_url}/mi/verification/2/verify"), 404, "NOT_FOUND")
    response = infobip.http.get(f"{infobip.base_url}{VERIFY}")
    assert_platform_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["Allow"] == "POST"


def test_public_url_names_the_device_link(make_infobip: Callable[..., Infobip]) -> None:
    infobip = make_infobip(public_url="http://127.0.0.1:1/infobip")
    assert infobip.started()["deviceRedirectUrl"].startswith("http://127.0.0.1:1/infobip/mi/verification/1/complete")
