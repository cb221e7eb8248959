"""CAMARA Number Verification, OIDC authorization code flow: the real handlers, DynamoDB Local, and the
simulated aggregator, operator network and phone over HTTP on loopback. Numbers in +34 (the aggregator
samples' Spain)."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

from sandbox.device import bound_session
from silentcheck.providers import oauth
from tests.integration.conftest import App, completion_code

NUMBER = "+34600000012"
OTHER_SIM = "+34600000034"


def _query(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


def start(app: App, number: str = NUMBER) -> dict[str, Any]:
    response = app.start(number, provider="camara")
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def verified_on_own_phone(app: App, number: str = NUMBER) -> tuple[dict[str, Any], requests.Response]:
    check = start(app, number)
    opened = app.phone(number).open(check["check_url"])
    return check, app.poll(check, completion_code(opened))


def return_url_without_following(app: App, check: dict[str, Any], sim: str = NUMBER) -> str:
    """Walk the phone through the aggregator and the network, stopping before it reaches our return."""
    phone = app.phone(sim)
    url: str = check["check_url"]
    with bound_session(phone.ip) as session:
        for _ in range(10):
            location = session.get(url, allow_redirects=False, timeout=5).headers["Location"]
            url = urljoin(url, str(location))
            if url.startswith(f"{app.api}/checks/return"):
                return url
    raise AssertionError("the chain never reached /checks/return")


# -- the flow ---------------------------------------------------------------------------------------

def test_start_answers_the_aggregators_authorize_url_as_check_url(app: App):
    check = start(app)

    assert check["check_url"].startswith(f"{app.stack.camara.base_url}/authorize?")
    assert (check["status"], check["provider"], check["binding"]) == ("PENDING", "camara", "device")


def test_phone_on_wifi_fails_as_user_not_authenticated_without_a_token_call(app: App):
    check = start(app)
    opened = app.phone(NUMBER, bearer="wifi").open(check["check_url"])

    view = app.poll(check, completion_code(opened)).json()
    assert (view["status"], view["reason"]) == ("FAILED", "USER_NOT_AUTHENTICATED")
    assert app.camara_requests("/token") == []


def test_verify_is_called_with_the_number_and_a_uuid_x_correlator(app: App):
    verified_on_own_phone(app)

    (call,) = app.camara_requests("/verify")
    assert json.loads(call["body"]) == {"phoneNumber": NUMBER}
    assert uuid.UUID(call["headers"]["X-Correlator"])


def test_the_x_correlator_is_logged_with_the_check(app: App, captured_logs):
    check, _ = verified_on_own_phone(app)

    (call,) = app.camara_requests("/verify")
    logged = [json.loads(line) for line in captured_logs.getvalue().splitlines() if "x_correlator" in line]
    assert (call["headers"]["X-Correlator"], check["check_id"]) in {(e["x_correlator"], e["check_id"]) for e in logged}


def test_hashed_mode_sends_only_the_sha256_of_the_number_and_verifies(app: App):
    app.stack.configure_camara(number_format="hashed")

    _, polled = verified_on_own_phone(app)

    (call,) = app.camara_requests("/verify")
    assert json.loads(call["body"]) == {"hashedPhoneNumber": hashlib.sha256(NUMBER.encode()).hexdigest()}
    assert polled.json()["status"] == "VERIFIED"


def test_hashed_mode_with_another_sim_is_not_verified(app: App):
    app.stack.configure_camara(number_format="hashed")
    check = start(app)

    opened = app.phone(OTHER_SIM).open(check["check_url"])

    assert app.poll(check, completion_code(opened)).json()["status"] == "NOT_VERIFIED"


def test_private_key_jwt_client_authenticates_with_an_assertion_and_verifies(app: App):
    app.stack.configure_camara(client_auth="private_key_jwt")

    _, polled = verified_on_own_phone(app)

    (token_call,) = app.camara_requests("/token")
    form = parse_qs(token_call["body"])
    assert form["client_assertion_type"] == [oauth.CLIENT_ASSERTION_TYPE] and form["client_assertion"]
    assert "Authorization" not in token_call["headers"]
    assert polled.json()["status"] == "VERIFIED"


def test_login_hint_carries_the_number_in_tel_form_only_when_configured(app: App):
    default = start(app)
    app.stack.configure_camara(login_hint="tel")
    hinted = start(app)

    assert "login_hint" not in _query(default["check_url"])
    assert _query(hinted["check_url"])["login_hint"] == f"tel:{NUMBER}"


def test_endpoints_come_from_the_issuers_discovery_document(app: App):
    verified_on_own_phone(app)

    assert app.camara_requests("/.well-known/openid-configuration")


def test_static_endpoints_serve_when_discovery_is_off(app: App):
    base = app.stack.camara.base_url
    oauth.forget()
    app.stack.configure_camara(discovery=False, authorization_endpoint=f"{base}/authorize",
                               token_endpoint=f"{base}/token", jwks_uri=f"{base}/jwks")

    _, polled = verified_on_own_phone(app)

    assert app.camara_requests("/.well-known/openid-configuration") == []
    assert polled.json()["status"] == "VERIFIED"


def test_device_phone_number_mode_compares_on_our_side(app: App):
    share_scope = "openid dpv:FraudPreventionAndDetection number-verification:device-phone-number:read"
    app.stack.configure_camara(operation="device_phone_number", scope=share_scope)
    check = start(app)
    mine = app.poll(check, completion_code(app.phone(NUMBER).open(check["check_url"]))).json()
    other_check = start(app)
    other = app.poll(other_check, completion_code(app.phone(OTHER_SIM).open(other_check["check_url"]))).json()

    assert (mine["status"], other["status"]) == ("VERIFIED", "NOT_VERIFIED")
    assert app.camara_requests("/verify") == [] and len(app.camara_requests("/device-phone-number")) == 2


def test_telefonica_mock_convention_verifies_numbers_ending_in_1_and_not_2(app: App):
    app.stack.configure_camara(mock=True)
    results = []
    for number in ("+34600000001", "+34600000002"):
        check = start(app, number)
        opened = app.phone(number).open(check["check_url"])
        results.append(app.poll(check, completion_code(opened)).json()["status"])

    assert results == ["VERIFIED", "NOT_VERIFIED"]


# -- what the aggregator answers ---------------------------------------------------------------------

@pytest.mark.parametrize(("status", "code", "reason"), [
    (403, "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK", "USER_NOT_AUTHENTICATED"),
    (403, "PERMISSION_DENIED", "PROVIDER_REJECTED"),
    (401, "UNAUTHENTICATED", "PROVIDER_REJECTED"),
    (400, "INVALID_ARGUMENT", "PROVIDER_REJECTED"),
    (429, "TOO_MANY_REQUESTS", "PROVIDER_ERROR"),
    (503, "UNAVAILABLE", "PROVIDER_ERROR"),
])
def test_verify_errors_fail_the_check_with_the_mapped_reason(app: App, status, code, reason):
    app.camara_fault("verify", status=status, code=code)

    _, polled = verified_on_own_phone(app)

    assert (polled.json()["status"], polled.json()["reason"]) == ("FAILED", reason)


def test_user_not_authenticated_by_the_network_is_a_failure_not_a_mismatch(app: App):
    app.camara_fault("verify", status=403, code="NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK")

    _, polled = verified_on_own_phone(app)

    assert polled.json()["status"] == "FAILED"


@pytest.mark.parametrize("body", [
    {"devicePhoneNumberVerified": "true"},
    {},
    {"devicePhoneNumberVerified": True, "devicePhoneNumber": "+34600000012"},
])
def test_anything_but_a_json_true_or_false_fails_the_check(app: App, body):
    app.camara_fault("verify", status=200, body=body)

    _, polled = verified_on_own_phone(app)

    assert (polled.json()["status"], polled.json()["reason"]) == ("FAILED", "PROVIDER_ERROR")


@pytest.mark.parametrize(("error", "reason"), [
    ("invalid_grant", "REDIRECT_FAILED"),
    ("invalid_client", "PROVIDER_REJECTED"),
    ("temporarily_unavailable", "PROVIDER_ERROR"),
])
def test_token_endpoint_errors_fail_the_check_without_calling_verify(app: App, error, reason):
    app.camara_fault("token", status=503 if error == "temporarily_unavailable" else 400, body={"error": error})

    _, polled = verified_on_own_phone(app)

    assert (polled.json()["status"], polled.json()["reason"]) == ("FAILED", reason)
    assert app.camara_requests("/verify") == []


@pytest.mark.parametrize("error", ["access_denied", "consent_required", "login_required", "interaction_required"])
def test_authorization_errors_end_the_check_failed_with_no_token_call(app: App, error):
    app.camara_fault("authorize", error=error, error_description="<script>alert(1)</script>")
    check = start(app)

    opened = app.phone(NUMBER).open(check["check_url"])

    view = app.poll(check, completion_code(opened)).json()
    assert (view["status"], view["reason"]) == ("FAILED", "USER_NOT_AUTHENTICATED")
    assert app.camara_requests("/token") == []
    assert "script" not in opened.body and error not in opened.body


def test_an_aggregator_error_on_authorize_is_a_provider_error(app: App):
    app.camara_fault("authorize", error="server_error")
    check = start(app)

    opened = app.phone(NUMBER).open(check["check_url"])

    assert app.poll(check, completion_code(opened)).json()["reason"] == "PROVIDER_ERROR"


def test_a_missing_camara_configuration_fails_the_check_as_provider_rejected(app: App):
    app.stack.secret_value.pop("camara")
    app.stack.configure_truid()  # re-seeds the secret without the camara section

    check = start(app)

    assert (check["status"], check["reason"], check["check_url"]) == ("FAILED", "PROVIDER_REJECTED", None)
