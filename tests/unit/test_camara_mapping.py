"""CAMARA's answers map onto our statuses and reasons as docs/providers.md says (the adapter's rules, no HTTP)."""

import base64
import hashlib
import re

import pytest

from silentcheck.checks import Check, Reason, Status
from silentcheck.providers import camara, camara_config, camara_results, oauth


def _check(**attributes: str) -> Check:
    return Check(check_id="c", provider="camara", status=Status.PENDING, created_at=0, expires_at=300,
                 poll_token_hash="h", number_key="k",
                 attributes={"flow": "authorization_code", "issuer": "https://op.example", **attributes})


def test_hashed_phone_number_is_sha256_hex_of_the_number_with_its_plus():
    # The reference's own test vector (camara-number-verification.md §1.2).
    assert camara_config.hashed_phone_number("+123456789") == (
        "b49f9168e8a886ffd61a090b51a26e117717f5f6fa804af49ea67043a2bfa4f0")


def test_pkce_challenge_is_base64url_sha256_without_padding():
    verifier = "a" * 43
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")

    assert oauth.pkce_challenge(verifier) == expected and "=" not in expected


@pytest.mark.usefixtures("moto_env")
def test_code_verifier_is_43_to_128_unreserved_characters():
    verifier = camara_config.code_verifier("check.state")

    assert re.fullmatch(r"[A-Za-z0-9._~-]{43,128}", verifier)


@pytest.mark.usefixtures("moto_env")
def test_code_verifier_and_nonce_differ_per_state_and_from_each_other():
    values = {camara_config.code_verifier("a.1"), camara_config.code_verifier("a.2"), camara_config.nonce_for("a.1")}

    assert len(values) == 3


@pytest.mark.parametrize(("body", "status"), [
    ({"devicePhoneNumberVerified": True}, Status.VERIFIED),
    ({"devicePhoneNumberVerified": False}, Status.NOT_VERIFIED),
])
def test_only_a_json_boolean_is_a_verdict(body, status):
    assert camara_results.verdict(body).status is status


@pytest.mark.parametrize("body", [
    {"devicePhoneNumberVerified": "true"},
    {"devicePhoneNumberVerified": 1},
    {},
    {"devicePhoneNumberVerified": True, "extra": 1},
    [True],
    None,
])
def test_anything_but_a_json_boolean_alone_fails_as_provider_error(body):
    outcome = camara_results.verdict(body)

    assert (outcome.status, outcome.reason, outcome.raw_code) == (Status.FAILED, Reason.PROVIDER_ERROR,
                                                                  "verify:malformed")


@pytest.mark.parametrize(("status", "code", "reason"), [
    (403, "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK", Reason.USER_NOT_AUTHENTICATED),
    (403, "USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK", Reason.USER_NOT_AUTHENTICATED),
    (403, "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_SUPPORTED_METHOD", Reason.USER_NOT_AUTHENTICATED),
    (403, "NUMBER_VERIFICATION.INVALID_TOKEN_CONTEXT", Reason.USER_NOT_AUTHENTICATED),
    (403, "INVALID_TOKEN_CONTEXT", Reason.USER_NOT_AUTHENTICATED),
    (403, "NUMBER_VERIFICATION.INVALID_TS43_TOKEN", Reason.USER_NOT_AUTHENTICATED),
    (403, "PERMISSION_DENIED", Reason.PROVIDER_REJECTED),
    (401, "UNAUTHENTICATED", Reason.PROVIDER_REJECTED),
    (401, "AUTHENTICATION_REQUIRED", Reason.PROVIDER_REJECTED),
    (400, "INVALID_ARGUMENT", Reason.PROVIDER_REJECTED),
    (422, "SERVICE_NOT_APPLICABLE", Reason.CARRIER_UNSUPPORTED),
    (429, "QUOTA_EXCEEDED", Reason.PROVIDER_ERROR),
    (429, "TOO_MANY_REQUESTS", Reason.PROVIDER_ERROR),
    (500, "INTERNAL", Reason.PROVIDER_ERROR),
    (502, "BAD_GATEWAY", Reason.PROVIDER_ERROR),
    (503, "UNAVAILABLE", Reason.PROVIDER_ERROR),
    (504, "TIMEOUT", Reason.PROVIDER_ERROR),
])
def test_nv_error_codes_map_to_reasons(status, code, reason):
    outcome = camara_results.nv_failure(status, {"status": status, "code": code, "message": "m"})

    assert (outcome.status, outcome.reason) == (Status.FAILED, reason)
    assert outcome.raw_code == f"verify:{status}:{code}"


