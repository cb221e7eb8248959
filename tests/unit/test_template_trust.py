"""The deployed template's trust boundaries for results (the deploy rehearsal's stack: SAM CLI's
LanguageExtensions processor, samtranslator, conditions), under every parameter set of the matrix: only
poll_result may sign attestations and nobody can quietly become a signer (every key-policy statement
evaluated, wildcards, NotAction and explicit Deny included), a change to a signing key raises an alarm,
POST /checks needs an API key exactly when ClientAuth says so, and no key value is in the template."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from sandbox.local_aws.policy import ACCOUNT, ACCOUNT_ROOT, Decision, Request, concrete, decide
from tests.template_tools import (
    ALARM_TOPIC,
    KEY_ADMINISTRATOR,
    PARAMETER_MATRIX,
    load_sam_template,
    rehearsed_stack,
    transform_offline,
)

SIGNING_FUNCTION = "PollResultFunction"
# Principals that must not sign: anyone in the account (an administrator's role, through the root
# statement), a principal of another account, and, per parameter set, the named key administrator and
# every role of the template other than poll_result's.
SOMEONE_IN_THE_ACCOUNT = f"arn:aws:iam::{ACCOUNT}:role/AdministratorAccess"
SOMEONE_ELSE = "arn:aws:iam::999999999999:role/attacker"
# What a key administrator needs to stay one (KMS's lockout check on CreateKey and PutKeyPolicy) and what
# CloudFormation does as it when it changes or deletes the keys.
ADMINISTRATION = ("kms:PutKeyPolicy", "kms:GetKeyPolicy", "kms:DescribeKey", "kms:ScheduleKeyDeletion")
ALARMED_CALLS = {"PutKeyPolicy", "CreateGrant", "ScheduleKeyDeletion", "DisableKey"}


@pytest.fixture(scope="module", params=sorted(PARAMETER_MATRIX))
def parameter_set(request: pytest.FixtureRequest) -> dict[str, str]:
    chosen: dict[str, str] = PARAMETER_MATRIX[request.param]
    return chosen


@pytest.fixture(scope="module")
def resources(parameter_set: dict[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = rehearsed_stack(load_sam_template(), parameter_set)["Resources"]
    return found


def _of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: res for name, res in resources.items() if res["Type"] == kind}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _allows(statement: dict[str, Any], action: str) -> bool:
    """Whether an identity policy's statement may allow `action` on some resource, under some condition."""
    loose = {k: v for k, v in statement.items() if k not in ("Resource", "NotResource", "Condition")}
    return decide([{**loose, "Resource": "*"}], Request(SOMEONE_IN_THE_ACCOUNT, action)) is Decision.ALLOW


def _role_of(resources: dict[str, Any], function: str) -> str:
    role: str = resources[function]["Properties"]["Role"]["Fn::GetAtt"][0]
    return role


