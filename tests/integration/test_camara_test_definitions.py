"""CAMARA's own test definitions for Number Verification, scenario by scenario: the r3.2 .feature files,
the r1.3 scenarios and Telefónica's mock rules (all in tests/specs/).

Each scenario is exercised at the level it speaks about. Directly against the simulated aggregator's NV API
with hand-made tokens, bodies validated against the r3.2 OpenAPI schemas: the simulator our adapter is
tested against keeps the provider's contract. Through silentcheck's API (start, the phone opens check_url,
poll with the completion code) for the outcomes: what a check reports when the aggregator answers that way.
`@scenario(source, id, ...)` records which scenarios a test covers; the first tests hold that record
against the feature files and the reference's lists.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from sandbox import stack as stacks
from tests.integration.conftest import App, completion_code
from tests.integration.test_camara_auth_code import NUMBER, OTHER_SIM, start

# -- the reference --------------------------------------------------------------------------------------

SPECS = Path(__file__).resolve().parents[1] / "specs"  # as published; tests/specs/README.md says where from
FEATURE_FILES = {
    "verify": SPECS / "camara-number-verification-verify-r3.2.feature",
    "share": SPECS / "camara-number-verification-share-r3.2.feature",
}
OPENAPI = SPECS / "camara-number-verification-r3.2.yaml"
DIGEST = SPECS / "camara-number-verification-test-definitions.md"

# No feature file holds these: the test-definitions digest in tests/specs/ lists them.
R13_SCENARIOS = frozenset({
    "verify0", "verify100", "verify300", "verify101", "verify301", "verify200", "verify201", "verify202",
    "verify203", "verify204", "verify205", "share100", "share201", "share202", "share203", "share205",
})
R13_VERIFY0_NUMBERS = ["string_value", "1234567890", "+12334foo22222", "+00012230304913849", "123", "++49565456787"]
TELEFONICA_MOCK_RULES = frozenset({"last_digit_1_true", "last_digit_2_false"})
LISTED_SCENARIOS = {"r1.3": R13_SCENARIOS, "telefonica-mock": TELEFONICA_MOCK_RULES}

REGISTERED: set[tuple[str, str]] = set()
T = TypeVar("T", bound=Callable[..., Any])


def scenario(source: str, *scenario_ids: str) -> Callable[[T], T]:
    """Marks a test as covering `scenario_ids` of `source` (a feature file key, "r1.3" or "telefonica-mock")."""
    if source not in FEATURE_FILES and source not in LISTED_SCENARIOS:
        raise ValueError(f"unknown scenario source {source!r}")

    def register(test: T) -> T:
        REGISTERED.update((source, scenario_id) for scenario_id in scenario_ids)
        return test

    return register


def registered(source: str) -> set[str]:
    return {scenario_id for registered_source, scenario_id in REGISTERED if registered_source == source}


def feature_tags(path: Path) -> set[str]:
    """The scenario tags (`@name`) of a Gherkin file."""
    return {token[1:] for line in path.read_text(encoding="utf-8").splitlines() if line.strip().startswith("@")
            for token in line.split() if token.startswith("@")}


def digest_section_7() -> str:
    text = DIGEST.read_text(encoding="utf-8")
    return text[text.index("## 7. Test definitions"):]


# -- the r3.2 OpenAPI schemas ---------------------------------------------------------------------------

SPEC_URI = "urn:camara:number-verification:r3.2"
REQUEST_BODY = "/paths/~1verify/post/requestBody/content/application~1json/schema"
MATCH_RESPONSE = "/components/schemas/NumberVerificationMatchResponse"
SHARE_RESPONSE = "/components/schemas/NumberVerificationShareResponse"
X_CORRELATOR = "/components/schemas/XCorrelator"
ERROR_RESPONSES = {
    400: "/components/responses/Generic400/content/application~1json/schema",
    401: "/components/responses/Generic401/content/application~1json/schema",
    403: "/components/responses/PhoneNumberVerificationPermissionDenied403/content/application~1json/schema",
}


@functools.cache
def openapi() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
    return document


def schema_violations(pointer: str, instance: Any) -> list[str]:
    """What is wrong with `instance` under the schema at `pointer` of the r3.2 document ($refs resolved)."""
    registry: Registry[Any] = Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(openapi()))
    validator = Draft202012Validator({"$ref": f"{SPEC_URI}#{pointer}"}, registry=registry)
    return [error.message for error in validator.iter_errors(instance)]


# -- the NV API of the simulated aggregator, called directly ---------------------------------------------

LIVE_CLIENT, MOCK_CLIENT = "sandbox-camara-client", "mock_sandbox_app_id"
VERIFY_SCOPE = stacks.CAMARA_SCOPE
SHARE_SCOPE = "openid dpv:FraudPreventionAndDetection number-verification:device-phone-number:read"
CORRELATOR = "silentcheck:ctd/{b4333c46-49c0-4f62-80d7-f0ef930f1c46};run<1>.x_y"  # uses the r3.2 pattern's extras
NOT_BY_NETWORK = "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK"
NO_BODY = object()


def access_token(app: App, scope: str = VERIFY_SCOPE, msisdn: str | None = NUMBER, client_id: str = LIVE_CLIENT,
                 **grant: Any) -> str:
    """A token the aggregator issued, made to order: `amr` (default network-based), `expires_in`."""
    response = requests.post(f"{app.stack.camara.base_url}/_sandbox/access-tokens",
                             json={"client_id": client_id, "scope": scope, "msisdn": msisdn, **grant}, timeout=5)
    assert response.status_code == 201, response.text
    token: str = response.json()["access_token"]
    return token


def nv_url(app: App, operation: str) -> str:
    return f"{app.stack.camara.base_url}/number-verification/{stacks.CAMARA_API_VERSION}/{operation}"


def nv_headers(token: str | None, correlator: str) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "x-correlator": correlator}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def post_verify(app: App, body: Any = NO_BODY, token: str | None = None, correlator: str = CORRELATOR
                ) -> requests.Response:
    data = b"" if body is NO_BODY else json.dumps(body).encode()
    return requests.post(nv_url(app, "verify"), data=data, headers=nv_headers(token, correlator), timeout=5)


def get_share(app: App, token: str | None = None, correlator: str = CORRELATOR) -> requests.Response:
    return requests.get(nv_url(app, "device-phone-number"), headers=nv_headers(token, correlator), timeout=5)


def sha256_hex(e164: str) -> str:
    return hashlib.sha256(e164.encode()).hexdigest()


def assert_error_info(response: requests.Response, status: int, code: str) -> None:
    """The scenario's status and code, a user-friendly message, and the r3.2 ErrorInfo schema for that status."""
    body = response.json()
    assert (response.status_code, body.get("status"), body.get("code")) == (status, status, code), response.text
    assert isinstance(body["message"], str) and body["message"].strip()
    assert schema_violations(ERROR_RESPONSES[status], body) == []


