"""Signed callbacks of the simulated tru.ID: its signing keys (the JWKS), its wire format and callback faults.

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
The shared courier sends it; delivery, retries and the callback faults are in docs/sandbox.md (Callbacks).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any, Literal, cast, get_args
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sandbox.simulators.courier import Courier, Outgoing
from sandbox.simulators.faults import FaultQueue
from sandbox.simulators.keypool import KeyDraw

CALLBACK_KIND = "phone_check"  # x-tru-callback: the product (a SubscriberCheck's say subscriber_check)
SIGNATURE_ALGORITHM = "rsa-sha256"
SIGNED_HEADERS = ("(request-target)", "host", "date", "x-tru-callback", "digest")
STALE_DATE_SECONDS = 600

CallbackFault = Literal["tamper_body", "bad_signature", "stale_date", "unknown_kid", "no_signature", "twice", "never"]
CALLBACK_FAULTS: tuple[str, ...] = get_args(CallbackFault)


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


def signing_string(method: str, url: str, headers: Sequence[tuple[str, str]]) -> str:
    """The draft-cavage signing string over SIGNED_HEADERS; `headers` carries their values."""
    parts = urlsplit(url)
    target = f"{method.lower()} {parts.path or '/'}{'?' + parts.query if parts.query else ''}"
    values = {name.lower(): value for name, value in headers}
    return "\n".join(f"{name}: {target if name == '(request-target)' else values[name]}" for name in SIGNED_HEADERS)


def signed_request(check_id: str, url: str, payload: dict[str, Any], key: SigningKey, date: float,
                   fault: CallbackFault | None = None, kind: str = CALLBACK_KIND) -> Outgoing:
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
        headers.append(("Authorization", f'Signature keyId="{key.kid}",algorithm="{SIGNATURE_ALGORITHM}",'
                                         f'headers="{" ".join(SIGNED_HEADERS)}",'
                                         f'signature="{base64.b64encode(signature).decode()}"'))
    if fault == "tamper_body":
        forged = {**payload, "match": not payload.get("match", False)}
        body = json.dumps(forged, separators=(",", ":")).encode()
    return Outgoing(check_id, "POST", url, tuple(headers), body)


def _fault_kind(spec: dict[str, Any]) -> str:
    unknown = sorted(set(spec) - {"mode", "count", "check_id"})
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(unknown)}")
    if spec.get("mode") not in CALLBACK_FAULTS:
        raise ValueError(f"mode must be one of {', '.join(CALLBACK_FAULTS)}")
    if "check_id" in spec and (not isinstance(spec["check_id"], str) or not spec["check_id"]):
        raise ValueError("check_id must be a tru.ID check id")
    return str(spec["mode"])


class CallbackFaultPlan(FaultQueue):
    """Faults for the next callbacks; one armed with a `check_id` shapes only that tru.ID check's callbacks,
    so another check's late callback cannot use it up."""

    def __init__(self) -> None:
        super().__init__(_fault_kind)

    def take(self, check_id: str) -> CallbackFault | None:
        fault = self.take_first(lambda f: f.spec.get("check_id") in (None, check_id))
        return None if fault is None else cast(CallbackFault, fault.kind)


class Callbacks(Courier):
    """Signs and POSTs callbacks (signed afresh for every attempt: `date` is when it is sent)."""

    def __init__(self, retry_delays: Sequence[float], timeout: float, clock: Callable[[], float]) -> None:
        super().__init__("check_id", timeout, retry_delays, clock)
        self.keys = SigningKeys()
        self.faults = CallbackFaultPlan()

    def dispatch(self, check_id: str, url: str, payload: dict[str, Any], kind: str = CALLBACK_KIND) -> None:
        """Call `url` back with `payload` in the background (the next armed fault, if any, shapes it)."""
        fault = self.faults.take(check_id)

        def build() -> Outgoing:
            key = self.keys.stranger() if fault == "unknown_kid" else self.keys.current
            date = self.clock() - (STALE_DATE_SECONDS if fault == "stale_date" else 0)
            return signed_request(check_id, url, payload, key, date, fault, kind)

        self.in_background(lambda: self.deliver(build, fault), f"truid-callback:{check_id}")
