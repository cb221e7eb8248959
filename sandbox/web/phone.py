"""A browser's mobile connection in the sandbox: an HTTP forward proxy on 127.0.0.1 that plays one phone.

The simulated network tells phones apart by their source address (sandbox/simulators/network.py), and a
browser cannot choose the address it connects from. A browser whose proxy is a `PhoneProxy` (Chromium:
`--proxy-server=http://127.0.0.1:PORT --proxy-bypass-list='<-loopback>'`, or a Playwright context's
`proxy`) sends every request through it, and the proxy sends each one on from the phone's own address, as
`sandbox.device.Phone` does for scripts. The browser still follows every redirect itself: the proxy
forwards one request per hop and never follows anything.

The phone's settings are a page of its own, as a phone's are: requests to `http://phone.test/` are
answered by the proxy and never leave it (`.test` is reserved, RFC 6761, so no real host can be reached
that way). `PUT /phone {"sim", "bearer", "sim_changed_hours_ago"?}` puts a SIM in and joins the network (a
new line, a new address; the SIM took its number that many hours ago, default never changed); `GET /phone`
says which line the phone has (all null before a SIM is in); `GET /log?after=N`
lists the requests the phone sent after the N-th (method, URL, status, Location, `Sec-Fetch-Dest`),
which is how the demo page shows each hop of a redirect chain that a page's script cannot see. Only
loopback URLs are forwarded.
"""

from __future__ import annotations

import http.client
import itertools
import json
import threading
from collections import deque
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, get_args
from urllib.parse import parse_qs, urlsplit

import requests

from sandbox.device import HOP_TIMEOUT_SECONDS, Phone
from sandbox.simulators.network import Bearer
from sandbox.simulators.wsgi import is_loopback_url

CONTROL_HOST = "phone.test"
CONTROL_URL = f"http://{CONTROL_HOST}"
LOG_LIMIT = 200
_MAX_BODY_BYTES = 1024 * 1024
# Hop-by-hop headers (RFC 9110 section 7.6.1) and the proxy's own: never forwarded in either direction.
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
                         "te", "trailer", "transfer-encoding", "upgrade", "content-length"})


@dataclass(frozen=True)
class Hop:
    """One request the phone sent: what a page's script cannot see of a redirect chain."""

    seq: int
    method: str
    url: str
    status: int | None
    location: str | None
    dest: str | None  # the browser's Sec-Fetch-Dest: "iframe", "document", "empty" (fetch), …
    error: str | None = None


