"""What the adapters share (providers/base.py, providers/secret_sections.py): one reading of an HTTP failure
(reason, transient, Retry-After) and one set of messages for the same mistake in any provider's secret section."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import pytest
import requests

from silentcheck import config
from silentcheck.checks import Reason
from silentcheck.errors import ProviderNotConfigured
from silentcheck.providers import base, camara_config, infobip, truid, truid_results
from silentcheck.providers.secret_sections import SecretSection

NOW = 1_800_000_000.0


def _response(status: int, body: Any = None, **headers: str) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update({"Content-Type": "application/json", **headers})
    response._content = json.dumps(body if body is not None else {}).encode()
    return response


@pytest.mark.parametrize(("value", "seconds"), [
    ("30", 30),
    ("0", 0),
    (format_datetime(datetime.fromtimestamp(NOW + 90, UTC), usegmt=True), 90),
    (format_datetime(datetime.fromtimestamp(NOW - 90, UTC), usegmt=True), 0),  # a date already past: now
    ("soon", None),
    ("-5", None),
    ("", None),
    (None, None),
])
def test_retry_after_is_read_as_seconds_or_an_http_date(value: str | None, seconds: int | None):
    assert base.retry_after_seconds(value, now=NOW) == seconds


@pytest.mark.parametrize(("status", "reason", "transient"), [
    (400, Reason.PROVIDER_REJECTED, False),
    (401, Reason.PROVIDER_REJECTED, False),
    (404, Reason.PROVIDER_REJECTED, False),
    (429, Reason.PROVIDER_ERROR, True),
    (500, Reason.PROVIDER_ERROR, True),
    (503, Reason.PROVIDER_ERROR, True),
])
def test_a_status_the_provider_explains_no_further_is_an_outage_or_a_refusal_of_ours(status, reason, transient):
    failure = base.http_failure(_response(status), f"x:{status}")

    assert (failure.outcome.reason, failure.outcome.raw_code, failure.transient) == (reason, f"x:{status}", transient)


def test_the_providers_own_code_decides_the_reason_and_the_status_whether_it_is_transient():
    failure = base.http_failure(_response(503), "x:503:NOT_IMPLEMENTED", Reason.CARRIER_UNSUPPORTED)

    assert (failure.outcome.reason, failure.transient) == (Reason.CARRIER_UNSUPPORTED, True)


# The same answer read by each adapter's reader: one classifier behind them all.
READERS = {
    "truid": truid_results.http_failure,
    "infobip": infobip._refusal,
}


@pytest.mark.parametrize("read", READERS.values(), ids=READERS.keys())
def test_every_adapter_reads_a_rate_limit_as_a_transient_outage_with_its_retry_after(read):
    failure = read(_response(429, {}, **{"Retry-After": "30"}))

    assert (failure.outcome.reason, failure.transient, failure.retry_after) == (Reason.PROVIDER_ERROR, True, 30)


@pytest.mark.parametrize("read", READERS.values(), ids=READERS.keys())
def test_every_adapter_reads_a_refusal_of_our_credentials_as_rejected_and_final(read):
    failure = read(_response(401, {}))

    assert (failure.outcome.reason, failure.transient, failure.retry_after) == (Reason.PROVIDER_REJECTED, False, None)


# -- secret sections -------------------------------------------------------------------------------

SECTIONS: dict[str, tuple[type[SecretSection], dict[str, Any], str]] = {
    # the section's model, a valid section, a URL key of it
    "truid": (truid._Config, {"base_url": "https://eu.api.tru.id", "client_id": "c", "client_secret": "s3cret"},
              "base_url"),
    "camara": (camara_config.Config, {"issuer": "https://op.example", "client_id": "c", "client_secret": "s3cret",
                                      "api_base_url": "https://api.example/number-verification/v2",
                                      "scope": "openid"}, "api_base_url"),
    "infobip": (infobip._Config, {"base_url": "https://x.api.infobip.com", "api_key": "s3cret"}, "base_url"),
}
PROVIDERS = {"truid": "tru.ID", "camara": "CAMARA", "infobip": "Infobip"}
SECRETS = {"truid": "the callback secret (CALLBACK_SECRET_ID)", "camara": "the secret (SECRET_ID)",
           "infobip": "the secret (SECRET_ID)"}


def _problem(model: type[SecretSection], raw: dict[str, Any]) -> str:
    with pytest.raises(ProviderNotConfigured) as refused:
        model.parse(raw)
    return refused.value.detail


@pytest.fixture(autouse=True)
def _deployed(deployed: None) -> None:
    """Every test here reads sections as a deployment would (tests/unit/conftest.py)."""


@pytest.mark.parametrize("name", SECTIONS)
def test_a_valid_section_is_read_as_written(name: str):
    model, valid, _ = SECTIONS[name]

    assert {key: getattr(model.parse(valid), key) for key in valid} == valid


@pytest.mark.parametrize("name", SECTIONS)
@pytest.mark.parametrize("absent", [None, ""], ids=["missing", "empty"])
def test_a_missing_or_empty_key_is_told_alike_in_every_section(name: str, absent: str | None):
    model, valid, url_key = SECTIONS[name]
    raw = {k: v for k, v in valid.items() if k != url_key}
    if absent is not None:
        raw[url_key] = absent

    assert _problem(model, raw) == f"{PROVIDERS[name]} is not configured: key {name} of {SECRETS[name]} lacks {url_key}"


@pytest.mark.parametrize("name", SECTIONS)
def test_a_plain_http_url_is_told_alike_in_every_section_without_the_url(name: str):
    model, valid, url_key = SECTIONS[name]

    problem = _problem(model, {**valid, url_key: "http://eu.example.com"})

    assert problem.startswith(f"{name}.{url_key} must be an https URL (plain http only to a loopback host")
    assert "eu.example.com" not in problem


@pytest.mark.parametrize("name", SECTIONS)
def test_a_credential_of_the_wrong_kind_is_told_alike_without_its_value(name: str):
    model, valid, _ = SECTIONS[name]
    key = "api_key" if name == "infobip" else "client_secret"

    problem = _problem(model, {**valid, key: {"value": "s3cret"}})

    assert problem == f"{name}.{key} must be a string"


@pytest.mark.parametrize(("model", "raw", "problem"), [
    (truid._Config, {**SECTIONS["truid"][1], "api_version": "v9"},
     "truid.api_version must be one of v0.1, v0.2, not 'v9'"),
    (camara_config.Config, {**SECTIONS["camara"][1], "login_hint": "msisdn"},
     "camara.login_hint must be one of none, tel, plain, not 'msisdn'"),
    (camara_config.Config, {**SECTIONS["camara"][1], "client_auth": "tls_client_auth"},
     "camara.client_auth must be one of client_secret_basic, private_key_jwt, not 'tls_client_auth'"),
    (camara_config.Config, {**SECTIONS["camara"][1], "token_endpoint_auth_method": "none"},
     "camara.token_endpoint_auth_method must be one of client_secret_basic, private_key_jwt, not 'none'"),
])
def test_a_choice_outside_its_list_names_the_key_as_written_and_the_choices(model, raw, problem):
    assert _problem(model, raw) == problem


@pytest.mark.parametrize("key", ["client_auth", "token_endpoint_auth_method"])
def test_camaras_token_endpoint_auth_method_is_read_under_either_name(key: str):
    raw = {**SECTIONS["camara"][1], key: "private_key_jwt", "private_key": "PEM"}

    assert camara_config.Config.parse(raw).client.method == "private_key_jwt"


def test_private_key_jwt_without_a_private_key_lacks_it():
    raw = {**SECTIONS["camara"][1], "token_endpoint_auth_method": "private_key_jwt"}

    assert _problem(camara_config.Config, raw) == (
        "CAMARA is not configured: key camara of the secret (SECRET_ID) lacks private_key")


@pytest.mark.parametrize("hours", [0, 2401, True, "24", 24.5])
def test_a_sim_swap_limit_outside_whole_hours_1_to_2400_is_refused(hours: Any):
    raw = {**SECTIONS["camara"][1], "sim_swap_max_age_hours": hours}

    assert _problem(camara_config.Config, raw) == "camara.sim_swap_max_age_hours must be a whole number from 1 to 2400"



@pytest.mark.parametrize("name", SECTIONS)
def test_a_section_read_again_as_it_was_is_not_validated_again(name: str):
    model, valid, _ = SECTIONS[name]

    assert model.parse(dict(valid)) is model.parse(dict(valid))


@pytest.mark.parametrize("name", SECTIONS)
def test_a_section_changed_in_the_secret_is_validated_anew(name: str):
    model, valid, url_key = SECTIONS[name]
    model.parse(valid)

    assert "must be an https URL" in _problem(model, {**valid, url_key: "http://eu.example.com"})
    assert model.parse(valid) == model.parse(dict(valid))


def test_a_section_read_under_other_settings_is_validated_anew(monkeypatch: pytest.MonkeyPatch):
    model, valid, url_key = SECTIONS["truid"]
    loopback = {**valid, url_key: "http://127.0.0.1:8080"}
    monkeypatch.setenv("SANDBOX_LOOPBACK_PROVIDERS", "true")
    config.reset()
    assert getattr(model.parse(loopback), url_key) == "http://127.0.0.1:8080"

    monkeypatch.delenv("SANDBOX_LOOPBACK_PROVIDERS")
    config.reset()

    assert "must be an https URL" in _problem(model, loopback)

def test_a_numeric_client_id_is_read_as_the_string_it_stands_for():
    assert camara_config.Config.parse({**SECTIONS["camara"][1], "client_id": 12345}).client_id == "12345"
