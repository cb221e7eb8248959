"""The transformed template's trust boundaries for results: only poll_result may sign attestations,
POST /checks needs an API key exactly when ClientAuth says so, and no key value is in the template."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest

from tests.template_tools import load_sam_template, transform_offline

SIGNING_FUNCTION = "PollResultFunction"
PARAMETER_SETS = {
    "defaults": {},
    "rotating": {"ActiveSigningKey": "green", "KeepPreviousSigningKey": "true"},
    "app_mode": {"ClientAuth": "none"},
}


@pytest.fixture(scope="module", params=sorted(PARAMETER_SETS))
def resources(request: pytest.FixtureRequest) -> dict[str, Any]:
    transformed = transform_offline(load_sam_template(), PARAMETER_SETS[request.param])
    found: dict[str, Any] = transformed["Resources"]
    return found


def _of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: res for name, res in resources.items() if res["Type"] == kind}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _allows(statement: dict[str, Any], action: str) -> bool:
    return statement.get("Effect") == "Allow" and any(
        fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in _as_list(statement.get("Action", [])))


def _role_of(resources: dict[str, Any], function: str) -> str:
    role: str = resources[function]["Properties"]["Role"]["Fn::GetAtt"][0]
    return role


def _rest_api_body(resources: dict[str, Any]) -> dict[str, Any]:
    (api,) = _of_type(resources, "AWS::ApiGateway::RestApi").values()
    body: dict[str, Any] = api["Properties"]["Body"]
    return body


def test_signing_keys_are_p256_and_only_sign(resources: dict[str, Any]):
    keys = _of_type(resources, "AWS::KMS::Key")

    assert keys
    for key in keys.values():
        assert (key["Properties"]["KeySpec"], key["Properties"]["KeyUsage"]) == ("ECC_NIST_P256", "SIGN_VERIFY")


def test_a_rotation_keeps_two_keys_and_otherwise_there_is_one():
    for name, expected in (("defaults", 1), ("rotating", 2)):
        transformed = transform_offline(load_sam_template(), PARAMETER_SETS[name])
        assert len(_of_type(transformed["Resources"], "AWS::KMS::Key")) == expected, name


def test_only_poll_results_role_may_sign_in_the_key_policies(resources: dict[str, Any]):
    signing_role = _role_of(resources, SIGNING_FUNCTION)
    for name, key in _of_type(resources, "AWS::KMS::Key").items():
        signers = [statement["Principal"] for statement in key["Properties"]["KeyPolicy"]["Statement"]
                   if _allows(statement, "kms:Sign")]
        assert signers == [{"AWS": {"Fn::GetAtt": [signing_role, "Arn"]}}], name


def test_no_iam_policy_grants_kms_sign(resources: dict[str, Any]):
    for name, role in _of_type(resources, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies") or []:
            for statement in _as_list(policy["PolicyDocument"]["Statement"]):
                assert not _allows(statement, "kms:Sign"), (name, statement)
        assert not [arn for arn in role["Properties"].get("ManagedPolicyArns") or [] if "KMS" in str(arn)], name


def test_only_the_signing_function_is_told_the_signing_key(resources: dict[str, Any]):
    told = [name for name, fn in _of_type(resources, "AWS::Lambda::Function").items()
            if "SIGNING_KEY_ID" in ((fn["Properties"].get("Environment") or {}).get("Variables") or {})]

    assert told == [SIGNING_FUNCTION]


def test_the_jwks_route_is_served_by_the_signing_function():
    source = load_sam_template()["Resources"][SIGNING_FUNCTION]["Properties"]["Events"]
    routes = {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in source.values()}

    assert ("GET", "/.well-known/jwks.json") in routes


@pytest.mark.parametrize(("client_auth", "required"), [("api_key", True), ("none", False)])
def test_post_checks_needs_an_api_key_exactly_when_client_auth_is_api_key(client_auth: str, required: bool):
    transformed = transform_offline(load_sam_template(), {"ClientAuth": client_auth})
    paths = _rest_api_body(transformed["Resources"])["paths"]

    def keyed(path: str, method: str) -> bool:
        return any("api_key" in scheme for scheme in paths[path][method].get("security") or [])

    assert keyed("/checks", "post") is required
    assert not keyed("/checks", "options")
    assert not keyed("/checks/{check_id}", "get")
    assert not keyed("/.well-known/jwks.json", "get")


@pytest.mark.parametrize(("client_auth", "plans"), [("api_key", 1), ("none", 0)])
def test_a_usage_plan_with_throttle_and_quota_exists_only_for_api_keys(client_auth: str, plans: int):
    transformed = transform_offline(load_sam_template(), {"ClientAuth": client_auth})
    found = _of_type(transformed["Resources"], "AWS::ApiGateway::UsagePlan")

    assert len(found) == plans
    for plan in found.values():
        assert plan["Properties"]["Throttle"]["RateLimit"] and plan["Properties"]["Quota"]["Period"] == "DAY"
        (stage,) = plan["Properties"]["ApiStages"]
        assert stage["ApiId"] == {"Ref": "Api"}


def test_no_api_key_value_is_in_the_template(resources: dict[str, Any]):
    assert _of_type(resources, "AWS::ApiGateway::ApiKey") == {}


def test_api_gateways_answer_to_a_bad_api_key_is_the_documented_problem():
    from sandbox.local_aws.functions import read_gateway_responses
    from silentcheck.errors import ApiKeyInvalid

    response = read_gateway_responses()["INVALID_API_KEY"]
    body = json.loads(response.body)

    assert (response.status, response.headers["Content-Type"]) == (ApiKeyInvalid.status, "application/problem+json")
    assert (body["type"], body["title"], body["status"], body["code"]) == (
        f"urn:silentcheck:problem:{ApiKeyInvalid.code}", ApiKeyInvalid.title, ApiKeyInvalid.status, ApiKeyInvalid.code)
    assert body["detail"]
