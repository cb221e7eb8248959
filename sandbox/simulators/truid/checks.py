"""The PhoneCheck resource of the simulated tru.ID: its life cycle, the trigger numbers, the create and patch
payloads and its JSON shapes."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sandbox.simulators.truid.problems import problem
from sandbox.simulators.wsgi import (
    Request,
    Response,
    ip_literal,
    is_http_url,
    is_loopback_url,
    json_response,
    redirect,
    with_query,
)

Version = Literal["v0.1", "v0.2"]
Status = Literal["ACCEPTED", "PENDING", "COMPLETED", "EXPIRED", "ERROR"]

HAL_JSON = "application/hal+json"
CHARGE_AMOUNT = 1
CHARGE_CURRENCY = "API"
STARTING_BALANCE = 1000
# Sandbox-mode checks never reach an operator; 001-01 is the ITU test network.
SANDBOX_NETWORK_ID = "00101"

# Keyed by the last two digits of the checked number: docs/sandbox.md, "The simulated tru.ID".
CREATE_FAILURES: dict[str, tuple[int, str]] = {
    "98": (400, "mno_not_supported"),
    "97": (429, "too_many_requests"),
    "96": (503, "service_unavailable"),
    "94": (409, "ip_msisdn_mismatch"),
}
SLOW_CREATE = "95"
CHECK_URL_ERRORS = {"99": "mno_server_error", "93": "mno_redirect_unsupported"}
OPERATOR_ERRORS = {"92": "mno_user_not_found"}
ERROR_DESCRIPTIONS = {
    "mno_server_error": "An error occurred with the MNO",
    "mno_redirect_unsupported": "MNO redirect unsupported",
    "mno_user_not_found": "The phone number is not recognised by the MNO",
    "not_mobile_ip": "Not a mobile IP",
    "ip_mismatch": "The IP address of create check request and redirect do not match",
}

CREATE_FIELDS: dict[Version, frozenset[str]] = {
    "v0.1": frozenset({"phone_number", "phone_ip", "reference_id", "callback_url"}),
    "v0.2": frozenset({"phone_number", "phone_ip", "reference_id", "callback_url", "redirect_url"}),
}

# E.164: up to 15 digits, no leading zero; tru.ID's examples omit the "+", its docs also show it.
_E164 = re.compile(r"\+?([1-9][0-9]{6,14})")


def e164_digits(value: object) -> str | None:
    """The number's digits without "+", or None when it is not E.164."""
    match = _E164.fullmatch(value) if isinstance(value, str) else None
    return match[1] if match else None


def sandbox_match(digits: str) -> bool:
    """tru.ID's published sandbox rule: an even last digit matches, an odd one does not."""
    return int(digits[-1]) % 2 == 0


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


