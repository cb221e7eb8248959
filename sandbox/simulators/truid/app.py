"""A simulated tru.ID (PhoneCheck v0.1 and v0.2, Coverage's device lookup) that checks what the real one checks.

Serve `make_app(TruIdSimulator(TruIdConfig(...)))` with `sandbox.httpserver.serve`; its base URL plays
`https://{dr}.api.tru.id`. A "live" Project asks the simulated mobile network (`network_url`) which line
opened the check URL (header enrichment) and matches when that line is the checked number; a "sandbox"
Project follows tru.ID's published rule (even last digit matches, odd does not) and never calls the network
for a check.

Trigger numbers (the last two digits of the checked number, in both modes):

| ends in | effect |
|---|---|
| 99 | check_url: the check ends ERROR `mno_server_error` (tru.ID's own sandbox rule) [1] |
| 98 | create answers 400 `#mno_not_supported` |
| 97 | create answers 429 `#too_many_requests` with `Retry-After: 30` |
| 96 | create answers 503 `#service_unavailable` |
| 95 | create answers 201 only after `slow_seconds` (the check exists already): client timeouts |
| 94 | create answers 409 `#ip_msisdn_mismatch` |
| 93 | check_url: the check ends ERROR `mno_redirect_unsupported`, answer 501 problem [2] |
| 92 | operator: the check ends ERROR `mno_user_not_found` (live mode: after header enrichment) [1] |

[1] The phone gets 200 `{check_id, error, error_description}`; for v0.2 with a `redirect_url`, a 302 to
    it with those three appended to its query.
[2] For v0.2 with a `redirect_url`: a 302 to it with `check_id`, `error=mno_redirect_unsupported`,
    `error_description` instead.

The operator's hop (live projects): check_url remembers the device's address, sets the `truid_device` cookie
and sends the device to the network's `/he/authorize`, registered return `/_mno/return`. The check resumes only
with the one-time `continuation` the network handed the device, redeemed once, from the address that opened
check_url (and made the hop) with its cookie; otherwise the check ends ERROR `ip_mismatch`, tru.ID's documented
code for a redirect from another address than the create's `phone_ip`, which also ends it when check_url is
opened from another address. A missing or unknown continuation answers 404 `#check_not_found` and decides nothing.

SubscriberCheck v0.2 (`/subscriber_check/v0.2/checks`, scope `subscriber_check`) is a PhoneCheck v0.2 with an
integer `period` (60 to 540,000 minutes, default 10,080) whose completed resource adds `no_sim_change`,
`no_sim_change_period` and `sim_change_within`, from the network's record of the number's SIM (a sandbox-mode
Project's lines never changed SIM); a number ending 91 completes without them (the operator shares no SIM data).
SIMCheck v0.1 (`/sim_check/v0.1/checks`, scope `sim_check`) answers the same server to server. See subscriber.py.

Coverage: `GET /coverage/v0.1/device_ips/{ip}` (a token with the `coverage` scope; tokens carry every scope
asked for, so `scope=phone_check coverage` serves both APIs, and a token without the scope an API needs gets 403
`#forbidden`) asks the network for `/lines/{ip}` in both modes. A cellular line answers 200 DeviceReachability
(`network_id`, `network_name`, `country_code` from the MCC, `mobile_data_ip`, the products PCK, SCK and SUK,
`_links.self`); Wi-Fi and unknown addresses 412 `#not_mobile_ip`; a line on one of `unsupported_networks`
(TruIdConfig; `/_sandbox/coverage` replaces them at runtime) 400 `#mno_not_supported`; anything but an IPv4 or
IPv6 literal 400 `#bad_request`; the network down 503 `#service_unavailable`. Details in coverage.py.

Callbacks: when a check with a `callback_url` reaches COMPLETED, EXPIRED or ERROR, the simulator POSTs the
PhoneCheckCallbackPayload to it, signed as tru.ID signs (`Authorization: Signature keyId=…` over
`(request-target) host date x-tru-callback digest`, RSA-SHA256), from a daemon thread, with
`callback_retry_delays` between attempts for as long as the answer is not 200 (tru.ID: 10 s, then +10 s up to
1 min). The public keys are at `GET /.well-known/jwks.json` (RSA 2048, made at start). The format and the
delivery are in callbacks.py. A v0.1 check calls back when the device hop completes it; a v0.2 check only
when the PATCH completes it (a code never exchanged ends EXPIRED); ERROR as soon as the check fails; EXPIRED
at TTL, noticed within `expiry_sweep_seconds` of the simulator's clock even if nobody reads the check.

Where tru.ID's documents are silent, this simulator chooses: check ids are UUIDs (the spec's path parameter
type); `phone_number` may carry a leading "+"; the check URL works once (then 404 `#check_not_found`, also
when the check has expired); a wrong Content-Type is 415; checks are visible only to the Project and API
version that created them; `callback_url` must be a loopback http(s) URL (else 400 `#bad_request`: the sandbox
calls nothing outside the machine); a callback's `date` is the simulator's clock, and each attempt is signed
afresh (so retries carry a new `date`; a redelivery does not); only exactly 200 ends the retries (redirects are
not followed); the JWKS lists the current key first and keeps rotated-out keys; `kid` is the key's RFC 7638
thumbprint; `digest` is `SHA-256=<base64>` (the spec's prose; its example says hex). Test controls live under
/_sandbox/ (requests, revoke-tokens, faults, checks, callbacks, callback-faults, rotate-callback-key, coverage):
see admin.py. Coverage lookups are in the request log like every other API call. The simulated network
hands out IPv4 addresses only, so an IPv6 address is never a line (412, without asking it); IPv4-mapped IPv6
addresses are not unwrapped; `mobile_data_ip` is the address in its canonical (compressed) form.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
import secrets
import threading
import time
import uuid
from typing import Any, cast
from urllib.parse import quote

from sandbox.httpserver import WSGIApp
from sandbox.simulators.device_marks import DeviceMark, device_mismatch, mark_device, with_cookie
from sandbox.simulators.network import NetworkDown, ask_network, is_loopback_url, redeem_continuation
from sandbox.simulators.truid import subscriber
from sandbox.simulators.truid.admin import SandboxControls
from sandbox.simulators.truid.auth import TokenStore
from sandbox.simulators.truid.callbacks import Callbacks
from sandbox.simulators.truid.checks import (
    CHARGE_AMOUNT,
    CHECK_URL_ERRORS,
    CREATE_FAILURES,
    OPERATOR_ERRORS,
    SANDBOX_NETWORK_ID,
    SLOW_CREATE,
    STARTING_BALANCE,
    PhoneCheck,
    Version,
    e164_digits,
    sandbox_match,
)
from sandbox.simulators.truid.config import TruIdConfig
from sandbox.simulators.truid.coverage import DEVICE_IPS_PATH, Coverage
from sandbox.simulators.truid.problems import problem
from sandbox.simulators.truid.subscriber import SIM_CHECK, SUBSCRIBER_CHECK
from sandbox.simulators.wsgi import (
    ADMIN_PREFIX,
    Request,
    Response,
    is_http_url,
    json_response,
    redirect,
    simulator_app,
    with_query,
)

__all__ = ["TruIdSimulator", "make_app"]

HAL_JSON = "application/hal+json"
JWKS_PATH = "/.well-known/jwks.json"
RESUME_PATH = "/_mno/return"  # where the operator's hop sends the device back (registered with the network)
DEVICE_COOKIE = "truid_device"
_CHECKS_PATH = re.compile(r"/(phone_check|subscriber_check)/(v0\.[12])/checks(?:/([^/]+)(/redirect)?)?/?")
_SIM_CHECKS_PATH = re.compile(r"/sim_check/v0\.1/checks(?:/([^/]+))?/?")
_CREATE_FIELDS: dict[Version, frozenset[str]] = {
    "v0.1": frozenset({"phone_number", "phone_ip", "reference_id", "callback_url"}),
    "v0.2": frozenset({"phone_number", "phone_ip", "reference_id", "callback_url", "redirect_url"}),
}
_log = logging.getLogger(__name__)


class TruIdSimulator:
    """tru.ID's state in memory (tokens, checks, header-enrichment sessions); safe to share across threads."""

    def __init__(self, config: TruIdConfig) -> None:
        self.config = config
        self.tokens = TokenStore(config.projects, config.token_expires_in, config.clock)
        self.callbacks = Callbacks(config.callback_retry_delays, config.callback_timeout_seconds, config.clock)
        self.coverage = Coverage(config.network_url, config.unsupported_networks)
        self.controls = SandboxControls(self.tokens.revoke_all, self.check_summaries, self.callbacks, self.coverage)
        self._lock = threading.Lock()
        self._checks: dict[str, PhoneCheck] = {}
        self._sim_checks: dict[str, subscriber.SimCheck] = {}
        self._sessions: dict[str, tuple[str, DeviceMark]] = {}  # header-enrichment session -> check, device
        self._balances: dict[str, float] = {}
        self._sweeper: threading.Thread | None = None
        self._closed = threading.Event()

    def handle(self, request: Request) -> Response:
        if request.path.startswith(ADMIN_PREFIX):
            return self.controls.handle(request)
        self.controls.log.record(request)
        injected = self.controls.faults.take(request)
        if injected is None:
            return self._route(request)
        time.sleep(injected.delay_seconds)
        return injected.response or self._route(request)

    def check_summaries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [check.summary() for check in self._checks.values()]

    def close(self) -> None:
        """Stop the background work (the expiry sweep, waiting callback retries); the HTTP face stays up."""
        self._closed.set()
        self.callbacks.close()

    def _route(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path == "/oauth2/v1/token":
            return self.tokens.issue(request) if method == "POST" else _not_allowed("POST")
        if path == RESUME_PATH:
            return self._operator_return(request) if method == "GET" else _not_allowed("GET")
        if path == JWKS_PATH:
            return json_response(200, self.callbacks.keys.jwks()) if method == "GET" else _not_allowed("GET")
        coverage = DEVICE_IPS_PATH.fullmatch(path)
        if coverage is not None:
            return self._device_reachability(request, coverage[1]) if method == "GET" else _not_allowed("GET")
        if sim_check := _SIM_CHECKS_PATH.fullmatch(path):
            return self._sim_check(request, sim_check[1])
        match = _CHECKS_PATH.fullmatch(path)
        if match is None or (match[1] == SUBSCRIBER_CHECK and match[2] != "v0.2"):
            return problem(404, "not_found")
        product, version, check_id, is_check_url = match[1], cast(Version, match[2]), match[3], bool(match[4])
        if check_id is None:
            return self._create(request, version, product) if method == "POST" else _not_allowed("POST")
        if is_check_url:
            return self._open_check_url(request, version, check_id, product) if method == "GET" \
                else _not_allowed("GET")
        if method == "GET":
            return self._read(request, version, check_id, product)
        if method == "PATCH" and version == "v0.2":
            return self._patch(request, check_id, product)
        return _not_allowed("GET, PATCH" if version == "v0.2" else "GET")

    # -- the backend's calls ----------------------------------------------------------------------

    def _create(self, request: Request, version: Version, product: str) -> Response:
        client_id = self.tokens.authenticate(request, product)
        if isinstance(client_id, Response):
            return client_id
        if request.media_type != "application/json":
            return problem(415, "unsupported_media_type", "Content-Type must be application/json")
        fields = _create_fields(request, version, {"period"} if product == SUBSCRIBER_CHECK else set())
        if isinstance(fields, Response):
            return fields
        period = subscriber.period_of(fields) if product == SUBSCRIBER_CHECK else None
        if isinstance(period, Response):
            return period
        digits = fields["phone_number"]
        if digits[-2:] in CREATE_FAILURES:
            return problem(*CREATE_FAILURES[digits[-2:]])
        if self.config.projects[client_id].mode == "live" and "phone_ip" in fields:
            refusal = self._phone_ip_refusal(fields["phone_ip"])
            if refusal is not None:
                return refusal
        now = self.config.clock()
        check = PhoneCheck(
            check_id=str(uuid.uuid4()), client_id=client_id, version=version, phone_number=digits,
            created_at=now, updated_at=now, ttl=self.config.ttl_seconds,
            reference_id=fields.get("reference_id"), redirect_url=fields.get("redirect_url"),
            callback_url=fields.get("callback_url"), phone_ip=fields.get("phone_ip"), product=product, period=period,
        )
        with self._lock:
            self._checks[check.check_id] = check
            if check.callback_url and self._sweeper is None and not self._closed.is_set():
                self._sweeper = threading.Thread(target=self._sweep_expired, name="truid-expiry", daemon=True)
                self._sweeper.start()
            balance = self._balances.get(client_id, STARTING_BALANCE) - CHARGE_AMOUNT
            self._balances[client_id] = balance
            body = check.created_body(request.base_url, balance)
        if digits[-2:] == SLOW_CREATE:
            time.sleep(self.config.slow_seconds)
        return json_response(201, body, HAL_JSON, (("Location", check.self_href(request.base_url)),))

    def _device_reachability(self, request: Request, ip: str) -> Response:
        client_id = self.tokens.authenticate(request, "coverage")
        if isinstance(client_id, Response):
            return client_id
        return self.coverage.device_reachability(ip, request.base_url)

    def _read(self, request: Request, version: Version, check_id: str, product: str) -> Response:
        client_id = self.tokens.authenticate(request, product)
        if isinstance(client_id, Response):
            return client_id
        now = self.config.clock()
        with self._lock:
            check = self._find(version, check_id, client_id, product)
            if check is None:
                return problem(404, "check_not_found")
            check.expire_if_due(now)
            self._settled(check)
            shown = check.status
            if check.status == "COMPLETED" and check.lag_reads_left > 0:
                check.lag_reads_left -= 1
                shown = "PENDING"
            body = check.resource_body(request.base_url, shown)
        return json_response(200, body, HAL_JSON)

    def _patch(self, request: Request, check_id: str, product: str) -> Response:
        client_id = self.tokens.authenticate(request, product)
        if isinstance(client_id, Response):
            return client_id
        if request.media_type != "application/json-patch+json":
            return problem(415, "unsupported_media_type", "Content-Type must be application/json-patch+json")
        code = _patched_code(request)
        if code is None:
            return problem(400, "bad_request", 'The body must be [{"op": "add", "path": "/code", "value": "<code>"}]')
        now = self.config.clock()
        with self._lock:
            check = self._find("v0.2", check_id, client_id, product)
            if check is None or check.code is None or not hmac.compare_digest(check.code.encode(), code.encode()):
                return problem(404, "check_not_found")
            check.expire_if_due(now)
            if check.status == "PENDING":
                check.complete(now)
            self._settled(check)
            body = check.patch_body()
        return json_response(200, body, HAL_JSON)

    # -- the phone's hops -------------------------------------------------------------------------

    def _open_check_url(self, request: Request, version: Version, check_id: str, product: str) -> Response:
        now = self.config.clock()
        with self._lock:
            check = self._find(version, check_id, product=product)
            if check is None:
                return problem(404, "check_not_found")
            try:
                return self._phone_arrives(request, check, now)
            finally:
                self._settled(check)

    def _phone_arrives(self, request: Request, check: PhoneCheck, now: float) -> Response:
        """The phone opened check_url: fail, conclude (sandbox) or send it to the operator. Caller holds the lock."""
        check.expire_if_due(now)
        if check.status != "ACCEPTED":
            return problem(404, "check_not_found")
        check.start(now)
        if check.trigger in CHECK_URL_ERRORS:
            check.fail(CHECK_URL_ERRORS[check.trigger], now)
            return self._tell_failure(check)
        live = self.config.projects[check.client_id].mode == "live"
        if live and check.phone_ip is not None and not _same_ip(check.phone_ip, request.remote_addr):
            check.fail("ip_mismatch", now)  # "the IP address of create check request and redirect do not match"
            return self._tell_failure(check)
        if not live:
            return self._conclude(check, sandbox_match(check.phone_number), SANDBOX_NETWORK_ID, now)
        session = secrets.token_urlsafe(24)
        mark, cookie = mark_device(request, DEVICE_COOKIE)
        self._sessions[session] = (check.check_id, mark)
        return_to = f"{request.base_url}{RESUME_PATH}"
        network = self.config.network_url.rstrip("/")
        hop = redirect(with_query(f"{network}/he/authorize", {"session": session, "return_to": return_to}))
        return with_cookie(hop, cookie)

    def _operator_return(self, request: Request) -> Response:
        """The device is back from the operator's hop with the one-time continuation it was handed there."""
        session, continuation = request.query.get("session", ""), request.query.get("continuation", "")
        if not session:
            return problem(400, "bad_request", "session is required")
        with self._lock:
            pending = self._sessions.get(session)
        if pending is None or not continuation:
            return problem(404, "check_not_found")
        try:
            seen = redeem_continuation(self.config.network_url, session, continuation)
        except NetworkDown:
            return problem(502, "bad_gateway", "The mobile network did not answer")
        if seen is None:  # not the continuation the operator handed the device, or spent
            return problem(404, "check_not_found")
        check_id, mark = pending
        now = self.config.clock()
        with self._lock:
            self._sessions.pop(session, None)
            check = self._checks[check_id]
            try:
                if device_mismatch(mark, request, DEVICE_COOKIE, seen) is not None:
                    check.expire_if_due(now)
                    if check.status != "PENDING":
                        return problem(404, "check_not_found")
                    check.fail("ip_mismatch", now)
                    return self._tell_failure(check)
                return self._operator_vouched(check, seen, now)
            finally:
                self._settled(check)

    def _operator_vouched(self, check: PhoneCheck, seen: dict[str, Any] | None, now: float) -> Response:
        """What header enrichment saw decides the check. Caller holds the lock."""
        check.expire_if_due(now)
        # An unknown session means the phone skipped the operator hop: there is no line to vouch for it.
        if check.status != "PENDING" or seen is None:
            return problem(404, "check_not_found")
        if seen.get("mobile") is not True:
            check.fail("not_mobile_ip", now)
            return problem(412, "not_mobile_ip")
        network_id = seen.get("network_id")
        matched = e164_digits(seen.get("msisdn")) == check.phone_number
        return self._conclude(check, matched, network_id if isinstance(network_id, str) else None, now)

    def _conclude(self, check: PhoneCheck, matched: bool, network_id: str | None, now: float) -> Response:
        """The operator's verdict is in: finish v0.1, or hand the phone a v0.2 code. Caller holds the lock."""
        if check.trigger in OPERATOR_ERRORS:
            check.fail(OPERATOR_ERRORS[check.trigger], now)
            return self._tell_failure(check)
        check.observe(matched, network_id, now)
        if check.product == SUBSCRIBER_CHECK and check.period is not None:
            check.sim_fields = self._sim_fields(check, now)
        if check.version == "v0.1":
            check.complete(now, self.config.completion_lag_reads)
            done = {"check_id": check.check_id}
            if check.reference_id is not None:
                done["reference_id"] = check.reference_id
            return json_response(200, done)
        check.code = secrets.token_urlsafe(16)
        success = {"check_id": check.check_id, "code": check.code}
        if check.redirect_url:
            return redirect(with_query(check.redirect_url, success))
        if check.reference_id is not None:
            success["reference_id"] = check.reference_id
        return json_response(200, success)

    @staticmethod
    def _tell_failure(check: PhoneCheck) -> Response:
        error = check.redirect_error()
        if check.version == "v0.2" and check.redirect_url:
            return redirect(with_query(check.redirect_url, error))
        if check.error_code == "mno_redirect_unsupported":
            return problem(501, "mno_redirect_unsupported")
        return json_response(200, error)

    # -- callbacks --------------------------------------------------------------------------------

    def _settled(self, check: PhoneCheck) -> None:
        """Caller holds the lock: once a check with a callback_url is final, call it back (once)."""
        if check.final and check.callback_url and not check.called_back:
            check.called_back = True
            self.callbacks.dispatch(check.check_id, check.callback_url, check.callback_body(), check.product)

    def _sweep_expired(self) -> None:
        """Expire checks awaiting a callback when their TTL passes, as tru.ID does without being asked."""
        while not self._closed.wait(self.config.expiry_sweep_seconds):
            now = self.config.clock()
            with self._lock:
                waiting = [c for c in self._checks.values() if c.callback_url and not c.called_back]
                for check in waiting:
                    check.expire_if_due(now)
                    self._settled(check)
                if all(check.called_back for check in waiting):
                    self._sweeper = None
                    return

    # -- helpers ----------------------------------------------------------------------------------

    def _find(self, version: Version, check_id: str, client_id: str | None = None,
              product: str = "phone_check") -> PhoneCheck | None:
        check = self._checks.get(check_id)
        if check is None or check.version != version or client_id not in (None, check.client_id) \
                or check.product != product:
            return None
        return check

    def _sim_fields(self, check: PhoneCheck, now: float) -> dict[str, Any] | None:
        """What the operator says of the checked number's SIM, as a SubscriberCheck reports it; None (no
        no_sim_change at all) when it shares nothing. Caller holds the lock."""
        if check.trigger == subscriber.NO_SIM_DATA or check.period is None:
            return None
        live = self.config.projects[check.client_id].mode == "live"
        try:
            history = subscriber.sim_history(self.config.network_url, check.phone_number, live)
        except NetworkDown:
            return None
        return history.fields(check.period, now) if history else None

    def _sim_check(self, request: Request, check_id: str | None) -> Response:
        """SIMCheck v0.1: create (answered at once) and read back."""
        if request.method != ("POST" if check_id is None else "GET"):
            return _not_allowed("POST" if check_id is None else "GET")
        client_id = self.tokens.authenticate(request, SIM_CHECK)
        if isinstance(client_id, Response):
            return client_id
        if check_id is not None:
            with self._lock:
                found = self._sim_checks.get(check_id)
            if found is None or found.client_id != client_id:
                return problem(404, "check_not_found")
            return json_response(200, found.body(request.base_url), HAL_JSON)
        if request.media_type != "application/json":
            return problem(415, "unsupported_media_type", "Content-Type must be application/json")
        live = self.config.projects[client_id].mode == "live"
        created = subscriber.create_sim_check(request, client_id, self.config.network_url, live, self.config.clock())
        if isinstance(created, Response):
            return created
        with self._lock:
            self._sim_checks[created.check_id] = created
            balance = self._balances.get(client_id, STARTING_BALANCE) - CHARGE_AMOUNT
            self._balances[client_id] = balance
        return json_response(201, {**created.body(request.base_url), "snapshot_balance": balance}, HAL_JSON)

    def _phone_ip_refusal(self, phone_ip: str) -> Response | None:
        """412 when the network says `phone_ip` is not on mobile data (live mode only)."""
        try:
            line = ask_network(self.config.network_url, f"/lines/{quote(phone_ip, safe='')}")
        except NetworkDown:
            return problem(502, "bad_gateway", "The mobile network did not answer")
        if line is None or line.get("mobile") is not True:
            return problem(412, "not_mobile_ip")
        return None

def _same_ip(first: str, second: str) -> bool:
    try:
        return ipaddress.ip_address(first) == ipaddress.ip_address(second)
    except ValueError:
        return False


def _create_fields(request: Request, version: Version, extra: set[str]) -> dict[str, Any] | Response:
    """The create payload, validated; `phone_number` reduced to its E.164 digits; `extra` fields (a
    SubscriberCheck's integer `period`) are validated by their product."""
    try:
        body = request.json()
    except ValueError:
        return problem(400, "bad_request")
    if not isinstance(body, dict):
        return problem(400, "bad_request")
    unknown = sorted(set(body) - _CREATE_FIELDS[version] - extra)
    if unknown:
        return problem(400, "bad_request", f"Unknown field(s): {', '.join(unknown)}")
    if not all(isinstance(value, str) for key, value in body.items() if key not in extra):
        return problem(400, "bad_request", "Every field must be a string")
    if "phone_number" not in body:
        return problem(400, "bad_request", "phone_number is required")
    digits = e164_digits(body["phone_number"])
    if digits is None:
        return problem(400, "phone_format_invalid")
    if "redirect_url" in body and not is_http_url(body["redirect_url"]):
        return problem(400, "bad_request", "redirect_url must be an absolute http(s) URL")
    if "callback_url" in body and not is_loopback_url(body["callback_url"]):
        return problem(400, "bad_request", "callback_url must be a loopback http(s) URL (127.x.x.x or localhost)")
    if "phone_ip" in body:
        try:
            ipaddress.ip_address(body["phone_ip"])
        except ValueError:
            return problem(400, "bad_request", "phone_ip must be an IPv4 or IPv6 address")
    return {**body, "phone_number": digits}


def _patched_code(request: Request) -> str | None:
    """The code from exactly `[{"op": "add", "path": "/code", "value": code}]`, else None."""
    try:
        document = request.json()
    except ValueError:
        return None
    if not isinstance(document, list) or len(document) != 1 or not isinstance(document[0], dict):
        return None
    operation = document[0]
    if set(operation) != {"op", "path", "value"} or operation["op"] != "add" or operation["path"] != "/code":
        return None
    value = operation["value"]
    return value if isinstance(value, str) and value else None


def _not_allowed(allowed: str) -> Response:
    return problem(405, "method_not_allowed", headers=(("Allow", allowed),))


def make_app(sim: TruIdSimulator) -> WSGIApp:
    """The simulator's HTTP face (stdlib WSGI)."""
    return simulator_app("tru.ID", sim.handle, sim.config.public_url, lambda: problem(500))