class PhoneState:
    """The phone behind one proxy: its line (None until a SIM is put in) and the requests it sent."""

    def __init__(self, network_url: str) -> None:
        self.network_url = network_url
        self._lock = threading.Lock()
        self._phone: Phone | None = None
        self._log: deque[Hop] = deque(maxlen=LOG_LIMIT)
        self._seq = itertools.count(1)

    @property
    def phone(self) -> Phone | None:
        with self._lock:
            return self._phone

    def insert_sim(self, sim: str, bearer: Bearer, sim_changed_hours_ago: float | None = None) -> Phone:
        """A new line from the network for `sim` on `bearer`; raises ValueError or requests.HTTPError."""
        if bearer not in get_args(Bearer):
            raise ValueError(f"bearer must be 'cellular' or 'wifi', got {bearer!r}")
        phone = Phone.join(self.network_url, sim, bearer, sim_changed_hours_ago=sim_changed_hours_ago)
        with self._lock:
            self._phone = phone
        return phone

    def record(self, method: str, url: str, status: int | None, location: str | None, dest: str | None,
               error: str | None = None) -> None:
        with self._lock:
            self._log.append(Hop(next(self._seq), method, url, status, location, dest, error))

    def log(self, after: int = 0) -> list[Hop]:
        with self._lock:
            return [hop for hop in self._log if hop.seq > after]


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        url = self.path
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            self._reply(400, {"error": "not_a_proxy_request",
                              "detail": "this is the sandbox phone's proxy: configure it as the browser's HTTP proxy"})
            return
        if parts.hostname == CONTROL_HOST:
            self._control(parts.path, parts.query)
            return
        if not is_loopback_url(url):
            self._reply(403, {"error": "not_loopback",
                              "detail": "the sandbox phone only reaches 127.x.x.x and localhost"})
            return
        self._forward(url)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle

    def do_CONNECT(self) -> None:
        self._reply(405, {"error": "no_tunnels", "detail": "the sandbox is plain HTTP on loopback; CONNECT is refused"})

    # -- forwarding ----------------------------------------------------------------------------------

    def _forward(self, url: str) -> None:
        state = self.server.state
        phone = state.phone
        parts = urlsplit(url)
        body = self._body()
        if body is None:
            return
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP]
        source = (phone.ip, 0) if phone else None  # no SIM yet: the host's own address, on no network
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port or 80,
                                                timeout=HOP_TIMEOUT_SECONDS, source_address=source)
        dest = self.headers.get("Sec-Fetch-Dest")
        try:
            connection.putrequest(self.command, parts.path + (f"?{parts.query}" if parts.query else "") or "/",
                                  skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                connection.putheader(name, value)
            if body or self.command in ("POST", "PUT", "PATCH"):
                connection.putheader("Content-Length", str(len(body)))
            connection.putheader("Connection", "close")
            connection.endheaders(body or None)
            response = connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            state.record(self.command, url, None, None, dest, str(exc))
            self._reply(502, {"error": "upstream_unreachable", "detail": str(exc)})
            return
        finally:
            connection.close()
        state.record(self.command, url, response.status, response.getheader("Location"), dest)
        self.send_response(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        self.close_connection = True

    def _body(self) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self._reply(400, {"error": "invalid_request", "detail": "bad Content-Length"})
            return None
        if length > _MAX_BODY_BYTES:
            self._reply(413, {"error": "invalid_request", "detail": "body too large"})
            return None
        return self.rfile.read(length) if length else b""

    # -- the phone's own settings page (http://phone.test/) ----------------------------------------------

    def _control(self, path: str, query: str) -> None:
        state = self.server.state
        if self.command == "OPTIONS":  # a page on another origin asking before it PUTs JSON
            self._reply(204, None)
        elif path == "/phone" and self.command == "GET":
            phone = state.phone
            self._reply(200, _phone_view(phone) if phone else {"ip": None, "sim": None, "bearer": None,
                                                                  "network_id": None})
        elif path == "/phone" and self.command == "PUT":
            self._insert_sim(state)
        elif path == "/log" and self.command == "GET":
            after = parse_qs(query).get("after", ["0"])[-1]
            if not after.isdigit():
                self._reply(400, {"error": "invalid_request", "detail": "after must be a sequence number"})
            else:
                self._reply(200, {"hops": [asdict(hop) for hop in state.log(int(after))]})
        else:
            self._reply(404, {"error": "not_found", "detail": "the phone has GET/PUT /phone and GET /log"})

    def _insert_sim(self, state: PhoneState) -> None:
        body = self._body()
        if body is None:
            return
        try:
            fields = json.loads(body or b"null")
        except ValueError:
            fields = None
        if not isinstance(fields, dict):
            self._reply(400, {"error": "invalid_request",
                              "detail": 'body must be JSON like {"sim": "+447400900002", "bearer": "cellular"}'})
            return
        try:
            phone = state.insert_sim(str(fields.get("sim", "")), fields.get("bearer", "cellular"),
                                     fields.get("sim_changed_hours_ago"))
        except ValueError as exc:
            self._reply(400, {"error": "invalid_request", "detail": str(exc)})
            return
        except requests.HTTPError as exc:
            detail = exc.response.json().get("detail") if exc.response is not None else str(exc)
            self._reply(400, {"error": "invalid_request", "detail": str(detail)})
            return
        except requests.RequestException as exc:
            self._reply(502, {"error": "network_unreachable", "detail": str(exc)})
            return
        self._reply(200, _phone_view(phone))

    def _reply(self, status: int, payload: dict[str, Any] | None) -> None:
        body = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        origin = self.headers.get("Origin")
        if origin:  # the settings page answers whichever page asks: it is the user's own phone
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Access-Control-Allow-Methods", "GET, PUT")
            self.send_header("Access-Control-Allow-Headers", "Content-Type")
            self.send_header("Vary", "Origin")
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True


def _phone_view(phone: Phone) -> dict[str, Any]:
    return {"ip": phone.ip, "sim": phone.sim, "bearer": phone.bearer, "network_id": phone.network_id}


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, state: PhoneState) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.state = state


@dataclass
class PhoneProxy:
    """A running phone proxy on 127.0.0.1 until `stop()`; `url` is what the browser's proxy setting takes."""

    state: PhoneState
    _server: _ProxyServer
    _thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_phone_proxy(network_url: str) -> PhoneProxy:
    """A phone with no SIM yet, on the simulated network at `network_url`, as a browser's HTTP proxy."""
    if not is_loopback_url(network_url):
        raise ValueError(f"the sandbox network must be on loopback, got {network_url!r}")
    server = _ProxyServer(PhoneState(network_url))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name=f"phone-proxy:{server.server_port}", daemon=True)
    thread.start()
    return PhoneProxy(server.state, server, thread)
