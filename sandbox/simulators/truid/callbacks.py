"""Signed callbacks of the simulated tru.ID: its signing keys (the JWKS), delivery with retries, a fault plan.

A callback is `POST {callback_url}` with the PhoneCheckCallbackPayload as `application/json` and these
headers (Headers.v1.yaml; draft-cavage "Signing HTTP Messages"):

    host: 127.0.0.1:8123
    date: Sun, 15 Jun 2025 15:06:40 GMT
    x-tru-callback: phone_check
    digest: SHA-256=<base64 of sha256(raw body)>
    Authorization: Signature keyId="<kid>",algorithm="rsa-sha256",
        headers="(request-target) host date x-tru-callback digest",signature="<base64>"

The signature is RSASSA-PKCS1-v1_5 with SHA-256 over the lines `name: value` joined by "\\n", in the order of
`headers`, where `(request-target)` is the lower-case method, a space and the path (and query) of the URL.
The key is the one whose `kid` is `keyId` in `{apiBaseUrl}/.well-known/jwks.json`.

Delivery: a daemon thread POSTs (timeout per attempt, redirects not followed); any answer but 200, or none,
is retried after each of `retry_delays` in turn, then given up (tru.ID: 10 s, +10 s each time, up to 1 min).
Every attempt is signed afresh (a new `date`). Each attempt is logged as
`{check_id, url, attempt, fault, redelivery, status_code | error, headers, body, at}` once its answer is in.

A fault (`{"mode", "count"}`) shapes the next `count` callbacks, each attempt of them, retries included:
`tamper_body` flips `match` in the body after signing (adds `"match": true` when there is none), so `digest`
no longer matches; `bad_signature` inverts every byte of the signature; `stale_date` signs a `date`
STALE_DATE_SECONDS in the past; `unknown_kid` signs with a key never published, named by its own kid;
`no_signature` sends no Authorization; `twice` sends each attempt's identical request two times (the second
answer decides on a retry); `never` builds and logs the request (with an `error`, no `status_code`) but sends
nothing and never retries. A redelivery sends the last request built for a check (even a `never` one) once,
byte for byte, without faults or retries.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Any, Literal, cast, get_args
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sandbox.simulators.keypool import KeyDraw
from sandbox.simulators.wsgi import Headers

CALLBACK_KIND = "phone_check"  # x-tru-callback: the product (a SubscriberCheck's say subscriber_check)
SIGNATURE_ALGORITHM = "rsa-sha256"
SIGNED_HEADERS = ("(request-target)", "host", "date", "x-tru-callback", "digest")
STALE_DATE_SECONDS = 600

CallbackFault = Literal["tamper_body", "bad_signature", "stale_date", "unknown_kid", "no_signature", "twice", "never"]
CALLBACK_FAULTS: tuple[str, ...] = get_args(CallbackFault)
_FAULT_FIELDS = frozenset({"mode", "count", "check_id"})


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    """An RSA key pair; `kid` is its RFC 7638 JWK thumbprint."""

    kid: str
    private_key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls, draw: KeyDraw) -> SigningKey:
        private_key = draw.rsa_key()
        numbers = private_key.public_key().public_numbers()
        canonical = json.dumps({"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)},
                               separators=(",", ":"), sort_keys=True)
        kid = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
        return cls(kid, private_key)

    def jwk(self) -> dict[str, str]:
        numbers = self.private_key.public_key().public_numbers()
        return {"kty": "RSA", "kid": self.kid, "alg": "RS256", "use": "sig",
                "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)}

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())


class SigningKeys:
    """The current signing key and the older ones still published; the first is made in the background at start."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._draw = KeyDraw("truid")
        self._keys: list[SigningKey] = []  # the current one first
        self._stranger: SigningKey | None = None
        self._ready = threading.Event()
        threading.Thread(target=self._make_first, name="truid-keygen", daemon=True).start()

    def _make_first(self) -> None:
        key = SigningKey.generate(self._draw)
        with self._lock:
            self._keys.insert(0, key)
        self._ready.set()

    @property
    def current(self) -> SigningKey:
        self._ready.wait()
        with self._lock:
            return self._keys[0]

    def jwks(self) -> dict[str, Any]:
        self._ready.wait()
        with self._lock:
            return {"keys": [key.jwk() for key in self._keys]}

    def rotate(self, drop_old: bool) -> SigningKey:
        """A new current key; the old ones stay published unless `drop_old`."""
        self._ready.wait()
        key = SigningKey.generate(self._draw)
        with self._lock:
            self._keys = [key] if drop_old else [key, *self._keys]
        return key

    def stranger(self) -> SigningKey:
        """A key that is never published (the `unknown_kid` fault)."""
        with self._lock:
            if self._stranger is None:
                self._stranger = SigningKey.generate(self._draw)
            return self._stranger