# -- through silentcheck --------------------------------------------------------------------------------

def check_on_phone(app: App, number: str = NUMBER, sim: str = NUMBER, bearer: str = "cellular") -> tuple[str, Any]:
    """(status, reason) silentcheck reports for a CAMARA check of `number` opened on the phone holding `sim`."""
    check = start(app, number)
    opened = app.phone(sim, bearer).open(check["check_url"])
    view = app.poll(check, completion_code(opened)).json()
    return view["status"], view.get("reason")


def configure_share(app: App, **options: Any) -> None:
    app.stack.configure_camara(**{"operation": "device_phone_number", "scope": SHARE_SCOPE, **options})


# == the record against the reference ===================================================================

@pytest.mark.parametrize("feature", sorted(FEATURE_FILES))
def test_every_scenario_of_the_r3_2_feature_file_has_a_test(feature: str):
    tags = feature_tags(FEATURE_FILES[feature])  # a missing file fails here

    assert tags, f"no scenario tags found in {FEATURE_FILES[feature]}"
    assert tags == registered(feature)


@pytest.mark.parametrize("source", sorted(LISTED_SCENARIOS))
def test_every_scenario_the_reference_lists_beyond_the_feature_files_has_a_test(source: str):
    assert registered(source) == LISTED_SCENARIOS[source]


