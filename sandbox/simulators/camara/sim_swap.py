"""The SIM Swap API of the simulated CAMARA aggregator (sim-swap.yaml, v2), strict per the YAML: docs/sandbox.md."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sandbox.simulators.camara.api import error_info, json_object, spend_token
from sandbox.simulators.camara.oauth import E164, AccessTokens, Grant
from sandbox.simulators.network import HOUR_SECONDS
from sandbox.simulators.network_client import NetworkDown, subscriber
from sandbox.simulators.wsgi import Request, Response, Routes, json_response

BASE_PATH = "/sim-swap/v2"
MAX_AGE = (1, 2400)
DEFAULT_MAX_AGE = 240
NOT_APPLICABLE = "96"  # the last two digits of a line the operator does not offer SIM swap for
NOT_APPLICABLE_MESSAGE = "The service is not available for the provided identifier."
OPERATIONS = {"/check": "sim-swap:check", "/retrieve-date": "sim-swap:retrieve-date"}


class SimSwapApi:
    """Checks single-use bearer tokens and their scope, then the body, and answers from the network's record."""

    def __init__(self, tokens: AccessTokens, network_url: str, clock: Callable[[], float],
                 operator_max_age_hours: int = MAX_AGE[1], monitored_period_days: int = 120) -> None:
        self._tokens = tokens
        self._network_url = network_url
        self._clock = clock
        self.operator_max_age_hours = operator_max_age_hours  # tests lower it, as a regulated operator would
        self._monitored_days = monitored_period_days
        self.base_path = BASE_PATH
        self.routes: Routes = {BASE_PATH + operation: {"POST": partial(self._answer, operation=operation)}
                               for operation in OPERATIONS}

    def _answer(self, request: Request, operation: str) -> Response:
        grant = spend_token(request, self._tokens, "sim-swap")
        if isinstance(grant, Response):
            return grant
        if not {OPERATIONS[operation], "sim-swap"} & grant.scopes.sim_swap:
            return error_info(403, "PERMISSION_DENIED")
        body = json_object(request)
        if isinstance(body, Response):
            return body
        max_age = body.get("maxAge", DEFAULT_MAX_AGE)
        refusal = self._max_age_refusal(max_age) if operation == "/check" else None
        if refusal is not None:
            return refusal
        number = _subject(grant, body)
        if isinstance(number, Response):
            return number
        if number[-2:] == NOT_APPLICABLE:
            return error_info(422, "SERVICE_NOT_APPLICABLE", NOT_APPLICABLE_MESSAGE)
        try:
            record = subscriber(self._network_url, number)
        except NetworkDown:
            return error_info(503, "UNAVAILABLE")
        if record is None:
            return error_info(404, "IDENTIFIER_NOT_FOUND", "The phone number is not known to this operator.")
        now = self._clock()
        if operation == "/check":
            return json_response(200, {"swapped": record.changed_within(now, max_age * HOUR_SECONDS)})
        changed_at = record.sim_changed_at
        if changed_at is None or not record.changed_within(now, self._monitored_days * 24 * HOUR_SECONDS):
            # never changed, or before the monitored period: nothing this operator may tell
            return json_response(200, {"latestSimChange": None, "monitoredPeriod": self._monitored_days})
        stamp = datetime.fromtimestamp(changed_at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return json_response(200, {"latestSimChange": stamp})

    def _max_age_refusal(self, max_age: Any) -> Response | None:
        if not isinstance(max_age, int) or isinstance(max_age, bool):
            return error_info(400, "INVALID_ARGUMENT", "maxAge must be an integer number of hours.")
        if not MAX_AGE[0] <= max_age <= MAX_AGE[1]:
            return error_info(400, "OUT_OF_RANGE", f"maxAge must be between {MAX_AGE[0]} and {MAX_AGE[1]} hours.")
        if max_age > self.operator_max_age_hours:
            return error_info(400, "OUT_OF_RANGE", f"Check monitor period could not exceed local regulations "
                                                   f"({self.operator_max_age_hours} hours).")
        return None


def _subject(grant: Grant, body: dict[str, Any]) -> str | Response:
    """The number the call is about: the token's, or the body's for a token with no line behind it."""
    if "phoneNumber" in body:
        number = body["phoneNumber"]
        if not isinstance(number, str) or not E164.fullmatch(number):
            return error_info(400, "INVALID_ARGUMENT", "phoneNumber does not match its schema pattern.")
        if grant.msisdn is not None:
            return error_info(422, "UNNECESSARY_IDENTIFIER", "The device is already identified by the access token.")
        return number
    if grant.msisdn is None:
        return error_info(422, "MISSING_IDENTIFIER", "The device cannot be identified.")
    return grant.msisdn