@dataclass(frozen=True)
class CallbackRequest:
    """One callback exactly as it goes on the wire (a redelivery sends it again unchanged)."""

    check_id: str
    url: str
    headers: Headers
    body: bytes


def signing_string(method: str, url: str, headers: Sequence[tuple[str, str]]) -> str:
    """The draft-cavage signing string over SIGNED_HEADERS; `headers` carries their values."""
    parts = urlsplit(url)
    target = f"{method.lower()} {parts.path or '/'}{'?' + parts.query if parts.query else ''}"
    values = {name.lower(): value for name, value in headers}
    return "\n".join(f"{name}: {target if name == '(request-target)' else values[name]}" for name in SIGNED_HEADERS)


def signed_request(check_id: str, url: str, payload: dict[str, Any], key: SigningKey, date: float,
                   fault: CallbackFault | None = None, kid: str | None = None,
                   kind: str = CALLBACK_KIND) -> CallbackRequest:
    """The callback tru.ID would send, shaped by `fault` (`bad_signature`, `tamper_body`, `no_signature`)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers: list[tuple[str, str]] = [
        ("Content-Type", "application/json"),
        ("host", urlsplit(url).netloc),
        ("date", formatdate(date, usegmt=True)),
        ("x-tru-callback", kind),
        ("digest", "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()),
    ]
    signature = key.sign(signing_string("POST", url, headers).encode())
    if fault == "bad_signature":
        signature = bytes(byte ^ 0xFF for byte in signature)
    if fault != "no_signature":
        headers.append(("Authorization", f'Signature keyId="{kid or key.kid}",algorithm="{SIGNATURE_ALGORITHM}",'
                                         f'headers="{" ".join(SIGNED_HEADERS)}",'
                                         f'signature="{base64.b64encode(signature).decode()}"'))
    if fault == "tamper_body":
        forged = {**payload, "match": not payload.get("match", False)}
        body = json.dumps(forged, separators=(",", ":")).encode()
    return CallbackRequest(check_id, url, tuple(headers), body)


class CallbackFaultPlan:
    """Faults for the next callbacks, first armed first used; each shapes `count` whole callbacks. A fault
    armed with a `check_id` shapes only that tru.ID check's callbacks, so another check's late callback
    cannot use it up."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plan: list[list[Any]] = []  # [mode, remaining, check_id or None]

    def add(self, spec: Any) -> dict[str, Any]:
        """Validate and arm `{"mode": ..., "count": 1}`; ValueError says what is wrong."""
        if not isinstance(spec, dict):
            raise ValueError("body must be a JSON object")
        unknown = sorted(set(spec) - _FAULT_FIELDS)
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(unknown)}")
        mode, count, check_id = spec.get("mode"), spec.get("count", 1), spec.get("check_id")
        if mode not in CALLBACK_FAULTS:
            raise ValueError(f"mode must be one of {', '.join(CALLBACK_FAULTS)}")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError("count must be a positive integer")
        if check_id is not None and (not isinstance(check_id, str) or not check_id):
            raise ValueError("check_id must be a tru.ID check id")
        with self._lock:
            self._plan.append([mode, count, check_id])
        return {"mode": mode, "count": count, "check_id": check_id}

    def take(self, check_id: str) -> CallbackFault | None:
        """The fault for the next callback of tru.ID check `check_id`, if one is armed for it or for any."""
        with self._lock:
            entry = next((e for e in self._plan if e[2] in (None, check_id)), None)
            if entry is None:
                return None
            entry[1] -= 1
            if entry[1] == 0:
                self._plan.remove(entry)
            return cast(CallbackFault, entry[0])

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"mode": mode, "count": count, "check_id": check_id} for mode, count, check_id in self._plan]

    def clear(self) -> None:
        with self._lock:
            self._plan.clear()