def test_the_hard_coded_r1_3_scenarios_and_fixtures_are_those_of_the_reference():
    section = digest_section_7()

    assert set(re.findall(r"`((?:verify|share)\d+)`", section)) == R13_SCENARIOS
    assert all(f"`{number}`" in section for number in R13_VERIFY0_NUMBERS)


def test_the_x_correlator_these_tests_send_complies_with_the_r3_2_schema():
    assert schema_violations(X_CORRELATOR, CORRELATOR) == []


# == phoneNumberVerify against the aggregator ============================================================

@scenario("verify", "phone_number_verify_01_generic_success_scenario")
def test_verify_success_is_json_with_the_x_correlator_echoed_and_a_match_response_body(app: App):
    response = post_verify(app, {"phoneNumber": NUMBER}, access_token(app))

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["x-correlator"] == CORRELATOR
    assert schema_violations(MATCH_RESPONSE, response.json()) == []


@scenario("verify", "phone_number_verify.02_validate_phone_number_success_true")
@scenario("r1.3", "verify100")
def test_verify_of_the_tokens_own_number_is_true(app: App):
    response = post_verify(app, {"phoneNumber": NUMBER}, access_token(app, msisdn=NUMBER))

    assert response.json() == {"devicePhoneNumberVerified": True}


@scenario("verify", "phone_number_verify.03_validate_phone_number_success_false")
@scenario("r1.3", "verify101")
def test_verify_of_another_valid_number_is_false(app: App):
    response = post_verify(app, {"phoneNumber": OTHER_SIM}, access_token(app, msisdn=NUMBER))

    assert response.json() == {"devicePhoneNumberVerified": False}


@scenario("verify", "phone_number_verify.04_validate_hashed_phone_number_success_true")
@scenario("r1.3", "verify300")
def test_verify_of_the_tokens_own_number_hashed_is_true(app: App):
    response = post_verify(app, {"hashedPhoneNumber": sha256_hex(NUMBER)}, access_token(app, msisdn=NUMBER))

    assert response.json() == {"devicePhoneNumberVerified": True}


@scenario("verify", "phone_number_verify.05_validate_hashed_phone_number_success_false")
@scenario("r1.3", "verify301")
def test_verify_of_another_number_hashed_is_false(app: App):
    response = post_verify(app, {"hashedPhoneNumber": sha256_hex(OTHER_SIM)}, access_token(app, msisdn=NUMBER))

    assert response.json() == {"devicePhoneNumberVerified": False}


@scenario("verify", "phone_number_verify_400.1_no_request_body")
def test_verify_without_a_body_is_400_invalid_argument(app: App):
    response = post_verify(app, NO_BODY, access_token(app))

    assert_error_info(response, 400, "INVALID_ARGUMENT")


@scenario("verify", "phone_number_verify_400.2_empty_request_body")
@scenario("r1.3", "verify200")
def test_verify_with_an_empty_object_is_400_invalid_argument(app: App):
    response = post_verify(app, {}, access_token(app))

    assert_error_info(response, 400, "INVALID_ARGUMENT")


@scenario("verify", "phone_number_verify_400.3_invalid_request_non_existing_property")
def test_verify_with_only_an_unknown_property_is_400_invalid_argument(app: App):
    response = post_verify(app, {"additional_property": "foo_value"}, access_token(app))

    assert_error_info(response, 400, "INVALID_ARGUMENT")


@scenario("verify", "phone_number_verify_400.4_both_phone_number_and_hashed_in_request")
@scenario("r1.3", "verify203")
def test_verify_with_both_phone_number_and_hashed_phone_number_is_400_invalid_argument(app: App):
    body = {"phoneNumber": NUMBER, "hashedPhoneNumber": sha256_hex(NUMBER)}

    response = post_verify(app, body, access_token(app))

    assert_error_info(response, 400, "INVALID_ARGUMENT")


