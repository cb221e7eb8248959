"""A deploy rehearsal without AWS: for each parameter set a deployment may use, template.yaml goes through SAM
CLI's AWS::LanguageExtensions processor and then samtranslator, in the order AWS runs them, and the result must
name only what exists (DependsOn, Ref, Fn::GetAtt, Fn::Sub, conditions) and pass cfn-lint without an error.
On 5868827 this failed: ClientUsagePlan's `DependsOn: ApiStage` named a stage SAM calls `Apiv1Stage`."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from sandbox.local_aws import conditions
from sandbox.local_aws.functions import read_functions
from tests.template_tools import (
    LintFinding,
    cfn_lint_all,
    deployed_stack,
    load_sam_template,
    rehearse_deploy,
    unresolved_references,
    write_json,
)

PARAMETER_SETS: dict[str, dict[str, str]] = {
    "defaults": {},
    "app_mode": {"ClientAuth": "none"},
    "another_stage": {"StageName": "prod"},
    "rotation_keeping_the_previous_key": {"ActiveSigningKey": "green", "KeepPreviousSigningKey": "true"},
    "every_option_on": {"SnapStart": "true", "StartWaf": "on", "TableEncryption": "customer-managed",
                        "AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:silentcheck-alarms"},
    "reserving_with_the_accounts_logging_role": {"ReserveConcurrency": "on", "ApiGatewayCloudWatchRole": "existing",
                                                 "TableDeletionProtection": "on"},
    # docs/capacity.md: the national-launch profile, with everything its size switches on
    "national_launch_1000_starts_a_second": {"PeakStartsPerSecond": "1000", "ReserveConcurrency": "on",
                                             "StartWaf": "on"},
}


@pytest.fixture(scope="module")
def source() -> dict[str, Any]:
    return load_sam_template()


@pytest.fixture(scope="module")
def rehearsed(source: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: rehearse_deploy(source, parameters) for name, parameters in PARAMETER_SETS.items()}


def _stage_named_by_depends_on(source: dict[str, Any]) -> dict[str, Any]:
    """template.yaml with the usage plan written as on 5868827: a hand-written DependsOn on `ApiStage`."""
    broken = copy.deepcopy(source)
    broken["Resources"]["ClientUsagePlan"]["DependsOn"] = "ApiStage"
    return broken


@pytest.fixture(scope="module")
def lint(rehearsed: dict[str, dict[str, Any]], source: dict[str, Any],
         tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[LintFinding]]:
    """cfn-lint's findings on the stack each rehearsed template creates, from one cfn-lint run (it is slow to
    start)."""
    folder = tmp_path_factory.mktemp("rehearsal")
    stacks = {name: deployed_stack(template, PARAMETER_SETS[name]) for name, template in rehearsed.items()}
    stacks["stage_named_by_hand"] = deployed_stack(rehearse_deploy(_stage_named_by_depends_on(source)), {})
    paths: dict[str, Path] = {name: write_json(stack, folder / f"{name}.json") for name, stack in stacks.items()}
    found = cfn_lint_all(list(paths.values()))
    return {name: found[path] for name, path in paths.items()}


def _of_type(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == kind}


@pytest.mark.parametrize("parameter_set", sorted(PARAMETER_SETS))
def test_every_reference_of_the_rehearsed_stack_names_something(
        parameter_set: str, rehearsed: dict[str, dict[str, Any]], source: dict[str, Any]) -> None:
    values = conditions.parameter_values(source, PARAMETER_SETS[parameter_set])

    assert unresolved_references(rehearsed[parameter_set], values) == []


@pytest.mark.parametrize("parameter_set", sorted(PARAMETER_SETS))
def test_cfn_lint_finds_no_error_in_the_rehearsed_template(
        parameter_set: str, lint: dict[str, list[LintFinding]]) -> None:
    assert [str(f) for f in lint[parameter_set] if f.level == "Error"] == []


def test_the_rehearsal_catches_a_depends_on_naming_a_stage_sam_names_otherwise(
        source: dict[str, Any], lint: dict[str, list[LintFinding]]) -> None:
    broken = _stage_named_by_depends_on(source)

    assert unresolved_references(rehearse_deploy(broken), conditions.parameter_values(broken)) == [
        "Resources/ClientUsagePlan: DependsOn ApiStage names nothing"]
    assert "E3005" in {f.rule for f in lint["stage_named_by_hand"] if f.level == "Error"}


def test_the_rehearsal_catches_a_sub_naming_no_resource(source: dict[str, Any]) -> None:
    broken = copy.deepcopy(source)
    broken["Resources"]["Dashboard"]["Properties"]["DashboardName"] = {"Fn::Sub": "${NoSuchApi}-dashboard"}

    assert unresolved_references(rehearse_deploy(broken), conditions.parameter_values(broken)) == [
        "Resources/Dashboard: Fn::Sub NoSuchApi names nothing"]


def test_the_rehearsal_catches_a_reference_to_a_resource_whose_condition_is_false(source: dict[str, Any]) -> None:
    broken = copy.deepcopy(source)
    broken["Outputs"]["TableKeyId"] = {"Value": {"Ref": "TableKey"}}  # TableKey: customer-managed only

    assert unresolved_references(rehearse_deploy(broken), conditions.parameter_values(broken)) == [
        "Outputs/TableKeyId: Ref TableKey names nothing"]


@pytest.mark.parametrize("parameter_set", ["defaults", "another_stage"])
def test_the_usage_plan_names_the_stage_sam_creates(parameter_set: str,
                                                    rehearsed: dict[str, dict[str, Any]]) -> None:
    template = rehearsed[parameter_set]
    (stage,) = _of_type(template, "AWS::ApiGateway::Stage")
    (plan,) = _of_type(template, "AWS::ApiGateway::UsagePlan").values()

    assert [api_stage["Stage"] for api_stage in plan["Properties"]["ApiStages"]] == [{"Ref": stage}]


@pytest.mark.parametrize("parameter_set", sorted(PARAMETER_SETS))
def test_the_sandbox_runs_the_functions_routes_and_settings_the_rehearsed_stack_deploys(
        parameter_set: str, rehearsed: dict[str, dict[str, Any]], source: dict[str, Any]) -> None:
    parameters = PARAMETER_SETS[parameter_set]
    values = conditions.parameter_values(source, parameters)
    stack = deployed_stack(rehearsed[parameter_set], parameters)
    deployed = _of_type(stack, "AWS::Lambda::Function")
    (api,) = _of_type(stack, "AWS::ApiGateway::RestApi").values()
    paths = api["Properties"]["Body"]["paths"]
    deployed_routes = {(method.upper(), path) for path, methods in paths.items() for method in methods}
    keyed_routes = {(method.upper(), path) for path, methods in paths.items() for method, operation in methods.items()
                    if any("api_key" in requirement for requirement in operation.get("security", []))}

    sandbox = read_functions(parameters=parameters)

    assert {f.logical_id for f in sandbox} == set(deployed)
    assert {route for f in sandbox for route in f.routes} == deployed_routes
    assert {route for f in sandbox for route in f.api_key_routes} == keyed_routes
    for function in sandbox:
        properties = deployed[function.logical_id]["Properties"]
        assert function.handler == properties["Handler"]
        assert function.timeout == float(properties["Timeout"])
        # SAM CLI's processor leaves Globals as written (it resolves Resources, Conditions and Outputs only):
        # there the sandbox, like CloudFormation after SAM, takes a parameter's value for its Ref.
        environment = {name: values[value["Ref"]] if isinstance(value, dict) and value.get("Ref") in values
                       else value for name, value in function.environment.items()}
        assert environment == properties["Environment"]["Variables"], function.logical_id


# What must outlive the stack: the checks (TABLE_NAME's table), the secrets, the key the table may be encrypted
# with, and the account's API Gateway logging role with its setting (other APIs of the account log with it).
KEPT_TYPES = {"AWS::DynamoDB::Table", "AWS::SecretsManager::Secret", "AWS::KMS::Key", "AWS::IAM::Role",
              "AWS::ApiGateway::Account"}


@pytest.mark.parametrize("parameter_set", sorted(PARAMETER_SETS))
def test_nothing_survives_a_failed_create(parameter_set: str, rehearsed: dict[str, dict[str, Any]]) -> None:
    """No resource is Retain (or Snapshot): layer versions and published function versions included."""
    kept = {name: res["DeletionPolicy"] for name, res in rehearsed[parameter_set]["Resources"].items()
            if res.get("DeletionPolicy", "Delete") not in ("Delete", "RetainExceptOnCreate")}

    assert kept == {}


def test_the_checks_table_secrets_table_key_and_logging_role_survive_the_stacks_deletion(
        rehearsed: dict[str, dict[str, Any]]) -> None:
    stack = deployed_stack(rehearsed["every_option_on"], PARAMETER_SETS["every_option_on"])
    (checks_table,) = {value["Ref"] for name, res in stack["Resources"].items()
                       if res["Type"] == "AWS::Lambda::Function"
                       for variable, value in res["Properties"]["Environment"]["Variables"].items()
                       if variable == "TABLE_NAME"}
    surviving = {name for name, res in stack["Resources"].items()
                 if res.get("DeletionPolicy") == "RetainExceptOnCreate"}
    expected = {name for name, res in stack["Resources"].items() if res["Type"] in KEPT_TYPES
                and (res["Type"] != "AWS::DynamoDB::Table" or name == checks_table)
                and (res["Type"] != "AWS::KMS::Key" or res["Properties"].get("KeyUsage") != "SIGN_VERIFY")
                and (res["Type"] != "AWS::IAM::Role" or "apigateway.amazonaws.com" in json.dumps(res))}

    assert surviving == expected and checks_table in surviving


def test_old_layer_and_function_versions_are_deleted_not_retained(rehearsed: dict[str, dict[str, Any]]) -> None:
    versions = {name: res.get("DeletionPolicy") for name, res in rehearsed["every_option_on"]["Resources"].items()
                if res["Type"] in ("AWS::Lambda::LayerVersion", "AWS::Lambda::Version")}

    assert versions and set(versions.values()) == {"Delete"}