@dataclass(frozen=True)
class _Delivery:
    check_id: str
    url: str
    payload: dict[str, Any]
    fault: CallbackFault | None
    kind: str = CALLBACK_KIND


class Callbacks:
    """Signs and POSTs callbacks from daemon threads; anything but a 200 is retried after each delay in turn."""

    def __init__(self, retry_delays: Sequence[float], timeout: float, clock: Callable[[], float]) -> None:
        self.keys = SigningKeys()
        self.faults = CallbackFaultPlan()
        self._retry_delays = tuple(retry_delays)
        self._timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._attempts: list[dict[str, Any]] = []
        self._last: dict[str, CallbackRequest] = {}  # check_id -> the last request built for it
        self._closed = threading.Event()

    def dispatch(self, check_id: str, url: str, payload: dict[str, Any], kind: str = CALLBACK_KIND) -> None:
        """Call `url` back with `payload` in the background (the next armed fault, if any, shapes it)."""
        delivery = _Delivery(check_id, url, payload, self.faults.take(check_id), kind)
        threading.Thread(target=self._deliver, args=(delivery,), name=f"truid-callback:{check_id}",
                         daemon=True).start()

    def redeliver(self, check_id: str) -> dict[str, Any] | None:
        """Send the last request for the check again, byte for byte, now; None when there is none."""
        with self._lock:
            request = self._last.get(check_id)
        if request is None:
            return None
        return self._send(request, attempt=1, fault=None, redelivery=True)[1]

    def attempts(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._attempts)

    def clear(self) -> None:
        with self._lock:
            self._attempts.clear()

    def close(self) -> None:
        """Stop waiting retries (deliveries in flight finish)."""
        self._closed.set()

    def _deliver(self, delivery: _Delivery) -> None:
        for attempt, delay in enumerate((0.0, *self._retry_delays), start=1):
            if delay and self._closed.wait(delay):
                return
            request = self._build(delivery)
            with self._lock:
                self._last[delivery.check_id] = request
            if delivery.fault == "never":
                self._record(request, attempt, delivery.fault, False, error="not sent: callback fault never")
                return
            status = self._send(request, attempt, delivery.fault)[0]
            if delivery.fault == "twice":
                status = self._send(request, attempt, delivery.fault)[0]
            if status == 200:
                return

    def _build(self, delivery: _Delivery) -> CallbackRequest:
        """Signed afresh for every attempt: `date` is when it is sent."""
        now, key, kid = self._clock(), self.keys.current, None
        if delivery.fault == "stale_date":
            now -= STALE_DATE_SECONDS
        if delivery.fault == "unknown_kid":
            key = self.keys.stranger()
            kid = key.kid
        return signed_request(delivery.check_id, delivery.url, delivery.payload, key, now, delivery.fault, kid,
                              delivery.kind)

    def _send(self, request: CallbackRequest, attempt: int, fault: CallbackFault | None,
              redelivery: bool = False) -> tuple[int | None, dict[str, Any]]:
        try:
            with requests.Session() as http:
                http.trust_env = False  # loopback only: never through a proxy from the environment
                response = http.post(request.url, data=request.body, headers=dict(request.headers),
                                     timeout=self._timeout, allow_redirects=False)
        except requests.RequestException as exc:
            return None, self._record(request, attempt, fault, redelivery, error=f"{type(exc).__name__}: {exc}")
        return response.status_code, self._record(request, attempt, fault, redelivery, status=response.status_code)

    def _record(self, request: CallbackRequest, attempt: int, fault: CallbackFault | None, redelivery: bool,
                status: int | None = None, error: str | None = None) -> dict[str, Any]:
        entry: dict[str, Any] = {"check_id": request.check_id, "url": request.url, "attempt": attempt,
                                 "fault": fault, "redelivery": redelivery}
        entry |= {"status_code": status} if error is None else {"error": error}
        entry |= {"headers": dict(request.headers), "body": request.body.decode("utf-8", errors="replace"),
                  "at": datetime.fromtimestamp(self._clock(), UTC).isoformat(timespec="milliseconds")}
        with self._lock:
            self._attempts.append(entry)
        return entry