@scenario("verify", "phone_number_verify_401.1_no_authorization_header")
def test_verify_without_an_authorization_header_is_401_unauthenticated(app: App):
    response = post_verify(app, {"phoneNumber": NUMBER}, token=None)

    assert_error_info(response, 401, "UNAUTHENTICATED")


@scenario("verify", "phone_number_verify_401.2_expired_access_token")
@scenario("r1.3", "verify202")
def test_verify_with_an_expired_token_is_401_unauthenticated(app: App):
    response = post_verify(app, {"phoneNumber": NUMBER}, access_token(app, expires_in=-1))

    assert_error_info(response, 401, "UNAUTHENTICATED")


@scenario("verify", "phone_number_verify_401.3_invalid_access_token")
def test_verify_with_a_token_the_aggregator_never_issued_is_401_unauthenticated(app: App):
    response = post_verify(app, {"phoneNumber": NUMBER}, "not-a-token-this-aggregator-issued")

    assert_error_info(response, 401, "UNAUTHENTICATED")


@scenario("verify", "phoneNumberVerify_403.1_invalid_token_permissions")
@scenario("r1.3", "verify201")
def test_verify_with_a_token_lacking_the_verify_scope_is_403_permission_denied(app: App):
    response = post_verify(app, {"phoneNumber": NUMBER}, access_token(app, scope=SHARE_SCOPE))

    assert_error_info(response, 403, "PERMISSION_DENIED")


@scenario("verify", "phoneNumberVerify_403.2_not_authenticated_using_network_or_sim_based_authentication")
@scenario("r1.3", "verify205")
@pytest.mark.parametrize("amr", [["pwd"], ["otp", "sms"]])
def test_verify_with_a_token_not_from_network_or_sim_authentication_is_403_not_authenticated_by_network(
        app: App, amr: list[str]):
    response = post_verify(app, {"phoneNumber": NUMBER}, access_token(app, amr=amr))

    assert_error_info(response, 403, NOT_BY_NETWORK)


@scenario("verify", "phone_number_verify_C02.01_phone_number_not_schema_compliant")
@scenario("r1.3", "verify0")
@pytest.mark.parametrize("number", R13_VERIFY0_NUMBERS)
def test_verify_of_a_phone_number_outside_the_schema_is_400_invalid_argument(app: App, number: str):
    assert schema_violations(REQUEST_BODY, {"phoneNumber": number})  # the fixture is indeed not compliant

    response = post_verify(app, {"phoneNumber": number}, access_token(app, msisdn=None))

    assert_error_info(response, 400, "INVALID_ARGUMENT")


# == phoneNumberShare against the aggregator =============================================================

@scenario("share", "phone_number_share_01_generic_success_scenario")
@scenario("r1.3", "share100")
def test_share_success_is_json_with_the_x_correlator_echoed_and_a_share_response_body(app: App):
    response = get_share(app, access_token(app, scope=SHARE_SCOPE))

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["x-correlator"] == CORRELATOR
    assert schema_violations(SHARE_RESPONSE, response.json()) == []


@scenario("share", "phone_number_share_02_success_scenario")
@scenario("r1.3", "share100")
def test_share_answers_the_number_behind_the_token(app: App):
    response = get_share(app, access_token(app, scope=SHARE_SCOPE, msisdn=NUMBER))

    assert response.json() == {"devicePhoneNumber": NUMBER}


@scenario("share", "phone_number_verify_401.1_no_authorization_header")  # sic: the share file reuses verify's tag
@scenario("r1.3", "share202")
def test_share_without_an_authorization_header_is_401_unauthenticated(app: App):
    response = get_share(app, token=None)

    assert_error_info(response, 401, "UNAUTHENTICATED")


@scenario("share", "phone_number_verify_401.2_expired_access_token")
@scenario("r1.3", "share202")
def test_share_with_an_expired_token_is_401_unauthenticated(app: App):
    response = get_share(app, access_token(app, scope=SHARE_SCOPE, expires_in=-1))

    assert_error_info(response, 401, "UNAUTHENTICATED")


