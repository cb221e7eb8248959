"""The simulated tru.ID over real HTTP on loopback, with a tiny fake mobile network and a callback receiver."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from functools import cache
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests
import yaml
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4
from requests.adapters import HTTPAdapter

from sandbox.httpserver import RunningServer, serve
from sandbox.simulators.truid import Project, TruIdConfig, TruIdSimulator, make_app
from tests.servers import basic_auth

LIVE = ("live-client", "live-secret")
SANDBOX = ("sandbox-client", "sandbox-secret")
SYMBOLS = ("symbols-client", "b64+/x==%3A:é secret")  # every character form-encoding changes
PROJECTS = {LIVE[0]: Project(LIVE[1], "live"), SANDBOX[0]: Project(SANDBOX[1], "sandbox"),
            SYMBOLS[0]: Project(SYMBOLS[1], "live")}
PHONE_IP, PHONE_SIM = "127.64.0.7", "+447400900002"
WIFI_IP = "127.192.0.9"
OTHER_NETWORK_IP = "127.64.0.8"  # a line on 23415
APP_RETURN = "https://app.example.com/truid/return?flow=signup"
PROBLEM = "https://developer.tru.id/docs/reference/api-errors#"
SPECS = Path(__file__).resolve().parents[1] / "specs" / "truid" / "specs"


# -- the fake mobile network: header enrichment keyed on REMOTE_ADDR ------------------------------

class FakeNetwork:
    lines = {PHONE_IP: ("+447400900002", "23410"), OTHER_NETWORK_IP: ("+447400900013", "23415")}
    operators = {"23410": "O2 UK", "23415": "Vodafone UK"}

    def __init__(self) -> None:
        self.sessions: dict[str, tuple[str, str]] = {}  # session -> (device address, continuation)
        self.calls: list[str] = []
        self.base_url = ""
        self.down = False  # every answer a 500
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path, query = environ["PATH_INFO"], dict(parse_qsl(environ.get("QUERY_STRING", "")))
        with self._lock:
            self.calls.append(path)
        body: dict[str, Any] = {"error": "not_found"}
        status, headers = "404 Not Found", []
        redeem = re.fullmatch(r"/he/sessions/([^/]+)/redeem", path)
        if self.down:
            status, body = "500 Internal Server Error", {"error": "down"}
        elif path.startswith("/lines/"):
            line = self.lines.get(path.removeprefix("/lines/"))
            status, body = "200 OK", {"ip": path[7:], "mobile": False}
            if line:
                body |= {"mobile": True, "msisdn": line[0], "network_id": line[1], "operator": self.operators[line[1]]}
        elif path == "/he/authorize":
            continuation = secrets.token_urlsafe(16)
            with self._lock:
                self.sessions[query["session"]] = (environ["REMOTE_ADDR"], continuation)
            parts = urlsplit(query["return_to"])
            back = urlencode([*parse_qsl(parts.query), ("session", query["session"]), ("continuation", continuation)])
            location = urlunsplit(parts._replace(query=back))
            status, headers, body = "302 Found", [("Location", location)], {}
        elif redeem is not None:
            sent = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
            with self._lock:
                device_ip, continuation = self.sessions.get(redeem[1], ("", ""))
                if continuation and sent.get("continuation") == continuation:
                    del self.sessions[redeem[1]]  # redeemed once
                    line = self.lines.get(device_ip)
                    status, body = "200 OK", {"session": redeem[1], "mobile": False, "device_ip": device_ip}
                    if line:
                        body |= {"mobile": True, "msisdn": line[0], "network_id": line[1]}
        start_response(status, [("Content-Type", "application/json"), *headers])
        return [json.dumps(body).encode()]


class Clock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


class _SourceAddress(HTTPAdapter):
    """Connects from a given loopback address, as a phone on that bearer would."""

    def __init__(self, ip: str) -> None:
        self._ip = ip
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self._ip, 0)
        super().init_poolmanager(*args, **kwargs)


@dataclass
class TruId:
    """A running simulator plus the calls a backend and a phone make to it."""

    base_url: str
    clock: Clock
    network: FakeNetwork
    http: requests.Session = field(default_factory=requests.Session)
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)  # the backend's cache

    def token_response(self, creds: tuple[str, str] = LIVE, scope: str = "phone_check", **kwargs: Any) -> Any:
        kwargs.setdefault("auth", creds)
        kwargs.setdefault("data", {"grant_type": "client_credentials", "scope": scope})
        return self.http.post(f"{self.base_url}/oauth2/v1/token", timeout=5, **kwargs)

    def bearer(self, creds: tuple[str, str] = LIVE, scope: str = "phone_check") -> dict[str, str]:
        if (creds[0], scope) not in self.tokens:
            response = self.token_response(creds, scope)
            assert response.status_code == 200, response.text
            self.tokens[(creds[0], scope)] = response.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[(creds[0], scope)]}"}

    def create(self, phone: str, version: str = "v0.2", creds: tuple[str, str] = LIVE, timeout: float = 5,
               **fields: Any) -> Any:
        return self.http.post(f"{self.base_url}/phone_check/{version}/checks", headers=self.bearer(creds),
                              json={"phone_number": phone, **fields}, timeout=timeout)

    def created(self, phone: str, version: str = "v0.2", creds: tuple[str, str] = LIVE, **fields: Any) -> Any:
        response = self.create(phone, version, creds, **fields)
        assert response.status_code == 201, response.text
        return response.json()

    def get(self, check_id: str, version: str = "v0.2", creds: tuple[str, str] = LIVE) -> Any:
        return self.http.get(f"{self.base_url}/phone_check/{version}/checks/{check_id}",
                             headers=self.bearer(creds), timeout=5)

    def patch(self, check_id: str, code: str, creds: tuple[str, str] = LIVE, body: Any = None,
              content_type: str = "application/json-patch+json") -> Any:
        document = [{"op": "add", "path": "/code", "value": code}] if body is None else body
        headers = {**self.bearer(creds), "Content-Type": content_type}
        return self.http.patch(f"{self.base_url}/phone_check/v0.2/checks/{check_id}", headers=headers,
                               data=json.dumps(document), timeout=5)

    def phone_opens(self, check: dict[str, Any], ip: str = PHONE_IP, hops: int = 10) -> Any:
        """Follows check_url like the SDKs, but never past loopback (the app's redirect_url is not ours)."""
        url = check["_links"]["check_url"]["href"]
        with requests.Session() as phone:
            phone.trust_env = False
            phone.mount("http://", _SourceAddress(ip))
            for _ in range(hops):
                response = phone.get(url, allow_redirects=False, timeout=5)
                url = response.headers.get("Location", "")
                if not response.is_redirect or not (urlsplit(url).hostname or "").startswith("127."):
                    return response
        raise AssertionError("too many redirects")

    def code_for(self, check: dict[str, Any], ip: str = PHONE_IP) -> str:
        response = self.phone_opens(check, ip)
        assert response.status_code == 200, response.text
        return str(response.json()["code"])

    def coverage(self, ip: str, scope: str = "phone_check coverage", creds: tuple[str, str] = LIVE) -> Any:
        return self.http.get(f"{self.base_url}/coverage/v0.1/device_ips/{ip}", headers=self.bearer(creds, scope),
                             timeout=5)

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.http.request(method, f"{self.base_url}/_sandbox/{path}", timeout=5, **kwargs)


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"type", "title", "detail"}
    assert body["type"] == PROBLEM + code
    return body


def redirect_query(response: Any, prefix: str = APP_RETURN) -> dict[str, list[str]]:
    assert response.status_code == 302, response.text
    assert response.headers["Location"].startswith(prefix + "&")
    return parse_qs(urlsplit(response.headers["Location"]).query)


@pytest.fixture
def network() -> Iterator[FakeNetwork]:
    fake = FakeNetwork()
    server = serve(fake)
    fake.base_url = server.base_url
    yield fake
    server.stop()


@pytest.fixture
def make_truid(network: FakeNetwork) -> Iterator[Callable[..., TruId]]:
    running: list[tuple[RunningServer, TruIdSimulator, TruId]] = []

    def make(**overrides: Any) -> TruId:
        clock = Clock()
        config = TruIdConfig(network_url=network.base_url, projects=PROJECTS, clock=clock, **overrides)
        simulator = TruIdSimulator(config)
        server = serve(make_app(simulator))
        sim = TruId(server.base_url, clock, network)
        sim.http.trust_env = False
        running.append((server, simulator, sim))
        return sim

    yield make
    for server, simulator, sim in running:
        sim.http.close()
        server.stop()
        simulator.close()