@pytest.mark.parametrize(("status", "reason"), [
    (400, Reason.PROVIDER_REJECTED),
    (403, Reason.PROVIDER_REJECTED),
    (404, Reason.PROVIDER_ERROR),
    (429, Reason.PROVIDER_ERROR),
    (501, Reason.CARRIER_UNSUPPORTED),
    (503, Reason.PROVIDER_ERROR),
    (418, Reason.PROVIDER_REJECTED),
])
def test_unknown_nv_codes_fall_back_by_http_status(status, reason):
    outcome = camara_results.nv_failure(status, {"status": status, "code": "SOMETHING_NEW", "message": "m"})
    assert outcome.reason is reason


@pytest.mark.parametrize("body", [None, "gateway error", {"code": 1002, "message": "Telefonica auth shape"}])
def test_errors_that_are_not_error_info_are_parsed_leniently_by_status(body):
    outcome = camara_results.nv_failure(503, body)

    assert (outcome.reason, outcome.raw_code) == (Reason.PROVIDER_ERROR, "verify:503")


def test_a_code_with_free_text_is_not_copied_into_the_record():
    outcome = camara_results.nv_failure(403, {"code": "PERMISSION DENIED for +447400900123", "message": "m"})

    assert outcome.raw_code == "verify:403:other"


@pytest.mark.parametrize(("error", "reason"), [
    ("access_denied", Reason.USER_NOT_AUTHENTICATED),
    ("login_required", Reason.USER_NOT_AUTHENTICATED),
    ("interaction_required", Reason.USER_NOT_AUTHENTICATED),
    ("consent_required", Reason.USER_NOT_AUTHENTICATED),
    ("invalid_scope", Reason.PROVIDER_REJECTED),
    ("unauthorized_client", Reason.PROVIDER_REJECTED),
    ("server_error", Reason.PROVIDER_ERROR),
    ("temporarily_unavailable", Reason.PROVIDER_ERROR),
    ("something_new", Reason.REDIRECT_FAILED),
])
def test_authorization_errors_map_to_reasons_without_a_token_call(error, reason):
    outcome = camara.Camara().on_return(_check(), {"state": "c.s", "error": error, "iss": "https://op.example"})

    assert (outcome.status, outcome.reason, outcome.raw_code) == (Status.FAILED, reason, f"authorize:{error}")


def test_an_authorization_response_from_another_issuer_fails_before_anything_else():
    outcome = camara.Camara().on_return(_check(), {"state": "c.s", "code": "x", "iss": "https://evil.example"})

    assert (outcome.reason, outcome.raw_code) == (Reason.REDIRECT_FAILED, "authorize:iss_mismatch")


def test_a_missing_iss_fails_when_the_issuer_promised_to_send_it():
    outcome = camara.Camara().on_return(_check(iss_required="true"), {"state": "c.s", "code": "x"})

    assert (outcome.reason, outcome.raw_code) == (Reason.REDIRECT_FAILED, "authorize:iss_missing")


def test_a_return_without_code_fails_as_redirect_failed():
    outcome = camara.Camara().on_return(_check(), {"state": "c.s"})

    assert (outcome.reason, outcome.raw_code) == (Reason.REDIRECT_FAILED, "authorize:missing_code")


def test_a_return_for_a_ciba_check_is_refused():
    outcome = camara.Camara().on_return(_check(flow="ciba"), {"state": "c.s", "code": "x"})

    assert outcome.reason is Reason.REDIRECT_FAILED