@scenario("share", "phone_number_verify_401.3_invalid_access_token")
@scenario("r1.3", "share202")
def test_share_with_a_token_the_aggregator_never_issued_is_401_unauthenticated(app: App):
    response = get_share(app, "not-a-token-this-aggregator-issued")

    assert_error_info(response, 401, "UNAUTHENTICATED")


@scenario("share", "phoneNumberShare_403.1_invalid_token_permissions")
@scenario("r1.3", "share201")
def test_share_with_a_token_lacking_the_share_scope_is_403_permission_denied(app: App):
    response = get_share(app, access_token(app, scope=VERIFY_SCOPE))

    assert_error_info(response, 403, "PERMISSION_DENIED")


@scenario("share", "phoneNumberShare_403.2_not_authenticated_using_network_or_sim_based_authentication")
@scenario("r1.3", "share205")
@pytest.mark.parametrize("amr", [["pwd"], ["otp", "sms"]])
def test_share_with_a_token_not_from_network_or_sim_authentication_is_403_not_authenticated_by_network(
        app: App, amr: list[str]):
    response = get_share(app, access_token(app, scope=SHARE_SCOPE, amr=amr))

    assert_error_info(response, 403, NOT_BY_NETWORK)


# == the x-correlator beyond the feature files (spec headers; PR #257 after the snapshot) =================

@pytest.mark.parametrize(("call", "status"), [
    (lambda app: post_verify(app, {}, access_token(app)), 400),
    (lambda app: post_verify(app, {"phoneNumber": NUMBER}, token=None), 401),
    (lambda app: get_share(app, access_token(app, scope=VERIFY_SCOPE)), 403),
], ids=["400", "401", "403"])
def test_error_answers_echo_the_x_correlator_too(app: App, call: Callable[[App], requests.Response], status: int):
    response = call(app)

    assert (response.status_code, response.headers.get("x-correlator")) == (status, CORRELATOR)


@pytest.mark.parametrize("correlator", ["has a space", "a" * 257, "comma,separated"])
def test_an_x_correlator_outside_the_pattern_is_400_invalid_argument_and_not_echoed(app: App, correlator: str):
    assert schema_violations(X_CORRELATOR, correlator)

    response = requests.get(nv_url(app, "device-phone-number"), timeout=5, headers={
        "Authorization": f"Bearer {access_token(app, scope=SHARE_SCOPE)}",
        "x-correlator": correlator,
    })

    assert_error_info(response, 400, "INVALID_ARGUMENT")
    assert "x-correlator" not in response.headers


# == Telefónica's mock rules against the aggregator ======================================================

@scenario("telefonica-mock", "last_digit_1_true")
def test_mock_client_verify_of_a_number_ending_in_1_is_true_whatever_line_the_token_has(app: App):
    token = access_token(app, client_id=MOCK_CLIENT, msisdn=OTHER_SIM)

    assert post_verify(app, {"phoneNumber": "+34600000001"}, token).json() == {"devicePhoneNumberVerified": True}


@scenario("telefonica-mock", "last_digit_2_false")
def test_mock_client_verify_of_a_number_ending_in_2_is_false_whatever_line_the_token_has(app: App):
    token = access_token(app, client_id=MOCK_CLIENT, msisdn="+34600000002")

    assert post_verify(app, {"phoneNumber": "+34600000002"}, token).json() == {"devicePhoneNumberVerified": False}


# == what silentcheck sends ===============================================================================

@scenario("verify", "phone_number_verify_01_generic_success_scenario")
@pytest.mark.parametrize("number_format", ["phone_number", "hashed"])
def test_the_verify_body_silentcheck_sends_conforms_to_the_r3_2_request_schema(app: App, number_format: str):
    app.stack.configure_camara(number_format=number_format)

    check_on_phone(app)

    (call,) = app.camara_requests("/verify")
    body = json.loads(call["body"])
    assert call["headers"]["Content-Type"].split(";")[0] == "application/json"
    assert schema_violations(REQUEST_BODY, body) == []
    assert set(body) <= set(openapi()["components"]["schemas"]["NumberVerificationRequestBody"]["properties"])