@pytest.fixture
def truid(make_truid: Callable[..., TruId]) -> TruId:
    return make_truid()


# -- the published schemas, $refs resolved across the YAML files ---------------------------------

class Spec:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.registry: Registry[Any] = Registry(retrieve=_load_yaml)  # type: ignore[call-arg]

    def uri(self, file: str, pointer: str) -> str:
        return f"{(self.root / file).as_uri()}#{pointer}"

    def validate(self, body: Any, file: str, pointer: str, *more: tuple[str, str]) -> None:
        """Valid per every schema given, and no member that none of them (or their examples) declares."""
        declared: set[str] = set()
        for uri in (self.uri(f, p) for f, p in ((file, pointer), *more)):
            Draft4Validator({"$ref": uri}, registry=self.registry).validate(body)
            resolved = self.registry.resolver().lookup(uri)
            declared |= _declared(resolved.contents, resolved.resolver)
        assert set(body) <= declared, f"undeclared members: {set(body) - declared}"

    def validate_value(self, value: Any, file: str, pointer: str) -> None:
        """Valid per the schema (for values that are not objects)."""
        Draft4Validator({"$ref": self.uri(file, pointer)}, registry=self.registry).validate(value)


@cache
def _load_yaml(uri: str) -> Resource[Any]:
    contents = yaml.safe_load(Path(urlsplit(uri).path).read_text())
    return Resource.from_contents(contents, default_specification=DRAFT4)


def _declared(schema: Any, resolver: Any) -> set[str]:
    keys = set(schema.get("properties", {}))
    if isinstance(schema.get("example"), dict):
        keys |= set(schema["example"])
    if "$ref" in schema:
        resolved = resolver.lookup(schema["$ref"])
        keys |= _declared(resolved.contents, resolved.resolver)
    for part in schema.get("allOf", []):
        keys |= _declared(part, resolver)
    return keys


@pytest.fixture(scope="module")
def spec() -> Spec:
    if not SPECS.is_dir():
        pytest.fail(f"tru.ID OpenAPI specs not found at {SPECS}")
    return Spec(SPECS)


V01_MODELS = "models/phone_check/PhoneCheckResourceModels.v0.1.yaml"
V02_MODELS = "models/phone_check/PhoneCheckResourceModels.v0.2.yaml"
DEFAULT_MODELS = "models/phone_check/PhoneCheckDefaultResourceModels.yaml"
PROBLEMS = "models/common/HTTPProblemDetailTypes.v1.yaml"
COVERAGE_MODELS = "models/coverage/CoverageResourceModels.v1.yaml"
DATA_TYPES = "models/common/DataTypes.v1.yaml"
LINK = "models/common/Link.v1.yaml"


# -- token endpoint -------------------------------------------------------------------------------

def test_token_is_a_bearer_token_with_the_requested_scopes(truid: TruId, spec: Spec) -> None:
    response = truid.token_response(scope="phone_check coverage")
    assert response.status_code == 200
    body = response.json()
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("bearer", 3600, "phone_check coverage")
    spec.validate(body, "basics.yaml", "/paths/~1oauth2~1v1~1token/post/responses/200/content/application~1json/schema")


def test_token_requires_basic_auth(truid: TruId) -> None:
    response = truid.token_response(auth=None, headers={"Authorization": "Bearer whatever"})
    assert_problem(response, 401, "unauthorized")


def test_token_rejects_a_wrong_client_secret(truid: TruId) -> None:
    assert_problem(truid.token_response(creds=(LIVE[0], "not-the-secret")), 401, "unauthorized")


def test_token_form_decodes_basic_credentials_after_base64(truid: TruId) -> None:
    response = truid.token_response(auth=basic_auth(*SYMBOLS, form_encoded=True))
    assert response.status_code == 200, response.text


def test_token_refuses_the_raw_pair_of_a_secret_that_needs_encoding(truid: TruId) -> None:
    assert_problem(truid.token_response(auth=basic_auth(*SYMBOLS, form_encoded=False)), 401, "unauthorized")


def test_token_requires_a_form_body(truid: TruId) -> None:
    response = truid.token_response(data=None, json={"grant_type": "client_credentials", "scope": "phone_check"})
    assert_problem(response, 400, "bad_request")


def test_token_requires_the_client_credentials_grant(truid: TruId) -> None:
    response = truid.token_response(data={"grant_type": "password", "scope": "phone_check"})
    assert_problem(response, 400, "bad_request")


def test_token_rejects_an_unknown_scope(truid: TruId) -> None:
    assert_problem(truid.token_response(scope="phone_check no_such_product"), 400, "bad_request")


def test_token_grants_every_scope_truids_own_dev_server_asks_for(truid: TruId) -> None:
    response = truid.token_response(scope="phone_check sim_check subscriber_check mo_check coverage")

    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "phone_check sim_check subscriber_check mo_check coverage"


# -- bearer tokens on product calls ---------------------------------------------------------------

def test_create_without_a_bearer_token_is_unauthorized(truid: TruId) -> None:
    response = truid.http.post(f"{truid.base_url}/phone_check/v0.2/checks", json={"phone_number": "447400900002"})
    assert_problem(response, 401, "unauthorized")


def test_token_without_phone_check_scope_is_forbidden(truid: TruId) -> None:
    response = truid.http.post(f"{truid.base_url}/phone_check/v0.2/checks", json={"phone_number": "447400900002"},
                               headers=truid.bearer(scope="coverage"))
    assert_problem(response, 403, "forbidden")


def test_expired_token_is_unauthorized(truid: TruId) -> None:
    check = truid.created(PHONE_SIM)
    truid.clock.now += 3600
    assert_problem(truid.get(check["check_id"]), 401, "unauthorized")


def test_revoked_tokens_are_unauthorized_until_a_new_one_is_issued(truid: TruId) -> None:
    check = truid.created(PHONE_SIM)
    assert truid.admin("POST", "revoke-tokens").status_code == 204
    assert_problem(truid.get(check["check_id"]), 401, "unauthorized")
    truid.tokens.clear()
    assert truid.get(check["check_id"]).status_code == 200


def test_checks_are_invisible_to_other_projects(truid: TruId) -> None:
    check = truid.created(PHONE_SIM)
    assert_problem(truid.get(check["check_id"], creds=SANDBOX), 404, "check_not_found")


# -- create ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["v0.1", "v0.2"])
def test_create_answers_201_hal_json_per_the_published_schema(truid: TruId, spec: Spec, version: str) -> None:
    response = truid.create("447400900002", version, reference_id="ref-1")
    assert (response.status_code, response.headers["Content-Type"]) == (201, "application/hal+json")
    body = response.json()
    models = V01_MODELS if version == "v0.1" else V02_MODELS
    spec.validate(body, models, "/components/schemas/PhoneCheckCreateResponse",
                  (DEFAULT_MODELS, "/components/schemas/PhoneCheckCreateResponse"))
    assert (body["status"], body["ttl"], body["reference_id"]) == ("ACCEPTED", 120, "ref-1")
    datetime.fromisoformat(body["created_at"])
    self_href = f"{truid.base_url}/phone_check/{version}/checks/{body['check_id']}"
    assert body["_links"] == {"self": {"href": self_href}, "check_url": {"href": f"{self_href}/redirect"}}


def test_create_gives_every_check_a_fresh_random_id(truid: TruId) -> None:
    ids = {truid.created(PHONE_SIM)["check_id"] for _ in range(3)}
    assert len(ids) == 3 and all(len(i.replace("-", "")) == 32 for i in ids)


@pytest.mark.parametrize("phone", ["447400900002", "+447400900002"])
def test_create_accepts_e164_with_or_without_plus(truid: TruId, phone: str) -> None:
    assert truid.create(phone).status_code == 201


@pytest.mark.parametrize("phone", ["07400900002", "+44 7700 900002", "44740090000212345", "abc", "+0447400900002"])
def test_create_rejects_a_number_that_is_not_e164(truid: TruId, phone: str) -> None:
    assert_problem(truid.create(phone), 400, "phone_format_invalid")


def test_create_requires_phone_number(truid: TruId) -> None:
    response = truid.http.post(f"{truid.base_url}/phone_check/v0.2/checks", json={"reference_id": "r"},
                               headers=truid.bearer())
    assert_problem(response, 400, "bad_request")