def _role_arn(role: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{role}"


def _rest_api_body(resources: dict[str, Any]) -> dict[str, Any]:
    (api,) = _of_type(resources, "AWS::ApiGateway::RestApi").values()
    body: dict[str, Any] = api["Properties"]["Body"]
    return body


def _key_policy(resources: dict[str, Any], key: str, parameters: dict[str, str]) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = concrete(resources[key]["Properties"]["KeyPolicy"]["Statement"], resources,
                                                parameters)
    return statements


def _signing_keys(resources: dict[str, Any]) -> list[str]:
    return sorted(name for name, key in _of_type(resources, "AWS::KMS::Key").items()
                  if key["Properties"].get("KeyUsage") == "SIGN_VERIFY")


def _other_principals(resources: dict[str, Any], parameters: dict[str, str]) -> list[str]:
    """Every principal that is not poll_result's role: the template's other roles, the administrator,
    the account's own principals and another account's."""
    signer = _role_of(resources, SIGNING_FUNCTION)
    roles = [_role_arn(name) for name in _of_type(resources, "AWS::IAM::Role") if name != signer]
    return [*roles, SOMEONE_IN_THE_ACCOUNT, SOMEONE_ELSE, ACCOUNT_ROOT,
            *([parameters["KeyAdministratorArn"]] if parameters["KeyAdministratorArn"] else [])]


def _decisions(statements: list[dict[str, Any]], principals: list[str], action: str,
               context: dict[str, Any] | None = None) -> dict[str, Decision]:
    return {p: decide(statements, Request(p, action, context=context or {}), resource_policy=True) for p in principals}


def _may_sign(statements: list[dict[str, Any]], principals: list[str]) -> list[str]:
    """Who the key policy may let sign, directly or by granting themselves Sign."""
    sign = _decisions(statements, principals, "kms:Sign")
    grant = _decisions(statements, principals, "kms:CreateGrant", {"kms:GrantOperations": ["Sign"]})
    return sorted(p for p in principals if Decision.ALLOW in (sign[p], grant[p]))


def _root_delegations(statements: list[dict[str, Any]], action: str) -> list[str]:
    """The Sids of statements that hand `action` to IAM through the account root (wildcards and NotAction
    evaluated), ignoring what other statements deny."""
    return [str(s.get("Sid")) for s in statements if s.get("Principal") == {"AWS": ACCOUNT_ROOT}
            and decide([s], Request(SOMEONE_IN_THE_ACCOUNT, action), resource_policy=True) is Decision.ALLOW]


def test_signing_keys_are_p256_and_only_sign(resources: dict[str, Any]):
    keys = _signing_keys(resources)

    assert keys
    for key in keys:
        assert resources[key]["Properties"]["KeySpec"] == "ECC_NIST_P256"


def test_keeping_the_previous_key_keeps_both_slots_and_otherwise_there_is_one(parameter_set: dict[str, str],
                                                                              resources: dict[str, Any]):
    expected = 2 if parameter_set["KeepPreviousSigningKey"] == "true" else 1

    assert len(_signing_keys(resources)) == expected


# -- who can sign: every key-policy statement evaluated ---------------------------------------------------

def test_poll_results_role_may_sign_with_every_signing_key(parameter_set: dict[str, str], resources: dict[str, Any]):
    signer = _role_arn(_role_of(resources, SIGNING_FUNCTION))
    for key in _signing_keys(resources):
        statements = _key_policy(resources, key, parameter_set)
        assert decide(statements, Request(signer, "kms:Sign"), resource_policy=True) is Decision.ALLOW, key


def test_no_other_principal_may_sign_or_grant_itself_signing(parameter_set: dict[str, str],
                                                              resources: dict[str, Any]):
    others = _other_principals(resources, parameter_set)
    for key in _signing_keys(resources):
        assert _may_sign(_key_policy(resources, key, parameter_set), others) == [], key


def test_signing_is_denied_explicitly_to_every_other_principal(parameter_set: dict[str, str],
                                                                 resources: dict[str, Any]):
    """A Deny, not just no Allow: an Allow added later (a policy edit, an IAM policy, a grant) loses to it."""
    others = _other_principals(resources, parameter_set)
    for key in _signing_keys(resources):
        decisions = _decisions(_key_policy(resources, key, parameter_set), others, "kms:Sign")
        assert {p: d for p, d in decisions.items() if d is not Decision.DENY} == {}, key


def test_nobody_may_create_a_grant_on_a_signing_key(parameter_set: dict[str, str], resources: dict[str, Any]):
    everyone = [_role_arn(_role_of(resources, SIGNING_FUNCTION)), *_other_principals(resources, parameter_set)]
    for key in _signing_keys(resources):
        decisions = _decisions(_key_policy(resources, key, parameter_set), everyone, "kms:CreateGrant",
                               {"kms:GrantOperations": ["GetPublicKey"]})
        assert {p: d for p, d in decisions.items() if d is not Decision.DENY} == {}, key


def test_no_key_hands_grants_to_iam_through_the_account_root(parameter_set: dict[str, str],
                                                              resources: dict[str, Any]):
    for key in _of_type(resources, "AWS::KMS::Key"):
        assert _root_delegations(_key_policy(resources, key, parameter_set), "kms:CreateGrant") == [], key


def test_the_key_administrator_keeps_the_key_policy(parameter_set: dict[str, str], resources: dict[str, Any]):
    """KMS refuses a policy that would keep its creator from PutKeyPolicy: the named administrator (the
    principal CloudFormation deploys as), else the account's principals through the root."""
    administrator = parameter_set["KeyAdministratorArn"] or SOMEONE_IN_THE_ACCOUNT
    for key in _of_type(resources, "AWS::KMS::Key"):
        statements = _key_policy(resources, key, parameter_set)
        refused = [action for action in ADMINISTRATION
                   if decide(statements, Request(administrator, action), resource_policy=True) is not Decision.ALLOW]
        assert refused == [], key


@pytest.mark.parametrize("set_name", sorted(name for name, values in PARAMETER_MATRIX.items()
                                            if values["KeyAdministratorArn"]))
def test_with_a_named_administrator_nobody_else_may_rewrite_a_key_policy(set_name: str):
    parameter_set = PARAMETER_MATRIX[set_name]
    resources = rehearsed_stack(load_sam_template(), parameter_set)["Resources"]
    others = [p for p in _other_principals(resources, parameter_set) if p != parameter_set["KeyAdministratorArn"]]
    for key in _of_type(resources, "AWS::KMS::Key"):
        decisions = _decisions(_key_policy(resources, key, parameter_set), others, "kms:PutKeyPolicy")
        assert {p: d for p, d in decisions.items() if d is Decision.ALLOW} == {}, key


# -- the alarm on a signing key's changes -----------------------------------------------------------------

def _key_change_rules(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: rule["Properties"] for name, rule in _of_type(resources, "AWS::Events::Rule").items()
            if rule["Properties"].get("EventPattern", {}).get("source") == ["aws.kms"]}


def test_a_rule_matches_cloudtrails_record_of_a_change_to_any_signing_key(resources: dict[str, Any]):
    (rule,) = _key_change_rules(resources).values()
    pattern = rule["EventPattern"]

    assert rule["State"] == "ENABLED"
    assert pattern["detail-type"] == ["AWS API Call via CloudTrail"]
    assert pattern["detail"]["eventSource"] == ["kms.amazonaws.com"]
    assert set(pattern["detail"]["eventName"]) >= ALARMED_CALLS
    watched = {json.dumps(arn) for arn in pattern["detail"]["resources"]["ARN"]}
    assert watched == {json.dumps({"Fn::GetAtt": [key, "Arn"]}) for key in _signing_keys(resources)}


def test_the_rule_notifies_the_alarm_topic_when_there_is_one(parameter_set: dict[str, str],
                                                           resources: dict[str, Any]):
    (rule,) = _key_change_rules(resources).values()
    targets = [concrete(target["Arn"], resources, parameter_set) for target in rule.get("Targets") or []]

    assert targets == ([ALARM_TOPIC] if parameter_set["AlarmTopicArn"] else [])


def test_an_alarm_counts_the_rules_matches(resources: dict[str, Any]):
    (rule_name,) = _key_change_rules(resources)
    watching = [name for name, alarm in _of_type(resources, "AWS::CloudWatch::Alarm").items()
                if (alarm["Properties"].get("Namespace"), alarm["Properties"].get("MetricName")) == (
                    "AWS/Events", "TriggeredRules")
                and alarm["Properties"]["Dimensions"] == [{"Name": "RuleName", "Value": {"Ref": rule_name}}]]

    assert len(watching) == 1


# -- the evaluation itself ---------------------------------------------------------------------------------

WIDENINGS = {
    "a wildcard on the root statement": {"Effect": "Allow", "Principal": {"AWS": "ROOT"}, "Action": "kms:Create*",
                                         "Resource": "*"},
    "NotAction on the root statement": {"Effect": "Allow", "Principal": {"AWS": "ROOT"},
                                        "NotAction": ["kms:Decrypt"], "Resource": "*"},
    "kms:* to an administrator": {"Effect": "Allow", "Principal": {"AWS": KEY_ADMINISTRATOR}, "Action": "kms:*",
                                  "Resource": "*"},
}


@pytest.mark.parametrize("widening", sorted(WIDENINGS))
def test_the_evaluation_catches_a_statement_that_lets_someone_else_become_a_signer(widening: str):
    """Each widening is caught: with the Deny statements gone, the evaluation finds the new signer."""
    parameters = PARAMETER_MATRIX["blue,one-key,named-admin,aws-table-key,no-topic"]
    source = copy.deepcopy(load_sam_template())
    statements = source["Resources"]["SigningKeyBlue"]["Properties"]["KeyPolicy"]["Statement"]
    statements[:] = [s for s in statements if s["Effect"] != "Deny"]
    added = json.loads(json.dumps(WIDENINGS[widening]).replace('"ROOT"', json.dumps(ACCOUNT_ROOT)))
    statements.append(added)
    resources = rehearsed_stack(source, parameters)["Resources"]

    assert _may_sign(_key_policy(resources, "SigningKeyBlue", parameters), _other_principals(resources, parameters))


def test_the_evaluation_finds_the_grant_the_original_root_statement_handed_to_iam():
    """The policy of 5868827: `kms:Create*` to the account root, which covers kms:CreateGrant."""
    old_root_statement = {"Sid": "AccountAdministersButDoesNotSign", "Effect": "Allow",
                          "Principal": {"AWS": ACCOUNT_ROOT}, "Resource": "*",
                          "Action": ["kms:Create*", "kms:Describe*", "kms:Put*", "kms:Get*"]}

    assert _root_delegations([old_root_statement], "kms:CreateGrant") == ["AccountAdministersButDoesNotSign"]


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
