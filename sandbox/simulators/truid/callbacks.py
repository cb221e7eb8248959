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
from collections.abc import Callable, Sequence
from email.utils import formatdate
from typing import Any, Literal, cast, get_args
from urllib.parse import urlsplit

from sandbox.simulators.courier import Courier, Outgoing
from sandbox.simulators.faults import FaultQueue
from sandbox.simulators.keypool import KeySet, SigningKey

CALLBACK_KIND = "phone_check"  # x-tru-callback: the product (a SubscriberCheck's say subscriber_check)
SIGNATURE_ALGORITHM = "rsa-sha256"
SIGNED_HEADERS = ("(request-target)", "host", "date", "x-tru-callback", "digest")
STALE_DATE_SECONDS = 600

CallbackFault = Literal["tamper_body", "bad_signature", "stale_date", "unknown_kid", "no_signature", "twice", "never"]
CALLBACK_FAULTS: tuple[str, ...] = get_args(CallbackFault)


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
        self.keys = KeySet("truid", newest_first=True)
        self.faults = CallbackFaultPlan()

    def dispatch(self, check_id: str, url: str, payload: dict[str, Any], kind: str = CALLBACK_KIND) -> None:
        """Call `url` back with `payload` in the background (the next armed fault, if any, shapes it)."""
        fault = self.faults.take(check_id)

        def build() -> Outgoing:
            key = self.keys.stranger() if fault == "unknown_kid" else self.keys.current
            date = self.clock() - (STALE_DATE_SECONDS if fault == "stale_date" else 0)
            return signed_request(check_id, url, payload, key, date, fault, kind)

        self.in_background(lambda: self.deliver(build, fault), f"truid-callback:{check_id}")