def test_create_rejects_unknown_fields(truid: TruId) -> None:
    assert_problem(truid.create(PHONE_SIM, msisdn="447400900002"), 400, "bad_request")


def test_create_v01_does_not_know_redirect_url(truid: TruId) -> None:
    assert_problem(truid.create(PHONE_SIM, "v0.1", redirect_url=APP_RETURN), 400, "bad_request")


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://example.com/x", "/relative/return"])
def test_create_rejects_a_redirect_url_that_is_not_http(truid: TruId, url: str) -> None:
    assert_problem(truid.create(PHONE_SIM, redirect_url=url), 400, "bad_request")


def test_create_requires_a_json_content_type(truid: TruId) -> None:
    response = truid.http.post(f"{truid.base_url}/phone_check/v0.2/checks", data="phone_number=447400900002",
                               headers={**truid.bearer(), "Content-Type": "application/x-www-form-urlencoded"})
    assert_problem(response, 415, "unsupported_media_type")


def test_create_records_reference_id(truid: TruId) -> None:
    check = truid.created(PHONE_SIM, reference_id="session-7f3a")
    [recorded] = truid.admin("GET", "checks").json()
    assert (recorded["check_id"], recorded["reference_id"]) == (check["check_id"], "session-7f3a")


def test_create_with_a_wifi_phone_ip_is_not_mobile_ip(truid: TruId) -> None:
    assert_problem(truid.create(PHONE_SIM, phone_ip=WIFI_IP), 412, "not_mobile_ip")


def test_create_with_an_ipv6_phone_ip_is_not_mobile_ip_without_asking_the_network(truid: TruId) -> None:
    assert_problem(truid.create(PHONE_SIM, phone_ip="2001:db8::7"), 412, "not_mobile_ip")
    assert not [call for call in truid.network.calls if call.startswith("/lines/")]


# -- the phone's hops (live mode) -----------------------------------------------------------------

def test_check_url_sends_the_phone_through_header_enrichment(truid: TruId) -> None:
    check = truid.created(PHONE_SIM)
    response = truid.http.get(check["_links"]["check_url"]["href"], allow_redirects=False)
    location = urlsplit(response.headers["Location"])
    assert (response.status_code, location.path) == (302, "/he/authorize")
    assert response.headers["Location"].startswith(truid.network.base_url)
    query = parse_qs(location.query)
    assert query["return_to"] == [f"{truid.base_url}/_mno/return"] and len(query["session"][0]) >= 22


def test_opening_check_url_makes_the_check_pending(truid: TruId) -> None:
    check = truid.created(PHONE_SIM)
    truid.http.get(check["_links"]["check_url"]["href"], allow_redirects=False)
    assert truid.get(check["check_id"]).json()["status"] == "PENDING"


def test_check_url_works_once(truid: TruId) -> None:
    check = truid.created(PHONE_SIM)
    truid.code_for(check)
    assert_problem(truid.phone_opens(check), 404, "check_not_found")


def test_unknown_check_url_is_check_not_found(truid: TruId) -> None:
    response = truid.http.get(f"{truid.base_url}/phone_check/v0.2/checks/{'0' * 32}/redirect")
    assert_problem(response, 404, "check_not_found")


def test_operator_return_with_an_unknown_session_is_check_not_found(truid: TruId) -> None:
    assert_problem(truid.http.get(f"{truid.base_url}/_mno/return?session=forged"), 404, "check_not_found")


def _phone(ip: str) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.mount("http://", _SourceAddress(ip))
    return session


def _through_the_operator(truid: TruId, check: dict[str, Any], phone: requests.Session) -> str:
    """The phone opens check_url and makes the operator's hop; the resume URL the hop sent it to."""
    hop = phone.get(check["_links"]["check_url"]["href"], allow_redirects=False, timeout=5).headers["Location"]
    resume: str = phone.get(hop, allow_redirects=False, timeout=5).headers["Location"]
    assert resume.startswith(f"{truid.base_url}/_mno/return?")
    return resume


def test_the_operator_return_without_the_continuation_decides_nothing(truid: TruId) -> None:
    check = truid.created(PHONE_SIM)
    with _phone(PHONE_IP) as phone:
        resume = _through_the_operator(truid, check, phone)
        session = parse_qs(urlsplit(resume).query)["session"][0]

        assert_problem(phone.get(f"{truid.base_url}/_mno/return?session={session}", timeout=5), 404,
                       "check_not_found")
        assert phone.get(resume, timeout=5).json()["code"]  # the device holding the continuation still finishes


def test_a_continuation_resumes_the_chain_once(truid: TruId) -> None:
    check = truid.created(PHONE_SIM)
    with _phone(PHONE_IP) as phone:
        resume = _through_the_operator(truid, check, phone)
        assert phone.get(resume, timeout=5).status_code == 200

        assert_problem(phone.get(resume, timeout=5), 404, "check_not_found")


def test_a_chain_resumed_from_another_address_ends_ip_mismatch(truid: TruId) -> None:
    check = truid.created(PHONE_SIM, redirect_url=APP_RETURN)
    with _phone(PHONE_IP) as phone, _phone(OTHER_NETWORK_IP) as other:
        resume = _through_the_operator(truid, check, phone)
        other.cookies.update(phone.cookies)  # even with the phone's cookie

        query = redirect_query(other.get(resume, allow_redirects=False, timeout=5))

    assert query["error"] == ["ip_mismatch"]
    assert truid.get(check["check_id"]).json()["error_code"] == "ip_mismatch"


def test_a_chain_resumed_without_the_cookie_set_at_check_url_ends_ip_mismatch(truid: TruId) -> None:
    check = truid.created(PHONE_SIM, redirect_url=APP_RETURN)
    with _phone(PHONE_IP) as phone:
        resume = _through_the_operator(truid, check, phone)
        phone.cookies.clear()

        assert redirect_query(phone.get(resume, allow_redirects=False, timeout=5))["error"] == ["ip_mismatch"]


def test_check_url_sets_a_device_cookie_on_the_phone(truid: TruId) -> None:
    check = truid.created(PHONE_SIM)
    response = truid.http.get(check["_links"]["check_url"]["href"], allow_redirects=False)
    assert response.headers["Set-Cookie"].startswith("truid_device=")
    assert "HttpOnly" in response.headers["Set-Cookie"]


def test_check_url_opened_from_another_address_than_phone_ip_ends_ip_mismatch(truid: TruId) -> None:
    check = truid.created(PHONE_SIM, phone_ip=PHONE_IP, redirect_url=APP_RETURN)

    query = redirect_query(truid.phone_opens(check, ip=OTHER_NETWORK_IP))

    assert (query["error"], query["check_id"]) == (["ip_mismatch"], [check["check_id"]])


def test_check_url_opened_from_phone_ip_verifies(truid: TruId) -> None:
    check = truid.created(PHONE_SIM, phone_ip=PHONE_IP, redirect_url=APP_RETURN)

    assert redirect_query(truid.phone_opens(check))["code"][0]


def test_v02_flow_redirects_to_redirect_url_with_code(truid: TruId) -> None:
    check = truid.created(PHONE_SIM, redirect_url=APP_RETURN)
    query = redirect_query(truid.phone_opens(check))
    assert query["flow"] == ["signup"] and query["check_id"] == [check["check_id"]] and query["code"][0]


def test_v02_flow_without_redirect_url_returns_code_as_json(truid: TruId, spec: Spec) -> None:
    check = truid.created(PHONE_SIM, reference_id="ref-9")
    body = truid.phone_opens(check).json()
    # The spec declares check_id and code; the SDK READMEs show reference_id beside them.
    spec.validate({k: v for k, v in body.items() if k != "reference_id"}, V02_MODELS,
                  "/components/schemas/PhoneCheckRedirectSuccess")
    assert (body["check_id"], body["reference_id"]) == (check["check_id"], "ref-9") and body["code"]


def test_v02_check_stays_pending_until_the_code_is_patched(truid: TruId) -> None:
    check = truid.created(PHONE_SIM)
    truid.code_for(check)
    body = truid.get(check["check_id"]).json()
    assert body["status"] == "PENDING" and "match" not in body


def test_patch_completes_with_match_when_the_phone_holds_the_number(truid: TruId, spec: Spec) -> None:
    check = truid.created(PHONE_SIM, reference_id="ref-2")
    response = truid.patch(check["check_id"], truid.code_for(check))
    assert (response.status_code, response.headers["Content-Type"]) == (200, "application/hal+json")
    spec.validate(response.json(), V02_MODELS, "/components/schemas/PhoneCheckPatchPartial")
    assert (response.json()["status"], response.json()["match"]) == ("COMPLETED", True)
    assert truid.get(check["check_id"]).json()["network_id"] == "23410"