@dataclass
class PhoneCheck:
    check_id: str
    client_id: str
    version: Version
    phone_number: str  # E.164 digits, no "+"
    created_at: float
    ttl: int
    reference_id: str | None = None
    redirect_url: str | None = None
    callback_url: str | None = None
    phone_ip: str | None = None
    status: Status = "ACCEPTED"
    updated_at: float = 0.0
    match: bool | None = None
    network_id: str | None = None
    error_code: str | None = None
    code: str | None = None  # v0.2 completion code, once the device has been through check_url
    lag_reads_left: int = 0
    called_back: bool = False  # the end-status callback has been dispatched
    product: str = "phone_check"  # or "subscriber_check": the same flow, plus the SIM-change answer
    period: int | None = None  # SubscriberCheck: minutes within which a SIM change counts
    sim_fields: dict[str, Any] | None = None  # SubscriberCheck: no_sim_change, … (subscriber.py), once concluded

    @property
    def trigger(self) -> str:
        return self.phone_number[-2:]

    @property
    def final(self) -> bool:
        return self.status in ("COMPLETED", "EXPIRED", "ERROR")

    def expire_if_due(self, now: float) -> None:
        if not self.final and now >= self.created_at + self.ttl:
            self.status = "EXPIRED"
            self.updated_at = self.created_at + self.ttl

    def start(self, now: float) -> None:
        self.status, self.updated_at = "PENDING", now

    def observe(self, match: bool, network_id: str | None, now: float) -> None:
        """What the operator said; the check is COMPLETED now (v0.1) or on the code exchange (v0.2)."""
        self.match, self.network_id, self.updated_at = match, network_id, now

    def complete(self, now: float, lag_reads: int = 0) -> None:
        self.status, self.updated_at, self.lag_reads_left = "COMPLETED", now, lag_reads

    def fail(self, error_code: str, now: float) -> None:
        self.status, self.error_code, self.updated_at = "ERROR", error_code, now

    # -- JSON shapes (PhoneCheckResourceModels.v0.1/v0.2.yaml) ------------------------------------

    def self_href(self, base_url: str) -> str:
        return f"{base_url}/{self.product}/{self.version}/checks/{self.check_id}"

    def check_url(self, base_url: str) -> str:
        return f"{self.self_href(base_url)}/redirect"

    def _common(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "check_id": self.check_id,
            "status": self.status,
            "charge_amount": CHARGE_AMOUNT,
            "charge_currency": CHARGE_CURRENCY,
            "created_at": iso(self.created_at),
        }
        if self.reference_id is not None:
            body["reference_id"] = self.reference_id
        return body

    def created_body(self, base_url: str, snapshot_balance: float) -> dict[str, Any]:
        """PhoneCheckCreateResponse (201)."""
        return {
            **self._common(),
            "ttl": self.ttl,
            "snapshot_balance": snapshot_balance,
            "_links": {"self": {"href": self.self_href(base_url)}, "check_url": {"href": self.check_url(base_url)}},
        }

    def _outcome(self, status: Status) -> dict[str, Any]:
        """`match`, the SIM fields and `network_id` only when COMPLETED, `error_code` only when ERROR."""
        if status == "COMPLETED":
            return {"match": bool(self.match), **(self.sim_fields or {}),
                    **({"network_id": self.network_id} if self.network_id else {})}
        return {"error_code": self.error_code} if status == "ERROR" and self.error_code else {}

    def resource_body(self, base_url: str, shown_status: Status | None = None) -> dict[str, Any]:
        """PhoneCheck (GET); SubscriberCheck (v0.2) declares no ttl on the resource."""
        status = shown_status or self.status
        body = {**self._common(), "status": status, "updated_at": iso(self.updated_at),
                **({} if self.product == "subscriber_check" else {"ttl": self.ttl}), **self._outcome(status)}
        links: dict[str, Any] = {"self": {"href": self.self_href(base_url)}}
        if status == "ACCEPTED":
            links["check_url"] = {"href": self.check_url(base_url)}
        return {**body, "_links": links}

    def patch_body(self) -> dict[str, Any]:
        """PhoneCheckPatchPartial (200 to the code exchange); SubscriberCheckPatchPartial: no no_sim_change_period."""
        body = {**self._common(), "updated_at": iso(self.updated_at)}
        if self.status == "COMPLETED":
            body["match"] = bool(self.match)
            body.update({k: v for k, v in (self.sim_fields or {}).items() if k != "no_sim_change_period"})
        return body

    def callback_body(self) -> dict[str, Any]:
        """PhoneCheckCallbackPayload: no `ttl`, no `_links`."""
        return {**self._common(), "updated_at": iso(self.updated_at), **self._outcome(self.status)}

    def fail_device(self, error_code: str, now: float) -> Response:
        """End the check in ERROR, and the answer (PhoneCheckRedirectError) that tells the device on check_url."""
        self.fail(error_code, now)
        error = {"check_id": self.check_id, "error": error_code,
                 "error_description": ERROR_DESCRIPTIONS.get(error_code, error_code)}
        if self.version == "v0.2" and self.redirect_url:
            return redirect(with_query(self.redirect_url, error))
        if error_code == "mno_redirect_unsupported":
            return problem(501, "mno_redirect_unsupported")
        return json_response(200, error)

    def summary(self) -> dict[str, Any]:
        """Everything the simulator recorded but the completion code (for GET /_sandbox/checks)."""
        recorded = {k: v for k, v in asdict(self).items() if k not in ("code", "lag_reads_left", "sim_fields")}
        return {**recorded, "created_at": iso(self.created_at), "updated_at": iso(self.updated_at)}


def create_fields(request: Request, allowed: frozenset[str], extra: set[str]) -> dict[str, Any] | Response:
    """The create payload, validated; `phone_number` reduced to its E.164 digits; `extra` fields (the integer
    `period` of a SubscriberCheck or SIMCheck) are validated by their product."""
    if request.media_type != "application/json":
        return problem(415, "unsupported_media_type", "Content-Type must be application/json")
    try:
        body = request.json_object()
    except ValueError:
        return problem(400, "bad_request")
    unknown = sorted(set(body) - allowed - extra)
    digits = e164_digits(body.get("phone_number"))
    rules = (  # all evaluated first, so each is safe with a value of any type
        (bool(unknown), "bad_request", f"Unknown field(s): {', '.join(unknown)}"),
        (not all(isinstance(value, str) for key, value in body.items() if key not in extra), "bad_request",
         "Every field must be a string"),
        ("phone_number" not in body, "bad_request", "phone_number is required"),
        (digits is None, "phone_format_invalid", None),
        ("redirect_url" in body and not is_http_url(str(body["redirect_url"])), "bad_request",
         "redirect_url must be an absolute http(s) URL"),
        ("callback_url" in body and not is_loopback_url(str(body["callback_url"])), "bad_request",
         "callback_url must be a loopback http(s) URL (127.x.x.x or localhost)"),
        ("phone_ip" in body and ip_literal(body["phone_ip"]) is None, "bad_request",
         "phone_ip must be an IPv4 or IPv6 address"),
    )
    refusal = next(((code, detail) for refused, code, detail in rules if refused), None)
    if refusal is not None:
        return problem(400, *refusal)
    return {**body, "phone_number": digits}


def patched_code(request: Request) -> str | None:
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