@scenario("verify", "phone_number_verify_01_generic_success_scenario")
def test_the_x_correlator_silentcheck_sends_to_verify_conforms_to_the_r3_2_pattern(app: App):
    check_on_phone(app)

    (call,) = app.camara_requests("/verify")
    assert schema_violations(X_CORRELATOR, call["headers"]["X-Correlator"]) == []


@scenario("share", "phone_number_share_01_generic_success_scenario")
def test_the_device_phone_number_call_silentcheck_sends_has_no_body_and_a_schema_valid_x_correlator(app: App):
    configure_share(app)

    check_on_phone(app)

    (call,) = app.camara_requests("/device-phone-number")
    assert (call["method"], call["body"]) == ("GET", "")
    assert schema_violations(X_CORRELATOR, call["headers"]["X-Correlator"]) == []


# == verify outcomes through silentcheck ===================================================================

@scenario("verify", "phone_number_verify.02_validate_phone_number_success_true")
@scenario("r1.3", "verify100")
def test_a_check_of_the_number_in_the_phone_is_verified(app: App):
    assert check_on_phone(app, number=NUMBER, sim=NUMBER)[0] == "VERIFIED"


@scenario("verify", "phone_number_verify.03_validate_phone_number_success_false")
@scenario("r1.3", "verify101")
def test_a_check_of_a_number_the_phone_does_not_hold_is_not_verified(app: App):
    assert check_on_phone(app, number=NUMBER, sim=OTHER_SIM)[0] == "NOT_VERIFIED"


@scenario("verify", "phone_number_verify.04_validate_hashed_phone_number_success_true")
@scenario("r1.3", "verify300")
def test_a_hashed_check_of_the_number_in_the_phone_is_verified(app: App):
    app.stack.configure_camara(number_format="hashed")

    assert check_on_phone(app, number=NUMBER, sim=NUMBER)[0] == "VERIFIED"


@scenario("verify", "phone_number_verify.05_validate_hashed_phone_number_success_false")
@scenario("r1.3", "verify301")
def test_a_hashed_check_of_a_number_the_phone_does_not_hold_is_not_verified(app: App):
    app.stack.configure_camara(number_format="hashed")

    assert check_on_phone(app, number=NUMBER, sim=OTHER_SIM)[0] == "NOT_VERIFIED"


@scenario("r1.3", "verify0")
@pytest.mark.parametrize("number", R13_VERIFY0_NUMBERS)
def test_a_number_camara_would_refuse_is_refused_at_start_without_calling_the_aggregator(app: App, number: str):
    response = app.start(number, provider="camara")

    assert (response.status_code, response.json()["code"]) == (400, "INVALID_PHONE_NUMBER")
    assert app.camara_requests() == []


@scenario("verify", "phone_number_verify_401.1_no_authorization_header",
          "phone_number_verify_401.2_expired_access_token", "phone_number_verify_401.3_invalid_access_token")
@scenario("r1.3", "verify202")
def test_verify_answering_401_unauthenticated_fails_the_check_as_provider_rejected(app: App):
    app.camara_fault("verify", status=401, code="UNAUTHENTICATED")

    assert check_on_phone(app) == ("FAILED", "PROVIDER_REJECTED")


@scenario("verify", "phoneNumberVerify_403.1_invalid_token_permissions")
@scenario("r1.3", "verify201")
def test_a_client_configured_without_the_verify_scope_fails_the_check_as_provider_rejected(app: App):
    app.stack.configure_camara(scope=SHARE_SCOPE)  # /verify then answers 403 PERMISSION_DENIED

    assert check_on_phone(app) == ("FAILED", "PROVIDER_REJECTED")
    assert len(app.camara_requests("/verify")) == 1