def test_patch_reports_no_match_when_the_phone_holds_another_number(truid: TruId) -> None:
    check = truid.created("+447400900004")
    response = truid.patch(check["check_id"], truid.code_for(check))
    assert (response.json()["status"], response.json()["match"]) == ("COMPLETED", False)


def test_patch_repeated_with_the_same_code_returns_the_same_result(truid: TruId) -> None:
    check = truid.created(PHONE_SIM)
    code = truid.code_for(check)
    first = truid.patch(check["check_id"], code).json()
    assert truid.patch(check["check_id"], code).json() == first


def test_patch_requires_json_patch_content_type(truid: TruId) -> None:
    check = truid.created(PHONE_SIM)
    response = truid.patch(check["check_id"], truid.code_for(check), content_type="application/json")
    assert_problem(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("document", [
    {"op": "add", "path": "/code", "value": "c"},
    [{"op": "replace", "path": "/code", "value": "c"}],
    [{"op": "add", "path": "/status", "value": "c"}],
    [{"op": "add", "path": "/code"}],
    [{"op": "add", "path": "/code", "value": "c", "from": "/x"}],
    [{"op": "add", "path": "/code", "value": "c"}, {"op": "add", "path": "/code", "value": "c"}],
    [{"op": "add", "path": "/code", "value": 7}],
])
def test_patch_rejects_anything_but_one_add_of_code(truid: TruId, document: Any) -> None:
    check = truid.created(PHONE_SIM)
    assert_problem(truid.patch(check["check_id"], "", body=document), 400, "bad_request")


def test_patch_with_wrong_code_is_check_not_found(truid: TruId) -> None:
    check = truid.created(PHONE_SIM)
    truid.code_for(check)
    assert_problem(truid.patch(check["check_id"], "not-the-code"), 404, "check_not_found")


def test_patch_before_the_phone_has_a_code_is_check_not_found(truid: TruId) -> None:
    check = truid.created(PHONE_SIM)
    assert_problem(truid.patch(check["check_id"], "anything"), 404, "check_not_found")


def test_patch_of_an_unknown_check_is_check_not_found(truid: TruId) -> None:
    assert_problem(truid.patch("c69bc0e6-a429-11ea-bb37-0242ac130002", "x"), 404, "check_not_found")


def test_wifi_phone_is_not_mobile_ip_and_the_check_errors(truid: TruId) -> None:
    check = truid.created(PHONE_SIM)
    assert_problem(truid.phone_opens(check, WIFI_IP), 412, "not_mobile_ip")
    body = truid.get(check["check_id"]).json()
    assert (body["status"], body["error_code"]) == ("ERROR", "not_mobile_ip")


def test_v01_flow_completes_and_get_reports_match(make_truid: Callable[..., TruId]) -> None:
    truid = make_truid(completion_lag_reads=0)
    check = truid.created(PHONE_SIM, "v0.1")
    assert truid.phone_opens(check).json()["check_id"] == check["check_id"]
    body = truid.get(check["check_id"], "v0.1").json()
    assert (body["status"], body["match"], body["network_id"]) == ("COMPLETED", True, "23410")


def test_v01_first_get_after_completion_still_says_pending(truid: TruId) -> None:
    check = truid.created(PHONE_SIM, "v0.1")
    truid.phone_opens(check)
    statuses = [truid.get(check["check_id"], "v0.1").json()["status"] for _ in range(2)]
    assert statuses == ["PENDING", "COMPLETED"]


def test_v01_check_is_not_found_under_v02(truid: TruId) -> None:
    check = truid.created(PHONE_SIM, "v0.1")
    assert_problem(truid.get(check["check_id"], "v0.2"), 404, "check_not_found")


# -- expiry ---------------------------------------------------------------------------------------

def test_check_past_ttl_reads_expired(truid: TruId) -> None:
    check = truid.created(PHONE_SIM)
    truid.clock.now += 120
    body = truid.get(check["check_id"]).json()
    assert body["status"] == "EXPIRED" and "match" not in body


def test_check_url_past_ttl_is_check_not_found(truid: TruId) -> None:
    check = truid.created(PHONE_SIM)
    truid.clock.now += 121
    assert_problem(truid.phone_opens(check), 404, "check_not_found")


def test_patch_after_ttl_reports_expired(truid: TruId) -> None:
    check = truid.created(PHONE_SIM)
    code = truid.code_for(check)
    truid.clock.now += 121
    body = truid.patch(check["check_id"], code).json()
    assert body["status"] == "EXPIRED" and "match" not in body


# -- GET per the published schema, in every status ------------------------------------------------

def _check_in(truid: TruId, status: str) -> str:
    check = truid.created("+447400900099" if status == "ERROR" else PHONE_SIM, "v0.1")
    if status in ("PENDING", "COMPLETED", "ERROR"):
        truid.phone_opens(check)
    if status == "COMPLETED":
        truid.get(check["check_id"], "v0.1")  # the completion lag
    if status == "EXPIRED":
        truid.clock.now += 121
    return str(check["check_id"])


@pytest.mark.parametrize("status", ["ACCEPTED", "PENDING", "COMPLETED", "ERROR", "EXPIRED"])
def test_get_answers_per_the_published_schema(truid: TruId, spec: Spec, status: str) -> None:
    response = truid.get(_check_in(truid, status), "v0.1")
    assert response.headers["Content-Type"] == "application/hal+json"
    body = response.json()
    spec.validate(body, V01_MODELS, "/components/schemas/PhoneCheck")
    assert body["status"] == status
    assert ("match" in body, "network_id" in body) == (status == "COMPLETED",) * 2
    assert ("error_code" in body) == (status == "ERROR")


# -- sandbox-mode projects ------------------------------------------------------------------------

def test_sandbox_mode_even_digit_matches(truid: TruId) -> None:
    check = truid.created("+447400900124", creds=SANDBOX)
    assert truid.patch(check["check_id"], truid.code_for(check, WIFI_IP), SANDBOX).json()["match"] is True


def test_sandbox_mode_odd_digit_does_not_match(truid: TruId) -> None:
    check = truid.created(PHONE_SIM.replace("2", "3"), creds=SANDBOX)
    assert truid.patch(check["check_id"], truid.code_for(check), SANDBOX).json()["match"] is False


def test_sandbox_mode_never_calls_the_network(truid: TruId) -> None:
    check = truid.created("+447400900002", "v0.1", SANDBOX, phone_ip=WIFI_IP)
    truid.phone_opens(check, WIFI_IP)
    assert truid.network.calls == []


# -- trigger numbers ------------------------------------------------------------------------------

@pytest.mark.parametrize(("phone", "status", "code"), [
    ("+447400900098", 400, "mno_not_supported"),
    ("+447400900097", 429, "too_many_requests"),
    ("+447400900096", 503, "service_unavailable"),
    ("+447400900094", 409, "ip_msisdn_mismatch"),
])
def test_trigger_numbers_fail_create(truid: TruId, phone: str, status: int, code: str) -> None:
    assert_problem(truid.create(phone), status, code)


def test_trigger_97_rate_limit_carries_retry_after(truid: TruId) -> None:
    assert truid.create("+447400900097").headers["Retry-After"] == "30"


def test_trigger_95_create_outlasts_a_short_client_timeout(make_truid: Callable[..., TruId]) -> None:
    truid = make_truid(slow_seconds=0.5)
    with pytest.raises(requests.ReadTimeout):
        truid.create("+447400900095", timeout=0.1)


def test_trigger_95_create_answers_after_slow_seconds(make_truid: Callable[..., TruId]) -> None:
    truid = make_truid(slow_seconds=0.3)
    started = time.monotonic()
    assert truid.create("+447400900095").status_code == 201
    assert time.monotonic() - started >= 0.3


def test_trigger_99_ends_mno_server_error_when_the_phone_opens_check_url(truid: TruId, spec: Spec) -> None:
    check = truid.created("+447400900099", "v0.1")
    body = truid.phone_opens(check).json()
    spec.validate(body, V02_MODELS, "/components/schemas/PhoneCheckRedirectError")
    assert body["error"] == "mno_server_error" and truid.network.calls == []
    assert truid.get(check["check_id"], "v0.1").json()["error_code"] == "mno_server_error"


def test_trigger_99_v02_redirects_to_redirect_url_with_the_error(truid: TruId) -> None:
    check = truid.created("+447400900099", redirect_url=APP_RETURN)
    query = redirect_query(truid.phone_opens(check))
    assert (query["check_id"], query["error"]) == ([check["check_id"]], ["mno_server_error"])
    assert query["error_description"][0] and "code" not in query


def test_trigger_93_check_url_is_redirect_unsupported(truid: TruId) -> None:
    check = truid.created("+447400900093")
    assert_problem(truid.phone_opens(check), 501, "mno_redirect_unsupported")
    assert truid.get(check["check_id"]).json()["error_code"] == "mno_redirect_unsupported"


def test_trigger_93_v02_redirects_to_redirect_url_with_the_error(truid: TruId) -> None:
    check = truid.created("+447400900093", redirect_url=APP_RETURN)
    assert redirect_query(truid.phone_opens(check))["error"] == ["mno_redirect_unsupported"]


def test_trigger_92_ends_mno_user_not_found_after_the_operator(truid: TruId) -> None:
    check = truid.created("+447400900092")
    assert truid.phone_opens(check).json()["error"] == "mno_user_not_found"
    assert "/he/authorize" in truid.network.calls
    body = truid.get(check["check_id"]).json()
    assert (body["status"], body["error_code"]) == ("ERROR", "mno_user_not_found")


# -- problems are tru.ID's own, word for word -----------------------------------------------------

@pytest.mark.parametrize(("example", "make_problem"), [
    ("InvalidPhoneNumberFormat", lambda t: t.create("0")),
    ("MobileNetworkOperatorNotSupported", lambda t: t.create("+447400900098")),
    ("IPMSISDNMismatch", lambda t: t.create("+447400900094")),
    ("RateLimitReached", lambda t: t.create("+447400900097")),
    ("CheckNotFound", lambda t: t.get("c69bc0e6-a429-11ea-bb37-0242ac130002")),
    ("NotMobileIp", lambda t: t.phone_opens(t.created(PHONE_SIM), WIFI_IP)),
    ("NotMobileIp", lambda t: t.coverage(WIFI_IP)),
    ("MobileNetworkOperatorNotSupported", lambda t: _unsupported_coverage(t)),
    ("MobileNetworkOperatorRedirectNotSupported", lambda t: t.phone_opens(t.created("+447400900093"))),
])
def test_problem_bodies_equal_the_published_examples(truid: TruId, spec: Spec, example: str,
                                                     make_problem: Callable[[TruId], Any]) -> None:
    body = make_problem(truid).json()
    spec.validate(body, PROBLEMS, f"/components/responses/{example}")
    assert body == _load_yaml(spec.uri(PROBLEMS, "")).contents["components"]["responses"][example]["example"]


def _unsupported_coverage(truid: TruId) -> Any:
    assert truid.admin("POST", "coverage", json={"unsupported_networks": ["23415"]}).status_code == 200
    return truid.coverage(OTHER_NETWORK_IP)


# -- /_sandbox/ test controls ---------------------------------------------------------------------

def test_requests_are_recorded_with_credentials_reduced_to_their_scheme(truid: TruId) -> None:
    truid.created(PHONE_SIM, reference_id="ref-3")
    token_call, create_call = truid.admin("GET", "requests").json()
    assert (token_call["path"], token_call["headers"]["Authorization"]) == ("/oauth2/v1/token", "Basic")
    assert (create_call["method"], create_call["headers"]["Authorization"]) == ("POST", "Bearer")
    assert json.loads(create_call["body"])["reference_id"] == "ref-3"


def test_deleting_requests_empties_the_log(truid: TruId) -> None:
    truid.created(PHONE_SIM)
    assert truid.admin("DELETE", "requests").status_code == 204
    assert truid.admin("GET", "requests").json() == []


def test_fault_answers_its_status_for_count_matching_requests(truid: TruId) -> None:
    check = truid.created(PHONE_SIM)
    code = truid.code_for(check)
    fault = {"method": "PATCH", "path_regex": r"^/phone_check/v0\.2/checks/", "status": 500, "count": 1}
    assert truid.admin("POST", "faults", json=fault).status_code == 201
    assert_problem(truid.patch(check["check_id"], code), 500, "internal_server_error")
    assert truid.patch(check["check_id"], code).status_code == 200


def test_429_fault_carries_retry_after(truid: TruId) -> None:
    truid.admin("POST", "faults", json={"method": "POST", "path_regex": "/checks$", "status": 429})
    assert truid.create(PHONE_SIM).headers["Retry-After"] == "30"


def test_deleting_faults_disarms_them(truid: TruId) -> None:
    truid.admin("POST", "faults", json={"path_regex": "/oauth2/", "status": 503, "count": 5})
    assert truid.admin("DELETE", "faults").status_code == 204
    assert truid.token_response().status_code == 200


def test_delay_fault_answers_normally_but_late(truid: TruId) -> None:
    truid.admin("POST", "faults", json={"method": "POST", "path_regex": "/checks$", "delay_seconds": 0.2})
    started = time.monotonic()
    assert truid.create(PHONE_SIM).status_code == 201
    assert time.monotonic() - started >= 0.2


def test_body_fault_answers_its_bytes_verbatim_with_its_content_type(truid: TruId) -> None:
    fault = {"method": "POST", "path_regex": "/checks$", "status": 201, "raw_body": '{"check_id": "ab',
             "content_type": "text/html"}
    assert truid.admin("POST", "faults", json=fault).status_code == 201
    response = truid.create(PHONE_SIM)
    assert (response.status_code, response.headers["Content-Type"], response.text) == (201, "text/html",
                                                                                        '{"check_id": "ab')


def test_location_fault_answers_a_redirect_there(truid: TruId) -> None:
    fault = {"method": "POST", "path_regex": "/checks$", "status": 302, "headers": {"Location": "/elsewhere"}}
    assert truid.admin("POST", "faults", json=fault).status_code == 201
    response = truid.http.post(f"{truid.base_url}/phone_check/v0.2/checks", headers=truid.bearer(),
                               json={"phone_number": PHONE_SIM}, allow_redirects=False, timeout=5)
    assert (response.status_code, response.headers["Location"]) == (302, "/elsewhere")


@pytest.mark.parametrize("fault", [
    {"path_regex": "/"},  # neither status nor delay
    {"path_regex": "/", "status": 201},  # a success needs a body
    {"path_regex": "/", "delay_seconds": 31},
    {"path_regex": "/", "raw_body": "{}"},  # a body needs a status
    {"path_regex": "/", "status": 500, "headers": {"Location": "/elsewhere"}},  # a location needs a 3xx
])
def test_fault_that_could_not_be_applied_is_rejected(truid: TruId, fault: dict[str, Any]) -> None:
    assert_problem(truid.admin("POST", "faults", json=fault), 400, "bad_request")


def test_fault_with_an_unknown_field_is_rejected(truid: TruId) -> None:
    response = truid.admin("POST", "faults", json={"path_regex": "/", "status": 500, "times": 2})
    assert_problem(response, 400, "bad_request")


# -- Coverage: device reachability by IP -----------------------------------------------------------

def test_coverage_of_a_cellular_ip_answers_200_hal_json_per_the_published_schema(truid: TruId, spec: Spec) -> None:
    response = truid.coverage(PHONE_IP)
    assert (response.status_code, response.headers["Content-Type"]) == (200, "application/hal+json")
    body = response.json()
    # Where the body departs from DeviceReachability it follows tru.ID's documented example: product ids in
    # upper case (DataTypes' response enum ProductIDResponse; the schema points at the lower-case request enum
    # ProductID) and, as every tru.ID resource, HAL `_links` (which the schema does not list).
    spec.validate(body["_links"]["self"], LINK, "")
    for product in body["products"]:
        spec.validate_value(product["product_id"], DATA_TYPES, "/components/schemas/ProductIDResponse")
    as_published = {key: value for key, value in body.items() if key != "_links"}
    as_published["products"] = [{**p, "product_id": p["product_id"].lower()} for p in body["products"]]
    spec.validate(as_published, COVERAGE_MODELS, "/components/schemas/DeviceReachability")


def test_coverage_names_the_network_of_the_line_behind_the_ip(truid: TruId) -> None:
    body = truid.coverage(OTHER_NETWORK_IP).json()
    assert body == {
        "network_id": "23415",
        "network_name": "Vodafone UK",
        "country_code": "GB",
        "mobile_data_ip": OTHER_NETWORK_IP,
        "products": [{"product_id": "PCK", "product_name": "Phone Check"},
                     {"product_id": "SCK", "product_name": "Sim Check"},
                     {"product_id": "SUK", "product_name": "Subscriber Check"}],
        "_links": {"self": {"href": f"{truid.base_url}/coverage/v0.1/device_ips/{OTHER_NETWORK_IP}"}},
    }
    assert f"/lines/{OTHER_NETWORK_IP}" in truid.network.calls


@pytest.mark.parametrize(("network_id", "country"), [
    ("23410", "GB"), ("23501", "GB"), ("21407", "ES"), ("72406", "BR"), ("26201", "DE"),
    ("310260", "US"), ("316010", "US"), ("317001", "ZZ"), ("00101", "ZZ"),
])
def test_coverage_country_code_follows_the_mcc(truid: TruId, network_id: str, country: str) -> None:
    truid.network.lines = {**FakeNetwork.lines, "127.64.0.30": ("+447400900030", network_id)}
    truid.network.operators = {**FakeNetwork.operators, network_id: "Some operator"}
    assert truid.coverage("127.64.0.30").json()["country_code"] == country


def test_coverage_of_a_wifi_ip_is_not_mobile_ip(truid: TruId) -> None:
    body = assert_problem(truid.coverage(WIFI_IP), 412, "not_mobile_ip")
    assert body["detail"] == "Not a mobile IP"


def test_coverage_of_an_ip_unknown_to_the_network_is_not_mobile_ip(truid: TruId) -> None:
    assert_problem(truid.coverage("192.0.2.10"), 412, "not_mobile_ip")


def test_coverage_of_an_ipv6_address_is_not_mobile_ip_without_asking_the_network(truid: TruId) -> None:
    assert_problem(truid.coverage("2001:db8::7"), 412, "not_mobile_ip")
    assert not [call for call in truid.network.calls if call.startswith("/lines/")]


def test_coverage_of_a_network_configured_unsupported_is_mno_not_supported(make_truid: Callable[..., TruId]) -> None:
    truid = make_truid(unsupported_networks=frozenset({"23415"}))
    body = assert_problem(truid.coverage(OTHER_NETWORK_IP), 400, "mno_not_supported")
    assert body["detail"] == "Mobile Network Operator Not Supported"


def test_coverage_of_a_supported_network_answers_while_another_is_unsupported(
        make_truid: Callable[..., TruId]) -> None:
    truid = make_truid(unsupported_networks=frozenset({"23415"}))
    assert truid.coverage(PHONE_IP).status_code == 200


def test_sandbox_coverage_post_makes_a_network_unsupported(truid: TruId) -> None:
    response = truid.admin("POST", "coverage", json={"unsupported_networks": ["23410"]})
    assert (response.status_code, response.json()) == (200, {"unsupported_networks": ["23410"]})
    assert_problem(truid.coverage(PHONE_IP), 400, "mno_not_supported")


def test_sandbox_coverage_post_replaces_the_configured_networks(make_truid: Callable[..., TruId]) -> None:
    truid = make_truid(unsupported_networks=frozenset({"23415"}))
    truid.admin("POST", "coverage", json={"unsupported_networks": []})
    assert truid.coverage(OTHER_NETWORK_IP).status_code == 200


def test_sandbox_coverage_delete_restores_the_configured_networks(make_truid: Callable[..., TruId]) -> None:
    truid = make_truid(unsupported_networks=frozenset({"23415"}))
    truid.admin("POST", "coverage", json={"unsupported_networks": ["23410"]})
    assert truid.admin("DELETE", "coverage").status_code == 204
    assert truid.admin("GET", "coverage").json() == {"unsupported_networks": ["23415"]}
    assert truid.coverage(PHONE_IP).status_code == 200
    assert_problem(truid.coverage(OTHER_NETWORK_IP), 400, "mno_not_supported")


@pytest.mark.parametrize("body", [{"unsupported_networks": ["O2"]}, {"unsupported_networks": [23410]},
                                  {"unsupported_networks": "23410"}, {"networks": ["23410"]}, ["23410"]])
def test_sandbox_coverage_rejects_anything_but_a_list_of_network_ids(truid: TruId, body: Any) -> None:
    assert_problem(truid.admin("POST", "coverage", json=body), 400, "bad_request")


def test_coverage_with_a_phone_check_only_token_is_forbidden(truid: TruId) -> None:
    assert_problem(truid.coverage(PHONE_IP, scope="phone_check"), 403, "forbidden")


def test_token_with_phone_check_and_coverage_scopes_serves_both_apis(truid: TruId) -> None:
    assert truid.coverage(PHONE_IP, scope="phone_check coverage").status_code == 200
    response = truid.http.post(f"{truid.base_url}/phone_check/v0.2/checks", json={"phone_number": PHONE_SIM},
                               headers=truid.bearer(scope="phone_check coverage"), timeout=5)
    assert response.status_code == 201


def test_coverage_only_token_serves_coverage(truid: TruId) -> None:
    assert truid.coverage(PHONE_IP, scope="coverage").status_code == 200


@pytest.mark.parametrize("ip", ["127.64.0", "not-an-ip", "127.064.0.7", "127.64.0.7:443", "127.64.0.7/32",
                                "fe80::1%25eth0", "2001:db8::g"])
def test_coverage_of_a_malformed_ip_is_bad_request(truid: TruId, ip: str) -> None:
    assert_problem(truid.coverage(ip), 400, "bad_request")
    assert not [call for call in truid.network.calls if call.startswith("/lines/")]


def test_coverage_without_a_bearer_token_is_unauthorized(truid: TruId) -> None:
    response = truid.http.get(f"{truid.base_url}/coverage/v0.1/device_ips/{PHONE_IP}", timeout=5)
    assert_problem(response, 401, "unauthorized")


def test_coverage_with_the_network_down_is_service_unavailable(truid: TruId) -> None:
    truid.network.down = True
    assert_problem(truid.coverage(PHONE_IP), 503, "service_unavailable")


def test_coverage_lookup_is_recorded_in_the_request_log(truid: TruId) -> None:
    truid.coverage(PHONE_IP)
    lookup = truid.admin("GET", "requests").json()[-1]
    assert (lookup["method"], lookup["path"]) == ("GET", f"/coverage/v0.1/device_ips/{PHONE_IP}")
    assert lookup["headers"]["Authorization"] == "Bearer"


# -- signed callbacks -----------------------------------------------------------------------------

CALLBACK_PATH = "/truid/callback?tenant=t1"
SIGNED = "(request-target) host date x-tru-callback digest"
AUTHORIZATION = re.compile(r'Signature keyId="[^"]+",algorithm="rsa-sha256",'
                           r'headers="\(request-target\) host date x-tru-callback digest",signature="[A-Za-z0-9+/]+=*"')
IMF_FIXDATE = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT")


@dataclass(frozen=True)
class Delivered:
    method: str
    path_qs: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float  # time.monotonic()

    @property
    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.body)
        return body


