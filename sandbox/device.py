"""A simulated phone that opens check URLs the way tru.ID's SDKs do: from its own line, following
at most ten redirects itself, keeping cookies across hops."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import requests
from requests.adapters import HTTPAdapter

from sandbox.simulators.network import DEFAULT_NETWORK_ID, Bearer
from sandbox.simulators.wsgi import is_loopback_url

MAX_REDIRECTS = 10
HOP_TIMEOUT_SECONDS = 5.0
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "silentcheck-sandbox-phone/1"


@dataclass(frozen=True)
class Hop:
    """One request of an open: the URL asked for, the answer's status and its raw Location header."""

    method: str
    url: str
    status: int
    location: str | None


@dataclass(frozen=True)
class OpenResult:
    """How an open ended: the last hop's status and URL (status None when that hop got no answer)."""

    status: int | None
    url: str
    body: str = ""
    json: Any | None = None
    hops: list[Hop] = field(default_factory=list)
    error: str | None = None
    error_description: str | None = None


class _SourceAddressAdapter(HTTPAdapter):
    """Binds every outgoing socket to the phone's address, the way the SDKs bind to the cellular network."""

    def __init__(self, source_ip: str) -> None:
        self._source_ip = source_ip  # set before super().__init__, which builds the pool manager
        super().__init__(max_retries=0)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block=block, source_address=(self._source_ip, 0), **pool_kwargs)


def bound_session(source_ip: str | None = None) -> requests.Session:
    """A requests Session whose sockets leave from `source_ip` (a phone's line), ignoring proxies."""
    session = requests.Session()
    # Proxy settings from the environment would send loopback traffic elsewhere.
    session.trust_env = False
    if source_ip is not None:
        adapter = _SourceAddressAdapter(source_ip)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    return session


@dataclass(frozen=True)
class Phone:
    """A phone on the simulated network; `ip` is the address the network gave its line."""

    ip: str
    sim: str
    bearer: Bearer
    network_id: str
    hop_timeout: float = HOP_TIMEOUT_SECONDS

    @classmethod
    def join(
        cls,
        network_base_url: str,
        sim: str,
        bearer: Bearer = "cellular",
        network_id: str = DEFAULT_NETWORK_ID,
        sim_changed_hours_ago: float | None = None,
    ) -> Phone:
        """Ask the network at `network_base_url` for an address; raises `requests.HTTPError` if refused.
        `sim_changed_hours_ago`: this SIM took the number that long ago (a SIM swap); None: never changed."""
        if not is_loopback_url(network_base_url):
            raise ValueError(f"the sandbox network must be on loopback, got {network_base_url!r}")
        with bound_session() as session:
            response = session.post(
                f"{network_base_url.rstrip('/')}/_admin/phones",
                json={"sim": sim, "bearer": bearer, "network_id": network_id,
                      "sim_changed_hours_ago": sim_changed_hours_ago},
                timeout=HOP_TIMEOUT_SECONDS,
            )
            response.raise_for_status()
            record = response.json()
        return cls(ip=record["ip"], sim=record["sim"], bearer=record["bearer"], network_id=record["network_id"])

    def open(self, url: str) -> OpenResult:
        """GET `url` from this phone's address and follow redirects to the end of the chain."""
        if not is_loopback_url(url):
            return OpenResult(None, url, error="sdk_error", error_description=_NOT_LOOPBACK)
        headers = {
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            "x-tru-sdk-request": str(uuid.uuid4()),
        }
        hops: list[Hop] = []
        # A fresh session per open: cookies carry across the hops of one check, never into the next.
        with bound_session(self.ip) as session:
            while True:
                try:
                    response = session.get(url, headers=headers, allow_redirects=False, timeout=self.hop_timeout)
                except requests.RequestException as exc:
                    return OpenResult(None, url, hops=hops, error="sdk_connection_error", error_description=str(exc))
                location = response.headers.get("Location")
                hops.append(Hop("GET", url, response.status_code, location))
                if response.status_code not in REDIRECT_STATUSES:
                    return OpenResult(response.status_code, url, response.text, _parse_json(response.text), hops)
                failure = _redirect_failure(location, url, len(hops))
                if failure is not None:
                    return OpenResult(
                        response.status_code,
                        url,
                        response.text,
                        hops=hops,
                        error="sdk_redirect_error",
                        error_description=failure,
                    )
                url = urljoin(url, location)


_NOT_LOOPBACK = "the sandbox phone only opens http(s) URLs on 127.x.x.x or localhost"


def _redirect_failure(location: str | None, current_url: str, redirects_so_far: int) -> str | None:
    if redirects_so_far > MAX_REDIRECTS:
        return f"more than {MAX_REDIRECTS} redirects"
    if not location:
        return "redirect without a Location header"
    if not is_loopback_url(urljoin(current_url, location)):
        return f"redirect to {location!r}: {_NOT_LOOPBACK}"
    return None


def _parse_json(body: str) -> Any | None:
    try:
        return json.loads(body)
    except ValueError:
        return None
