"""The SIM-change part of the simulated tru.ID: SubscriberCheck v0.2's answer and SIMCheck v0.1 (docs/sandbox.md).
Facts: specs/truid models/subscriber_check/SubscriberCheckResourceModels.v0.2.yaml, models/sim_check/."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.simulators.network_client import NetworkDown, Subscriber, subscriber
from sandbox.simulators.truid.checks import CHARGE_AMOUNT, CHARGE_CURRENCY, HAL_JSON, PhoneCheck, create_fields, iso
from sandbox.simulators.truid.problems import problem
from sandbox.simulators.wsgi import Request, Response, json_response

PHONE_CHECK, SUBSCRIBER_CHECK, SIM_CHECK = "phone_check", "subscriber_check", "sim_check"
PERIOD_MINUTES = (60, 540_000)
DEFAULT_PERIOD = 10_080  # 7 days
# SimChangeWithin: the top of each window, in minutes; beyond the last, 525601 ("> 365d").
WINDOWS = (60, 360, 720, 1440, 2880, 4320, 10_080, 43_200, 129_600, 259_200, 525_600)
BEYOND_A_YEAR = 525_601
SIM_CHECK_FIELDS = frozenset({"phone_number", "phone_ip", "reference_id"})  # and `period`
NO_SIM_DATA = "91"  # a SubscriberCheck of a number ending 91 completes without no_sim_change (no SIM data shared)


def period_of(body: dict[str, Any]) -> int | Response:
    """`period` of a SubscriberCheck or SIMCheck create: an integer of 60 to 540,000 minutes (default 10,080)."""
    period = body.get("period", DEFAULT_PERIOD)
    if not isinstance(period, int) or isinstance(period, bool):
        return problem(400, "bad_request", "period must be an integer number of minutes")
    if not PERIOD_MINUTES[0] <= period <= PERIOD_MINUTES[1]:
        return problem(400, "bad_request", f"period must be between {PERIOD_MINUTES[0]} and {PERIOD_MINUTES[1]} "
                                           "minutes")
    return period


def window_minutes(elapsed_seconds: float) -> int:
    """sim_change_within for a change `elapsed_seconds` ago: 60 for 0-1h, 360 for 1h01m-6h, … 525601 beyond."""
    minutes = elapsed_seconds / 60
    return next((top for top in WINDOWS if minutes <= top), BEYOND_A_YEAR)


def sim_change_fields(record: Subscriber, period: int, now: float) -> dict[str, Any]:
    """no_sim_change, no_sim_change_period and, where there was a change, sim_change_within."""
    body: dict[str, Any] = {"no_sim_change": not record.changed_within(now, period * 60),
                            "no_sim_change_period": period}
    if record.sim_changed_at is not None:
        body["sim_change_within"] = window_minutes(max(0.0, now - record.sim_changed_at))
    return body


def sim_record(network_url: str, digits: str, live: bool) -> Subscriber | None:
    """The number's record from the network (live Projects); never changed for sandbox Projects. None when the
    operator has no record of the number. Raises NetworkDown."""
    return subscriber(network_url, f"+{digits}") if live else Subscriber(None)


def sim_fields(network_url: str, check: PhoneCheck, live: bool, now: float) -> dict[str, Any] | None:
    """What the operator says of a SubscriberCheck's number's SIM, as the check reports it; None (no no_sim_change
    at all) when it shares nothing."""
    if check.trigger == NO_SIM_DATA or check.period is None:
        return None
    try:
        record = sim_record(network_url, check.phone_number, live)
    except NetworkDown:
        return None
    return sim_change_fields(record, check.period, now) if record else None


@dataclass
class SimCheck:
    """A SIMCheck: created COMPLETED (or ERROR) at once, read back by id."""

    check_id: str
    client_id: str
    phone_number: str
    created_at: float
    reference_id: str | None
    status: str
    fields: dict[str, Any]

    def body(self, base_url: str) -> dict[str, Any]:
        body: dict[str, Any] = {"check_id": self.check_id, "status": self.status, "charge_amount": CHARGE_AMOUNT,
                                "charge_currency": CHARGE_CURRENCY, "created_at": iso(self.created_at),
                                **self.fields, "_links": {"self": {"href": f"{base_url}/sim_check/v0.1/checks/"
                                                                           f"{self.check_id}"}}}
        if self.reference_id is not None:
            body["reference_id"] = self.reference_id
        return body


def sim_check(fields: dict[str, Any], client_id: str, network_url: str, live: bool, now: float
              ) -> SimCheck | Response:
    """POST /sim_check/v0.1/checks with its validated fields, answered at once."""
    period = period_of(fields)
    if isinstance(period, Response):
        return period
    try:
        record = sim_record(network_url, fields["phone_number"], live)
    except NetworkDown:
        return problem(502, "bad_gateway", "The mobile network did not answer")
    if record is None:
        status, answer = "ERROR", {"error_code": "mno_user_not_found"}
    else:
        status, answer = "COMPLETED", sim_change_fields(record, period, now)
    return SimCheck(str(uuid.uuid4()), client_id, fields["phone_number"], now, fields.get("reference_id"), status,
                    answer)


class SimChecks:
    """SIMCheck v0.1: answered at once, read back by the Project that made it; safe to share across threads."""

    def __init__(self, network_url: str, clock: Callable[[], float], charge: Callable[[str], float],
                 live: Callable[[str], bool]) -> None:
        self._network_url, self._clock, self._charge, self._live = network_url, clock, charge, live
        self._lock = threading.Lock()
        self._checks: dict[str, SimCheck] = {}

    def create(self, request: Request, client_id: str) -> Response:
        fields = create_fields(request, SIM_CHECK_FIELDS, {"period"})
        if isinstance(fields, Response):
            return fields
        created = sim_check(fields, client_id, self._network_url, self._live(client_id), self._clock())
        if isinstance(created, Response):
            return created
        with self._lock:
            self._checks[created.check_id] = created
        balance = self._charge(client_id)
        return json_response(201, {**created.body(request.base_url), "snapshot_balance": balance}, HAL_JSON)

    def read(self, request: Request, client_id: str, check_id: str) -> Response:
        with self._lock:
            found = self._checks.get(check_id)
        if found is None or found.client_id != client_id:
            return problem(404, "check_not_found")
        return json_response(200, found.body(request.base_url), HAL_JSON)