class Receiver:
    """A backend's callback endpoint: records every request, answers `statuses` in turn, then 200."""

    def __init__(self) -> None:
        self.received: list[Delivered] = []
        self.statuses: list[int] = []
        self.base_url = ""
        self._changed = threading.Condition()

    @property
    def url(self) -> str:
        return self.base_url + CALLBACK_PATH

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        query = environ.get("QUERY_STRING")
        path_qs = environ["PATH_INFO"] + (f"?{query}" if query else "")
        with self._changed:
            self.received.append(Delivered(environ["REQUEST_METHOD"], path_qs, headers, body, time.monotonic()))
            status = self.statuses.pop(0) if self.statuses else 200
            self._changed.notify_all()
        start_response(f"{status} {HTTPStatus(status).phrase}", [("Content-Type", "text/plain")])
        return [b""]

    def wait_for(self, count: int, timeout: float = 5) -> list[Delivered]:
        with self._changed:
            arrived = self._changed.wait_for(lambda: len(self.received) >= count, timeout)
            assert arrived, f"expected {count} callback(s), got {len(self.received)}"
            return list(self.received)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    fake = Receiver()
    server = serve(fake)
    fake.base_url = server.base_url
    yield fake
    server.stop()


@pytest.fixture
def hooked(make_truid: Callable[..., TruId]) -> TruId:
    """A simulator that retries callbacks after 50 ms and notices expiry within 20 ms."""
    return make_truid(callback_retry_delays=(0.05, 0.05), expiry_sweep_seconds=0.02)


