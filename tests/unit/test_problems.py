"""What a problem+json answer tells its caller: a 4xx says what to fix; a 5xx says only that it was our
side, and what went wrong (a setting's name, a URL) goes to the logs."""

from __future__ import annotations

import io
import json

import pytest

from silentcheck.api import problem
from silentcheck.errors import (
    CallbackTooEarly,
    InvalidReturn,
    ProviderNotConfigured,
    SilentCheckError,
    TemporarilyUnavailable,
)

# What ProviderNotConfigured said to a phone at /checks/return on 5868827.
SPECIFIC = ("CAMARA is not configured: camara.issuer https://op.example must publish discovery; key "
            "camara.client_secret of the secret (SECRET_ID) is empty")


def _body(error: SilentCheckError) -> dict[str, object]:
    body: dict[str, object] = json.loads(problem(error).body or "{}")
    return body


def test_a_provider_configuration_error_reaches_the_caller_as_a_generic_500(captured_logs: io.StringIO):
    body = _body(ProviderNotConfigured(SPECIFIC))

    assert "op.example" not in json.dumps(body) and "client_secret" not in json.dumps(body)
    assert (body["status"], body["code"]) == (500, "PROVIDER_NOT_CONFIGURED")
    assert body["detail"] == SilentCheckError.public_detail


def test_the_specific_detail_of_a_5xx_is_logged(captured_logs: io.StringIO):
    problem(ProviderNotConfigured(SPECIFIC))

    line = json.loads(captured_logs.getvalue().splitlines()[-1])
    assert (line["level"], line["code"], line["detail"]) == ("ERROR", "PROVIDER_NOT_CONFIGURED", SPECIFIC)


@pytest.mark.parametrize("error", [
    SilentCheckError("a bug at service.py line 12"),
    ProviderNotConfigured("truid.base_url must be an https URL"),
    CallbackTooEarly("tru.ID ref abc not recorded yet"),
    TemporarilyUnavailable("DynamoDB throttled table silentcheck-checks"),
], ids=lambda e: type(e).__name__)
def test_every_5xx_answers_with_its_class_public_detail_only(error: SilentCheckError, captured_logs: io.StringIO):
    assert _body(error)["detail"] == type(error).public_detail


def test_a_4xx_keeps_the_detail_a_developer_can_act_on():
    assert _body(InvalidReturn("this link was already used or has expired"))["detail"] == (
        "this link was already used or has expired")