@scenario("verify", "phoneNumberVerify_403.2_not_authenticated_using_network_or_sim_based_authentication")
@scenario("r1.3", "verify205")
def test_verify_answering_not_authenticated_by_mobile_network_fails_as_user_not_authenticated(app: App):
    app.camara_fault("verify", status=403, code=NOT_BY_NETWORK)

    assert check_on_phone(app) == ("FAILED", "USER_NOT_AUTHENTICATED")


@scenario("r1.3", "verify204")
@pytest.mark.parametrize("code", ["INVALID_TOKEN_CONTEXT", "NUMBER_VERIFICATION.INVALID_TOKEN_CONTEXT"])
def test_verify_answering_invalid_token_context_fails_as_user_not_authenticated(app: App, code: str):
    app.camara_fault("verify", status=403, code=code)

    assert check_on_phone(app) == ("FAILED", "USER_NOT_AUTHENTICATED")


# == share outcomes through silentcheck ====================================================================

@scenario("share", "phone_number_share_02_success_scenario")
@scenario("r1.3", "share100")
def test_a_share_check_of_the_number_in_the_phone_is_verified(app: App):
    configure_share(app)

    assert check_on_phone(app, number=NUMBER, sim=NUMBER)[0] == "VERIFIED"


@scenario("share", "phone_number_share_02_success_scenario")
def test_a_share_check_of_a_number_the_phone_does_not_hold_is_not_verified(app: App):
    configure_share(app)

    assert check_on_phone(app, number=NUMBER, sim=OTHER_SIM)[0] == "NOT_VERIFIED"


@scenario("share", "phone_number_verify_401.1_no_authorization_header",
          "phone_number_verify_401.2_expired_access_token", "phone_number_verify_401.3_invalid_access_token")
@scenario("r1.3", "share202")
def test_device_phone_number_answering_401_unauthenticated_fails_the_check_as_provider_rejected(app: App):
    configure_share(app)
    app.camara_fault("device-phone-number", status=401, code="UNAUTHENTICATED")

    assert check_on_phone(app) == ("FAILED", "PROVIDER_REJECTED")


@scenario("share", "phoneNumberShare_403.1_invalid_token_permissions")
@scenario("r1.3", "share201")
def test_a_share_client_configured_without_the_share_scope_fails_the_check_as_provider_rejected(app: App):
    configure_share(app, scope=VERIFY_SCOPE)  # /device-phone-number then answers 403 PERMISSION_DENIED

    assert check_on_phone(app) == ("FAILED", "PROVIDER_REJECTED")
    assert len(app.camara_requests("/device-phone-number")) == 1


@scenario("share", "phoneNumberShare_403.2_not_authenticated_using_network_or_sim_based_authentication")
@scenario("r1.3", "share205", "share203")
def test_a_mock_share_check_from_a_phone_off_mobile_data_fails_as_user_not_authenticated(app: App):
    configure_share(app, mock=True)  # the mock client still gets a token on Wi-Fi, with no line behind it

    assert check_on_phone(app, bearer="wifi") == ("FAILED", "USER_NOT_AUTHENTICATED")
    assert len(app.camara_requests("/device-phone-number")) == 1


@scenario("r1.3", "share203")
def test_device_phone_number_answering_invalid_token_context_fails_as_user_not_authenticated(app: App):
    configure_share(app)
    app.camara_fault("device-phone-number", status=403, code="INVALID_TOKEN_CONTEXT")

    assert check_on_phone(app) == ("FAILED", "USER_NOT_AUTHENTICATED")


# == Telefónica's mock rules through silentcheck ============================================================

@scenario("telefonica-mock", "last_digit_1_true", "last_digit_2_false")
@pytest.mark.parametrize(("number", "status"), [("+34600000001", "VERIFIED"), ("+34600000002", "NOT_VERIFIED")])
def test_a_mock_client_check_follows_the_last_digit_rule(app: App, number: str, status: str):
    app.stack.configure_camara(mock=True)

    assert check_on_phone(app, number=number, sim=number)[0] == status