def completed_v02(truid: TruId, receiver: Receiver, phone: str = PHONE_SIM, **fields: Any) -> dict[str, Any]:
    check: dict[str, Any] = truid.created(phone, callback_url=receiver.url, **fields)
    assert truid.patch(check["check_id"], truid.code_for(check)).json()["status"] == "COMPLETED"
    return check


def jwks(truid: TruId) -> dict[str, Any]:
    response = truid.http.get(f"{truid.base_url}/.well-known/jwks.json", timeout=5)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def attempts(truid: TruId, count: int, timeout: float = 5) -> list[dict[str, Any]]:
    """GET /_sandbox/callbacks once it lists `count` attempts (an attempt is logged when its answer is in)."""
    deadline = time.monotonic() + timeout
    while len(logged := truid.admin("GET", "callbacks").json()) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(logged) >= count, logged
    return list(logged)


def arm(truid: TruId, mode: str, count: int = 1) -> None:
    assert truid.admin("POST", "callback-faults", json={"mode": mode, "count": count}).status_code == 201


# The reference's verification sketch (truid-phonecheck.md section 5), with the JWK read by cryptography.

def signature_params(headers: dict[str, str]) -> dict[str, str]:
    scheme, _, params = headers["authorization"].partition(" ")
    assert scheme == "Signature"
    return dict(re.findall(r'(\w+)="([^"]*)"', params))


