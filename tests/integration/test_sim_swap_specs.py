"""The SIM-swap simulators against their providers' published definitions: CAMARA SIM Swap v2.1.0 (the
YAML and the two .feature files of CAMARA's test definitions, in tests/specs/) and tru.ID SubscriberCheck
v0.2 / SIMCheck v0.1 (tests/specs/truid/). Requests silentcheck sent and the simulators' answers are
validated against the YAML; each CAMARA scenario that applies to an API consumer has a test, named with
`@scenario`, and the first tests hold that record against the feature files."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from sandbox import stack as stacks
from sandbox.device import Phone, bound_session
from tests.integration.conftest import App, completion_code
from tests.integration.test_camara_test_definitions import CORRELATOR, access_token, feature_tags
from tests.integration.test_sim_swap import checked
from tests.integration.test_truid_callbacks import callbacks
from tests.sandbox.test_truid import Spec

SPECS = Path(__file__).resolve().parents[1] / "specs"
OPENAPI = SPECS / "camara-sim-swap-v2.1.0.yaml"
FEATURES = {"check": SPECS / "camara-sim-swap-checkSimSwap-v2.1.0.feature",
            "retrieve": SPECS / "camara-sim-swap-retrieveSimSwapDate-v2.1.0.feature"}
# Scenarios that do not apply to this operator, and why (the feature files say when they apply).
NOT_APPLICABLE = {
    ("retrieve", "retrieve_sim_swap_date_3_no_sim_swap_returns_activation_date"):
        "the simulated operator limits its monitoring history (scenario 5 applies instead)",
    ("retrieve", "retrieve_sim_swap_date_4_sim_never_associated"):
        "the simulated operator answers a number no SIM ever held with 404 IDENTIFIER_NOT_FOUND (C02.02)",
}
SIM_SWAP_SCOPE = "openid dpv:FraudPreventionAndDetection sim-swap"
LINE = "+447700900311"  # a line of the simulated network, whose SIM history each test sets
UNKNOWN_LINE = "+447700900399"  # no SIM ever held it

REGISTERED: set[tuple[str, str]] = set()
T = TypeVar("T", bound=Callable[..., Any])


def scenario(feature: str, *ids: str) -> Callable[[T], T]:
    def register(test: T) -> T:
        REGISTERED.update((feature, i) for i in ids)
        return test
    return register


# -- the YAML (OpenAPI 3.0: `nullable` becomes a JSON Schema type union) -------------------------------------

def _json_schema(node: Any) -> Any:
    if isinstance(node, dict):
        converted = {k: _json_schema(v) for k, v in node.items() if k != "nullable"}
        if node.get("nullable") is True and isinstance(node.get("type"), str):
            converted["type"] = [node["type"], "null"]
        return converted
    if isinstance(node, list):
        return [_json_schema(v) for v in node]
    return node


@functools.cache
def openapi() -> dict[str, Any]:
    document: dict[str, Any] = _json_schema(yaml.safe_load(OPENAPI.read_text(encoding="utf-8")))
    return document


def violations(pointer: str, instance: Any) -> list[str]:
    uri = "urn:camara:sim-swap:v2.1.0"
    registry: Registry[Any] = Registry().with_resource(uri, DRAFT202012.create_resource(openapi()))
    validator = Draft202012Validator({"$ref": f"{uri}#{pointer}"}, registry=registry,
                                     format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [error.message for error in validator.iter_errors(instance)]


def response_schema(operation: str, status: int) -> str:
    if status == 200:
        return f"/paths/~1{operation}/post/responses/200/content/application~1json/schema"
    return f"/components/responses/Generic{status}/content/application~1json/schema"


def request_schema(operation: str) -> str:
    return f"/paths/~1{operation}/post/requestBody/content/application~1json/schema"


# -- calling the simulated aggregator's SIM Swap API ---------------------------------------------------------

@pytest.fixture
def operator_limit(app: App) -> Iterator[Callable[[int], None]]:
    api = app.stack.camara_simulator.sim_swap
    original = api.operator_max_age_hours

    def limit(hours: int) -> None:
        api.operator_max_age_hours = hours
    yield limit
    api.operator_max_age_hours = original


def line(app: App, changed_hours_ago: float | None, number: str = LINE) -> str:
    Phone.join(app.stack.network.base_url, number, sim_changed_hours_ago=changed_hours_ago)
    return number


def token(app: App, msisdn: str | None = LINE, scope: str = SIM_SWAP_SCOPE, **grant: Any) -> str:
    return access_token(app, scope=scope, msisdn=msisdn, **grant)


def call(app: App, operation: str, body: Any, bearer: str | None, correlator: str = CORRELATOR) -> requests.Response:
    headers = {"Content-Type": "application/json", "x-correlator": correlator}
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    url = f"{app.stack.camara.base_url}/sim-swap/v2/{operation}"
    response = requests.post(url, data=json.dumps(body).encode(), headers=headers, timeout=5)
    assert violations(request_schema(operation), body) == [] or response.status_code == 400
    schema = response_schema(operation, response.status_code)
    assert violations(schema, response.json()) == [], response.text  # every answer per the YAML
    return response


def check(app: App, body: Any, bearer: str | None = None) -> requests.Response:
    return call(app, "check", body, token(app) if bearer is None else bearer)


def assert_error(response: requests.Response, status: int, code: str) -> None:
    body = response.json()
    assert (response.status_code, body["status"], body["code"]) == (status, status, code), response.text
    assert body["message"].strip()


# == the record against the feature files ====================================================================

@pytest.mark.parametrize("feature", sorted(FEATURES))
def test_every_scenario_of_the_feature_file_has_a_test_or_a_reason_it_does_not_apply(feature: str):
    tags = feature_tags(FEATURES[feature])

    assert tags
    assert tags == {i for f, i in REGISTERED | set(NOT_APPLICABLE) if f == feature}
    assert not {i for f, i in REGISTERED if f == feature} & {i for f, i in NOT_APPLICABLE if f == feature}


# == checkSimSwap ===========================================================================================

@scenario("check", "check_sim_swap_1_generic_success_scenario")
def test_check_success_is_json_with_the_x_correlator_echoed_and_a_schema_valid_body(app: App):
    line(app, None)

    response = check(app, {"maxAge": 120})

    assert (response.status_code, response.headers["Content-Type"]) == (200, "application/json")
    assert response.headers["x-correlator"] == CORRELATOR


@scenario("check", "check_sim_swap_2_valid_sim_swap_no_max_age")
def test_a_swap_within_the_default_240_hours_is_swapped(app: App):
    line(app, 200)

    assert check(app, {}).json() == {"swapped": True}


@scenario("check", "check_sim_swap_3_valid_sim_swap_max_age")
@pytest.mark.parametrize("hours", [260, 120, 24, 12])
def test_a_swap_within_max_age_is_swapped(app: App, hours: int):
    line(app, hours - 0.5)

    assert check(app, {"maxAge": hours}).json() == {"swapped": True}


@scenario("check", "check_sim_swap_4_more_than_240_hours")
def test_a_swap_more_than_240_hours_ago_is_not_swapped_by_default(app: App):
    line(app, 241)

    assert check(app, {}).json() == {"swapped": False}


@scenario("check", "check_sim_swap_5_out_of_max_age")
def test_a_swap_one_hour_before_max_age_is_not_swapped(app: App):
    line(app, 50)

    assert check(app, {"maxAge": 49}).json() == {"swapped": False}


@scenario("check", "check_sim_swap_6_no_sim_swap_no_max_age", "check_sim_swap_7_no_sim_swap_with_max_age")
@pytest.mark.parametrize("body", [{}, {"maxAge": 260}, {"maxAge": 12}])
def test_a_line_that_never_changed_sim_is_not_swapped(app: App, body: dict[str, Any]):
    line(app, None)

    assert check(app, body).json() == {"swapped": False}


@scenario("check", "check_sim_swap_401.1_no_authorization_header")
def test_check_without_an_authorization_header_is_401(app: App):
    assert_error(call(app, "check", {"maxAge": 24}, None), 401, "UNAUTHENTICATED")


@scenario("check", "check_sim_swap_401.2_expired_access_token")
def test_check_with_an_expired_token_is_401(app: App):
    assert_error(check(app, {"maxAge": 24}, token(app, expires_in=-1)), 401, "UNAUTHENTICATED")


@scenario("check", "check_sim_swap_401.3_invalid_access_token")
def test_check_with_a_token_the_aggregator_never_issued_is_401(app: App):
    assert_error(check(app, {"maxAge": 24}, "not-a-token-this-aggregator-issued"), 401, "UNAUTHENTICATED")


def test_check_with_a_token_without_a_sim_swap_scope_is_403(app: App):
    bearer = token(app, scope="openid dpv:FraudPreventionAndDetection sim-swap:retrieve-date")

    assert_error(check(app, {"maxAge": 24}, bearer), 403, "PERMISSION_DENIED")


@scenario("check", "check_sim_swap_400.1_invalid_max_age")
@pytest.mark.parametrize("max_age", ["24", 24.5, None, True])
def test_a_max_age_outside_the_schema_is_400_invalid_argument(app: App, max_age: Any):
    assert violations(request_schema("check"), {"maxAge": max_age})

    assert_error(check(app, {"maxAge": max_age}), 400, "INVALID_ARGUMENT")


@scenario("check", "check_sim_swap_400.2_invalid_max_age_value")
@pytest.mark.parametrize("max_age", [100000, 2401, 0])
def test_a_max_age_beyond_1_to_2400_is_400_out_of_range(app: App, max_age: int):
    assert_error(check(app, {"maxAge": max_age}), 400, "OUT_OF_RANGE")


@scenario("check", "check_sim_swap_400.3_max_age_out_of_monitored_period")
def test_a_max_age_beyond_the_operators_limit_is_400_out_of_range(app: App, operator_limit: Callable[[int], None]):
    operator_limit(720)
    line(app, None)

    assert_error(check(app, {"maxAge": 721}), 400, "OUT_OF_RANGE")
    assert check(app, {"maxAge": 720}).status_code == 200


@scenario("check", "check_sim_swap_C02.01_phone_number_not_schema_compliant")
def test_check_with_a_phone_number_outside_the_schema_is_400(app: App):
    assert_error(check(app, {"phoneNumber": "00447700900311"}, token(app, msisdn=None)), 400, "INVALID_ARGUMENT")


@scenario("check", "check_sim_swap_C02.02_phone_number_not_found")
def test_check_of_a_number_no_sim_ever_held_is_404_identifier_not_found(app: App):
    assert_error(check(app, {"phoneNumber": UNKNOWN_LINE}, token(app, msisdn=None)), 404, "IDENTIFIER_NOT_FOUND")


@scenario("check", "check_sim_swap_C02.03_unnecessary_phone_number")
def test_check_with_a_phone_number_and_a_three_legged_token_is_422_unnecessary_identifier(app: App):
    assert_error(check(app, {"phoneNumber": line(app, None)}), 422, "UNNECESSARY_IDENTIFIER")


@scenario("check", "check_sim_swap_C02.04_missing_phone_number")
def test_check_without_a_phone_number_and_a_two_legged_token_is_422_missing_identifier(app: App):
    assert_error(check(app, {"maxAge": 24}, token(app, msisdn=None)), 422, "MISSING_IDENTIFIER")


def test_check_with_a_two_legged_token_answers_for_the_phone_number_in_the_body(app: App):
    line(app, 2)

    assert check(app, {"phoneNumber": LINE, "maxAge": 24}, token(app, msisdn=None)).json() == {"swapped": True}


@scenario("check", "check_sim_swap_C02.05_phone_number_not_supported")
def test_check_of_a_line_the_operator_does_not_offer_sim_swap_for_is_422_service_not_applicable(app: App):
    number = line(app, None, "+447700900396")

    assert_error(check(app, {"maxAge": 24}, token(app, msisdn=number)), 422, "SERVICE_NOT_APPLICABLE")


def test_a_token_is_spent_by_one_sim_swap_call(app: App):
    line(app, None)
    bearer = token(app)

    assert check(app, {"maxAge": 24}, bearer).status_code == 200
    assert_error(check(app, {"maxAge": 24}, bearer), 401, "UNAUTHENTICATED")


# == retrieveSimSwapDate ====================================================================================

def retrieve(app: App, body: Any, bearer: str | None = None) -> requests.Response:
    return call(app, "retrieve-date", body, token(app) if bearer is None else bearer)


@scenario("retrieve", "retrieve_sim_swap_date_1_generic_success_scenario", "retrieve_sim_swap_date_2_valid_sim_swap")
def test_retrieve_date_of_a_swapped_line_is_the_swap_time(app: App):
    line(app, 5)

    response = retrieve(app, {})

    assert (response.status_code, response.headers["x-correlator"]) == (200, CORRELATOR)
    assert isinstance(response.json()["latestSimChange"], str)  # date-time, checked against the YAML by call()


@scenario("retrieve", "retrieve_sim_swap_date_5_no_sim_swap_or_activation_date_due_to_legal_constrain")
@pytest.mark.parametrize("changed_hours_ago", [None, 121 * 24])
def test_retrieve_date_beyond_the_monitored_period_is_null_with_the_period(app: App, changed_hours_ago: float | None):
    line(app, changed_hours_ago)

    assert retrieve(app, {}).json() == {"latestSimChange": None, "monitoredPeriod": 120}


@scenario("retrieve", "retrieve_sim_swap_date_401.1_no_authorization_header")
def test_retrieve_without_an_authorization_header_is_401(app: App):
    assert_error(call(app, "retrieve-date", {}, None), 401, "UNAUTHENTICATED")


@scenario("retrieve", "retrieve_sim_swap_date_401.2_expired_access_token")
def test_retrieve_with_an_expired_token_is_401(app: App):
    assert_error(retrieve(app, {}, token(app, expires_in=-1)), 401, "UNAUTHENTICATED")


@scenario("retrieve", "retrieve_sim_swap_date_401.3_invalid_access_token")
def test_retrieve_with_a_token_the_aggregator_never_issued_is_401(app: App):
    assert_error(retrieve(app, {}, "not-a-token-this-aggregator-issued"), 401, "UNAUTHENTICATED")


@scenario("retrieve", "retrieve_sim_swap_date_C02.01_phone_number_not_schema_compliant")
def test_retrieve_with_a_phone_number_outside_the_schema_is_400(app: App):
    assert_error(retrieve(app, {"phoneNumber": "447700900311"}, token(app, msisdn=None)), 400, "INVALID_ARGUMENT")


@scenario("retrieve", "retrieve_sim_swap_date_C02.02_phone_number_not_found")
def test_retrieve_of_a_number_no_sim_ever_held_is_404(app: App):
    assert_error(retrieve(app, {"phoneNumber": UNKNOWN_LINE}, token(app, msisdn=None)), 404, "IDENTIFIER_NOT_FOUND")


@scenario("retrieve", "retrieve_sim_swap_date_C02.03_unnecessary_phone_number")
def test_retrieve_with_a_phone_number_and_a_three_legged_token_is_422(app: App):
    assert_error(retrieve(app, {"phoneNumber": line(app, None)}), 422, "UNNECESSARY_IDENTIFIER")


@scenario("retrieve", "retrieve_sim_swap_date_C02.04_missing_phone_number")
def test_retrieve_without_a_phone_number_and_a_two_legged_token_is_422(app: App):
    assert_error(retrieve(app, {}, token(app, msisdn=None)), 422, "MISSING_IDENTIFIER")


@scenario("retrieve", "retrieve_sim_swap_date_C02.05_phone_number_not_supported")
def test_retrieve_of_a_line_without_sim_swap_service_is_422(app: App):
    number = line(app, None, "+447700900396")

    assert_error(retrieve(app, {}, token(app, msisdn=number)), 422, "SERVICE_NOT_APPLICABLE")


# == what silentcheck sends to the aggregator ================================================================

@scenario("check", "check_sim_swap_1_generic_success_scenario")
def test_the_sim_swap_request_silentcheck_sends_conforms_to_the_yaml(app: App):
    checked(app, "+34600000012", 24, "camara", changed_hours_ago=12)

    (sent,) = app.camara_requests("/sim-swap/v2/check")
    assert violations(request_schema("check"), json.loads(sent["body"])) == []
    assert violations("/components/schemas/XCorrelator", sent["headers"]["X-Correlator"]) == []
    assert sent["headers"]["Content-Type"].split(";")[0] == "application/json"


# == tru.ID SubscriberCheck v0.2 and SIMCheck v0.1 against tru.ID's YAML =====================================

SUBSCRIBER_MODELS = "models/subscriber_check/SubscriberCheckResourceModels.v0.2.yaml"
SIM_CHECK_MODELS = "models/sim_check/SimCheckResourceModels.v1.yaml"


@pytest.fixture(scope="module")
def truid_spec() -> Spec:
    return Spec(SPECS / "truid" / "specs")


def truid_bearer(app: App, scope: str) -> dict[str, str]:
    client_id, secret = "sandbox-live-client", stacks.TRUID_PROJECTS["sandbox-live-client"][0]
    issued = requests.post(f"{app.stack.truid.base_url}/oauth2/v1/token", auth=(client_id, secret), timeout=5,
                           data={"grant_type": "client_credentials", "scope": scope})
    assert issued.status_code == 200, issued.text
    return {"Authorization": f"Bearer {issued.json()['access_token']}"}


def test_the_subscriber_check_silentcheck_creates_conforms_to_the_create_payload(app: App, truid_spec: Spec):
    checked(app, "+447400900002", 24, "truid", changed_hours_ago=12)

    (create,) = [r for r in app.truid_requests() if r["method"] == "POST" and r["path"].endswith("/checks")]
    truid_spec.validate(json.loads(create["body"]), SUBSCRIBER_MODELS,
                        "/components/schemas/SubscriberCheckCreatePayload")


def test_a_subscriber_check_answers_per_the_published_schemas_from_create_to_patch(app: App, truid_spec: Spec):
    number = "+447400900002"
    phone = Phone.join(app.stack.network.base_url, number, sim_changed_hours_ago=12)
    headers = truid_bearer(app, "subscriber_check")
    base = f"{app.stack.truid.base_url}/subscriber_check/v0.2/checks"
    created = requests.post(base, json={"phone_number": number, "period": 1440, "redirect_url": "http://127.0.0.1:9/x"},
                            headers=headers, timeout=5)
    truid_spec.validate(created.json(), SUBSCRIBER_MODELS, "/components/schemas/SubscriberCheckCreateResponse")
    url = created.json()["_links"]["check_url"]["href"]
    with bound_session(phone.ip) as cellular:
        while "code=" not in url:
            url = cellular.get(url, allow_redirects=False, timeout=5).headers["Location"]
    code = dict(p.split("=", 1) for p in url.split("?", 1)[1].split("&"))["code"]

    patched = requests.patch(f"{base}/{created.json()['check_id']}", headers={
        **headers, "Content-Type": "application/json-patch+json"}, timeout=5,
        data=json.dumps([{"op": "add", "path": "/code", "value": code}]))
    read = requests.get(f"{base}/{created.json()['check_id']}", headers=headers, timeout=5)

    truid_spec.validate(patched.json(), SUBSCRIBER_MODELS, "/components/schemas/SubscriberCheckPatchPartial")
    truid_spec.validate(read.json(), SUBSCRIBER_MODELS, "/components/schemas/SubscriberCheck")
    assert (patched.json()["match"], patched.json()["no_sim_change"], patched.json()["sim_change_within"]) == (
        True, False, 1440)  # 12 h and some seconds ago: the 12h01m-24h window
    assert read.json()["no_sim_change_period"] == 1440


@pytest.mark.parametrize(("changed_hours_ago", "no_sim_change"), [(None, True), (2, False), (30, True)])
def test_a_sim_check_answers_per_the_published_schema(app: App, truid_spec: Spec, changed_hours_ago: float | None,
                                                      no_sim_change: bool):
    number = line(app, changed_hours_ago)
    headers = truid_bearer(app, "sim_check")

    created = requests.post(f"{app.stack.truid.base_url}/sim_check/v0.1/checks",
                            json={"phone_number": number, "period": 1440}, headers=headers, timeout=5)
    read = requests.get(created.json()["_links"]["self"]["href"], headers=headers, timeout=5)

    assert created.status_code == 201, created.text
    truid_spec.validate({k: v for k, v in created.json().items() if k != "snapshot_balance"}, SIM_CHECK_MODELS,
                        "/components/schemas/SimCheck")
    truid_spec.validate(read.json(), SIM_CHECK_MODELS, "/components/schemas/SimCheck")
    assert (read.json()["status"], read.json()["no_sim_change"]) == ("COMPLETED", no_sim_change)


@pytest.mark.parametrize("period", [59, 540_001, "1440", 1440.5])
def test_a_subscriber_check_period_outside_60_to_540000_minutes_is_400(app: App, period: Any):
    response = requests.post(f"{app.stack.truid.base_url}/subscriber_check/v0.2/checks",
                             json={"phone_number": "+447400900002", "period": period},
                             headers=truid_bearer(app, "subscriber_check"), timeout=5)

    assert response.status_code == 400
    assert response.json()["type"].endswith("#bad_request")


def test_a_subscriber_check_calls_back_as_subscriber_check_per_the_published_payload(app: App, truid_spec: Spec):
    number = "+447400900002"
    response = app.start(number, provider="truid", sim_swap={"max_age_hours": 24})
    check = response.json()
    phone = Phone.join(app.stack.network.base_url, number, sim_changed_hours_ago=12)
    app.poll(check, completion_code(phone.open(check["check_url"])))

    (attempt, *_) = callbacks(app, check)

    assert attempt["headers"]["x-tru-callback"] == "subscriber_check"
    payload = json.loads(attempt["body"])
    truid_spec.validate(payload, SUBSCRIBER_MODELS, "/components/schemas/SubscriberCheckCallbackPayload")
    assert (payload["match"], payload["no_sim_change"], payload["no_sim_change_period"]) == (True, False, 1440)
    assert attempt["status_code"] == 200  # silentcheck took it (and read the check back)


@scenario("check", "check_sim_swap_400.3_max_age_out_of_monitored_period")
def test_an_operator_limit_silentcheck_was_not_told_of_leaves_a_verified_check_without_a_sim_answer(
        app: App, operator_limit: Callable[[int], None]):
    operator_limit(720)  # the deployment's camara section says nothing of it

    view = checked(app, "+34600000012", 1000, "camara", changed_hours_ago=12)

    assert view["status"] == "VERIFIED"
    assert view["sim_swap"] == {"max_age_hours": 1000, "swapped": None, "reason": "SIM_SWAP_UNAVAILABLE"}
    (call,) = app.camara_requests("/sim-swap/v2/check")
    assert json.loads(call["body"]) == {"maxAge": 1000}