def digest_matches(headers: dict[str, str], body: bytes) -> bool:
    want = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
    want_hex = "SHA-256=" + hashlib.sha256(body).hexdigest()
    return headers.get("digest") in (want, want_hex)


def public_key(jwk: dict[str, str]) -> rsa.RSAPublicKey:
    def uint(value: str) -> int:
        return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")

    return rsa.RSAPublicNumbers(uint(jwk["e"]), uint(jwk["n"])).public_key()


def signature_verifies(method: str, path_qs: str, headers: dict[str, str], keys: dict[str, Any]) -> bool:
    params = signature_params(headers)
    lines = []
    for name in params.get("headers", "date").split():
        value = f"{method.lower()} {path_qs}" if name == "(request-target)" else headers[name]
        lines.append(f"{name}: {value}")
    jwk = next((k for k in keys["keys"] if k.get("kid") == params["keyId"]), None)
    if jwk is None:
        return False
    try:
        public_key(jwk).verify(base64.b64decode(params["signature"]), "\n".join(lines).encode(),
                               padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def verify_truid_callback(delivered: Delivered, keys: dict[str, Any]) -> bool:
    return digest_matches(delivered.headers, delivered.body) and signature_verifies(
        delivered.method, delivered.path_qs, delivered.headers, keys)


def test_jwks_publishes_one_rsa_2048_signing_key(truid: TruId) -> None:
    [key] = jwks(truid)["keys"]
    assert set(key) == {"kty", "kid", "alg", "use", "n", "e"}
    assert (key["kty"], key["alg"], key["use"], key["e"]) == ("RSA", "RS256", "sig", "AQAB")
    assert public_key(key).key_size == 2048 and key["kid"]


def test_create_rejects_a_callback_url_off_loopback(truid: TruId) -> None:
    for url in ("https://backend.example.com/truid/callback", "ftp://127.0.0.1/cb", "http://u@127.0.0.1/cb",
                "/truid/callback"):
        assert_problem(truid.create(PHONE_SIM, callback_url=url), 400, "bad_request")


def test_completed_v02_callback_carries_the_documented_fields(hooked: TruId, receiver: Receiver,
                                                              spec: Spec) -> None:
    check = completed_v02(hooked, receiver, reference_id="ref-cb")
    [delivered] = receiver.wait_for(1)
    payload = delivered.payload
    spec.validate(payload, V02_MODELS, "/components/schemas/PhoneCheckCallbackPayload")
    assert set(payload) == {"check_id", "reference_id", "status", "match", "charge_amount", "charge_currency",
                            "created_at", "updated_at", "network_id"}
    assert (payload["check_id"], payload["reference_id"], payload["status"], payload["match"]) == (
        check["check_id"], "ref-cb", "COMPLETED", True)
    assert (payload["network_id"], payload["charge_amount"], payload["charge_currency"]) == ("23410", 1, "API")


def test_completed_v02_callback_carries_the_documented_headers(hooked: TruId, receiver: Receiver) -> None:
    completed_v02(hooked, receiver)
    [delivered] = receiver.wait_for(1)
    headers = delivered.headers
    assert (delivered.method, delivered.path_qs) == ("POST", CALLBACK_PATH)
    assert (headers["content-type"], headers["x-tru-callback"]) == ("application/json", "phone_check")
    assert headers["host"] == urlsplit(receiver.base_url).netloc
    assert IMF_FIXDATE.fullmatch(headers["date"])
    assert parsedate_to_datetime(headers["date"]).timestamp() == hooked.clock.now
    assert headers["digest"].startswith("SHA-256=")
    assert AUTHORIZATION.fullmatch(headers["authorization"])
    assert signature_params(headers)["keyId"] == jwks(hooked)["keys"][0]["kid"]


def test_callback_signature_verifies_against_the_published_jwks(hooked: TruId, receiver: Receiver) -> None:
    completed_v02(hooked, receiver)
    [delivered] = receiver.wait_for(1)
    assert signature_params(delivered.headers)["headers"] == SIGNED
    assert verify_truid_callback(delivered, jwks(hooked))


def test_callback_digest_is_the_base64_sha256_of_the_raw_body(hooked: TruId, receiver: Receiver) -> None:
    completed_v02(hooked, receiver)
    [delivered] = receiver.wait_for(1)
    sha256 = hashlib.sha256(delivered.body).digest()
    assert delivered.headers["digest"] == "SHA-256=" + base64.b64encode(sha256).decode()


def test_v02_check_does_not_call_back_before_the_patch(hooked: TruId, receiver: Receiver) -> None:
    check = hooked.created(PHONE_SIM, callback_url=receiver.url)
    hooked.code_for(check)
    time.sleep(0.2)
    assert receiver.received == [] and hooked.admin("GET", "callbacks").json() == []


def test_repeated_patch_calls_back_once(hooked: TruId, receiver: Receiver) -> None:
    check = hooked.created(PHONE_SIM, callback_url=receiver.url)
    code = hooked.code_for(check)
    hooked.patch(check["check_id"], code)
    hooked.patch(check["check_id"], code)
    receiver.wait_for(1)
    time.sleep(0.2)
    assert len(receiver.received) == 1


def test_check_without_callback_url_calls_nothing(hooked: TruId, receiver: Receiver) -> None:
    check = hooked.created(PHONE_SIM)
    hooked.patch(check["check_id"], hooked.code_for(check))
    time.sleep(0.2)
    assert hooked.admin("GET", "callbacks").json() == []


def test_error_check_calls_back_with_its_error_code(hooked: TruId, receiver: Receiver, spec: Spec) -> None:
    check = hooked.created("+447400900099", callback_url=receiver.url)
    hooked.phone_opens(check)
    [delivered] = receiver.wait_for(1)
    payload = delivered.payload
    spec.validate(payload, V02_MODELS, "/components/schemas/PhoneCheckCallbackPayload")
    assert (payload["check_id"], payload["status"], payload["error_code"]) == (
        check["check_id"], "ERROR", "mno_server_error")
    assert "match" not in payload and "network_id" not in payload
    assert verify_truid_callback(delivered, jwks(hooked))


def test_v01_check_calls_back_when_the_device_hop_completes_it(hooked: TruId, receiver: Receiver,
                                                               spec: Spec) -> None:
    check = hooked.created(PHONE_SIM, "v0.1", callback_url=receiver.url)
    hooked.phone_opens(check)
    [delivered] = receiver.wait_for(1)
    spec.validate(delivered.payload, V01_MODELS, "/components/schemas/PhoneCheckCallbackPayload")
    assert (delivered.payload["status"], delivered.payload["match"]) == ("COMPLETED", True)
    assert verify_truid_callback(delivered, jwks(hooked))


def test_expired_check_calls_back_without_being_read(hooked: TruId, receiver: Receiver) -> None:
    check = hooked.created(PHONE_SIM, callback_url=receiver.url)
    hooked.clock.now += 120
    [delivered] = receiver.wait_for(1)
    assert (delivered.payload["check_id"], delivered.payload["status"]) == (check["check_id"], "EXPIRED")
    assert "match" not in delivered.payload and "error_code" not in delivered.payload


def test_callback_is_retried_after_a_500(hooked: TruId, receiver: Receiver) -> None:
    receiver.statuses = [500]
    completed_v02(hooked, receiver)
    first, second = receiver.wait_for(2)
    assert first.body == second.body and verify_truid_callback(second, jwks(hooked))
    assert [(a["attempt"], a["status_code"]) for a in attempts(hooked, 2)] == [(1, 500), (2, 200)]


def test_callback_retry_waits_the_configured_delay(make_truid: Callable[..., TruId], receiver: Receiver) -> None:
    truid = make_truid(callback_retry_delays=(0.3,))
    receiver.statuses = [503]
    completed_v02(truid, receiver)
    first, second = receiver.wait_for(2)
    assert second.at - first.at >= 0.3


def test_callback_retries_stop_when_the_schedule_is_spent(hooked: TruId, receiver: Receiver) -> None:
    receiver.statuses = [500] * 10
    completed_v02(hooked, receiver)
    receiver.wait_for(3)
    time.sleep(0.2)  # four times the 50 ms retry delay: a fourth attempt would have come
    assert len(receiver.received) == 3


def test_callbacks_log_records_every_attempt(hooked: TruId, receiver: Receiver) -> None:
    check = completed_v02(hooked, receiver)
    [delivered] = receiver.wait_for(1)
    [attempt] = attempts(hooked, 1)
    assert (attempt["check_id"], attempt["url"], attempt["status_code"]) == (check["check_id"], receiver.url, 200)
    assert attempt["body"].encode() == delivered.body
    assert attempt["headers"]["Authorization"] == delivered.headers["authorization"]
    datetime.fromisoformat(attempt["at"])


def test_deleting_callbacks_empties_the_log(hooked: TruId, receiver: Receiver) -> None:
    completed_v02(hooked, receiver)
    attempts(hooked, 1)
    assert hooked.admin("DELETE", "callbacks").status_code == 204
    assert hooked.admin("GET", "callbacks").json() == []


def test_fault_tamper_body_changes_match_after_signing(hooked: TruId, receiver: Receiver) -> None:
    arm(hooked, "tamper_body")
    completed_v02(hooked, receiver)
    [delivered] = receiver.wait_for(1)
    assert delivered.payload["match"] is False
    assert not digest_matches(delivered.headers, delivered.body)
    assert signature_verifies(delivered.method, delivered.path_qs, delivered.headers, jwks(hooked))


def test_fault_bad_signature_fails_verification_with_a_published_kid(hooked: TruId, receiver: Receiver) -> None:
    arm(hooked, "bad_signature")
    completed_v02(hooked, receiver)
    [delivered] = receiver.wait_for(1)
    keys = jwks(hooked)
    assert signature_params(delivered.headers)["keyId"] == keys["keys"][0]["kid"]
    assert digest_matches(delivered.headers, delivered.body) and not verify_truid_callback(delivered, keys)


def test_fault_stale_date_signs_a_date_ten_minutes_old(hooked: TruId, receiver: Receiver) -> None:
    arm(hooked, "stale_date")
    completed_v02(hooked, receiver)
    [delivered] = receiver.wait_for(1)
    assert parsedate_to_datetime(delivered.headers["date"]).timestamp() == hooked.clock.now - 600
    assert verify_truid_callback(delivered, jwks(hooked))


def test_fault_unknown_kid_signs_with_a_key_missing_from_the_jwks(hooked: TruId, receiver: Receiver) -> None:
    arm(hooked, "unknown_kid")
    completed_v02(hooked, receiver)
    [delivered] = receiver.wait_for(1)
    keys = jwks(hooked)
    assert signature_params(delivered.headers)["keyId"] not in {k["kid"] for k in keys["keys"]}
    assert digest_matches(delivered.headers, delivered.body) and not verify_truid_callback(delivered, keys)


def test_fault_no_signature_omits_authorization(hooked: TruId, receiver: Receiver) -> None:
    arm(hooked, "no_signature")
    completed_v02(hooked, receiver)
    [delivered] = receiver.wait_for(1)
    assert "authorization" not in delivered.headers
    assert {"date", "digest", "x-tru-callback"} <= set(delivered.headers)


def test_fault_twice_delivers_the_identical_request_two_times(hooked: TruId, receiver: Receiver) -> None:
    arm(hooked, "twice")
    completed_v02(hooked, receiver)
    first, second = receiver.wait_for(2)
    assert (first.path_qs, first.headers, first.body) == (second.path_qs, second.headers, second.body)
    assert verify_truid_callback(first, jwks(hooked))


def test_fault_never_skips_delivery(hooked: TruId, receiver: Receiver) -> None:
    arm(hooked, "never")
    check = completed_v02(hooked, receiver)
    [attempt] = attempts(hooked, 1)
    assert (attempt["check_id"], attempt["fault"]) == (check["check_id"], "never") and "status_code" not in attempt
    time.sleep(0.2)
    assert receiver.received == []


def test_callback_fault_shapes_only_count_callbacks(hooked: TruId, receiver: Receiver) -> None:
    arm(hooked, "bad_signature", count=1)
    completed_v02(hooked, receiver)
    receiver.wait_for(1)
    completed_v02(hooked, receiver)
    first, second = receiver.wait_for(2)
    keys = jwks(hooked)
    assert not verify_truid_callback(first, keys) and verify_truid_callback(second, keys)


def test_deleting_callback_faults_disarms_them(hooked: TruId, receiver: Receiver) -> None:
    arm(hooked, "no_signature", count=3)
    assert hooked.admin("DELETE", "callback-faults").status_code == 204
    completed_v02(hooked, receiver)
    [delivered] = receiver.wait_for(1)
    assert verify_truid_callback(delivered, jwks(hooked))


def test_callback_fault_with_an_unknown_mode_is_rejected(hooked: TruId) -> None:
    response = hooked.admin("POST", "callback-faults", json={"mode": "slow", "count": 1})
    assert_problem(response, 400, "bad_request")


def test_redeliver_replays_the_last_request_byte_identical(hooked: TruId, receiver: Receiver) -> None:
    check = completed_v02(hooked, receiver)
    receiver.wait_for(1)
    hooked.clock.now += 30
    response = hooked.admin("POST", f"callbacks/{check['check_id']}/redeliver")
    assert (response.status_code, response.json()["redelivery"], response.json()["status_code"]) == (200, True, 200)
    original, replay = receiver.wait_for(2)
    assert (original.path_qs, original.headers, original.body) == (replay.path_qs, replay.headers, replay.body)


def test_redeliver_without_a_callback_is_not_found(hooked: TruId) -> None:
    check = hooked.created(PHONE_SIM)
    assert_problem(hooked.admin("POST", f"callbacks/{check['check_id']}/redeliver"), 404, "not_found")


def test_rotation_keeps_the_old_key_and_signs_with_the_new(hooked: TruId, receiver: Receiver) -> None:
    [old] = jwks(hooked)["keys"]
    completed_v02(hooked, receiver)
    response = hooked.admin("POST", "rotate-callback-key")
    assert response.status_code == 200
    new_kid = response.json()["kid"]
    completed_v02(hooked, receiver)
    before, after = receiver.wait_for(2)
    keys = jwks(hooked)
    assert [k["kid"] for k in keys["keys"]] == [new_kid, old["kid"]] and new_kid != old["kid"]
    assert signature_params(after.headers)["keyId"] == new_kid
    assert verify_truid_callback(before, keys) and verify_truid_callback(after, keys)


def test_rotation_with_drop_old_unpublishes_the_old_key(hooked: TruId, receiver: Receiver) -> None:
    completed_v02(hooked, receiver)
    [before] = receiver.wait_for(1)
    response = hooked.admin("POST", "rotate-callback-key", json={"drop_old": True})
    keys = jwks(hooked)
    assert [k["kid"] for k in keys["keys"]] == [response.json()["kid"]]
    assert not verify_truid_callback(before, keys)


def test_a_callback_fault_armed_for_one_check_leaves_other_checks_callbacks_alone():
    from sandbox.simulators.truid.callbacks import CallbackFaultPlan

    plan = CallbackFaultPlan()
    plan.add({"mode": "unknown_kid", "check_id": "check-a"})

    assert plan.take("check-b") is None
    assert plan.take("check-a") == "unknown_kid"
    assert plan.take("check-a") is None
