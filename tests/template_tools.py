"""Offline checks of template.yaml: the SAM transform without AWS, and cfn-lint as a subprocess.

cfn-lint 1.x no longer runs the SAM transform, so it misses dangling Refs inside Serverless::Function
properties (serverless-practice.md §3b). Linting the output of samtranslator's transform catches them.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform

from sandbox.local_aws import conditions
from sandbox.local_aws.template import REPO_ROOT, TEMPLATE_PATH, load_template

PLACEHOLDER_CODE_URI = "s3://placeholder/code.zip"
KEY_ADMINISTRATOR = "arn:aws:iam::123456789012:role/silentcheck-deploy"
ALARM_TOPIC = "arn:aws:sns:us-east-1:123456789012:silentcheck-oncall"
# Every combination of the parameters that shape the keys, their policies and who may use them: which slot
# signs, whether both slots exist, who administers the keys, the tables' key, and where alarms go.
_MATRIX_AXES: dict[str, dict[str, str]] = {  # parameter -> {label in the set's name: value}
    "ActiveSigningKey": {"blue": "blue", "green": "green"},
    "KeepPreviousSigningKey": {"one-key": "false", "both-keys": "true"},
    "KeyAdministratorArn": {"root-admin": "", "named-admin": KEY_ADMINISTRATOR},
    "TableEncryption": {"aws-table-key": "aws-managed", "own-table-key": "customer-managed"},
    "AlarmTopicArn": {"no-topic": "", "topic": ALARM_TOPIC},
}
PARAMETER_MATRIX: dict[str, dict[str, str]] = {
    ",".join(labels): {name: _MATRIX_AXES[name][label] for name, label in zip(_MATRIX_AXES, labels, strict=True)}
    for labels in itertools.product(*_MATRIX_AXES.values())
}
TRANSFORM_REGION = "us-east-1"
_LOCAL_CODE_PROPERTIES = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}


class _NoManagedPolicies:
    """Managed-policy loader for samtranslator that never calls IAM (the real one lists every AWS policy)."""

    def load(self) -> dict[str, str]:
        return {}


@contextlib.contextmanager
def _default_region(region: str) -> Iterator[None]:
    previous = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = region
    try:
        yield
    finally:
        if previous is None:
            del os.environ["AWS_DEFAULT_REGION"]
        else:
            os.environ["AWS_DEFAULT_REGION"] = previous


def load_sam_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    return load_template(path)


def _placeholder_code(template: dict[str, Any]) -> dict[str, Any]:
    """Local code paths made a placeholder S3 object: the transform only accepts S3 locations."""
    function_globals = (template.get("Globals") or {}).get("Function") or {}
    if "CodeUri" in function_globals:
        function_globals["CodeUri"] = PLACEHOLDER_CODE_URI
    for resource in (template.get("Resources") or {}).values():
        key = _LOCAL_CODE_PROPERTIES.get(resource.get("Type", ""))
        properties = resource.get("Properties") or {}
        if key and key in properties:
            properties[key] = PLACEHOLDER_CODE_URI
    return template


def _sam_transform(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    with _default_region(TRANSFORM_REGION):  # the transform needs a region to pick the ARN partition
        transformed: dict[str, Any] = transform(template, parameters, _NoManagedPolicies())
    return transformed


def transform_offline(sam_template: dict[str, Any], parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """The CloudFormation stack SAM would deploy, made without AWS: specialised for `parameters` (defaults
    otherwise) by SAM CLI's AWS::LanguageExtensions processor and CloudFormation's conditions (false resources
    gone), local code paths made a placeholder S3 object, and managed-policy names not looked up."""
    template = conditions.resolve(sam_template, conditions.parameter_values(sam_template, parameters), specialise=True)
    return _sam_transform(_placeholder_code(copy.deepcopy(template)), {})  # the transform rewrites its input


def rehearse_deploy(sam_template: dict[str, Any], parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """The template CloudFormation receives after its transforms, in the order AWS runs them: SAM CLI's
    AWS::LanguageExtensions processor, then samtranslator, with every parameter's value (`parameters`, else
    defaults) handed to both as the service does; conditions and conditional resources still in."""
    values = conditions.parameter_values(sam_template, parameters)
    expanded = conditions.resolve(sam_template, values)
    return _sam_transform(_placeholder_code(copy.deepcopy(expanded)), values)


_PSEUDO_PARAMETERS = frozenset({"AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition",
                                "AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix"})


def _condition_names(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if set(node) == {"Fn::If"} and isinstance(node["Fn::If"], list) and node["Fn::If"]:
            yield str(node["Fn::If"][0])
        if set(node) == {"Condition"} and isinstance(node["Condition"], str):
            yield node["Condition"]
        for value in node.values():
            yield from _condition_names(value)
    elif isinstance(node, list):
        for item in node:
            yield from _condition_names(item)


def _named_targets(node: Any) -> Iterator[tuple[str, str]]:
    """(intrinsic, the resource or parameter it names) for each Ref, Fn::GetAtt and Fn::Sub placeholder."""
    if isinstance(node, dict):
        if set(node) == {"Ref"} and isinstance(node["Ref"], str):
            yield "Ref", node["Ref"]
        elif set(node) == {"Fn::GetAtt"}:
            target = node["Fn::GetAtt"]
            name = target.split(".", 1)[0] if isinstance(target, str) else target[0]
            yield "Fn::GetAtt", str(name)
        elif set(node) == {"Fn::Sub"}:
            text, variables = (node["Fn::Sub"], {}) if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"]
            for placeholder in re.findall(r"\$\{([^}!][^}]*)\}", text):
                if placeholder not in variables:
                    yield "Fn::Sub", placeholder.split(".", 1)[0]
            yield from _named_targets(variables)
            return
        for value in node.values():
            yield from _named_targets(value)
    elif isinstance(node, list):
        for item in node:
            yield from _named_targets(item)


def deployed_stack(cfn_template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    """The resources CloudFormation creates from a transformed template with these parameter values: conditions
    evaluated, false-condition resources and outputs gone, parameters' values put in. (The LanguageExtensions
    processor leaves false-condition resources in with their references replaced by AWS::NoValue, as it says
    the service does; CloudFormation never validates or creates them, so they are judged here without them.)"""
    declared = cfn_template.get("Parameters") or {}
    values = conditions.parameter_values(cfn_template, {k: v for k, v in parameters.items() if k in declared})
    return conditions.resolve(cfn_template, values, specialise=True)


def rehearsed_stack(sam_template: dict[str, Any], parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """The stack the deploy rehearsal (`rehearse_deploy`, then `deployed_stack`) says CloudFormation creates."""
    values = parameters or {}
    return deployed_stack(rehearse_deploy(sam_template, values), values)


def unresolved_references(cfn_template: dict[str, Any], parameters: dict[str, str]) -> list[str]:
    """What CloudFormation would refuse as naming nothing: a Condition, Fn::If or `Condition` that names no
    condition, and, in the stack these parameter values deploy (false-condition resources gone), a DependsOn,
    Ref, Fn::GetAtt or Fn::Sub placeholder that names no resource, parameter or pseudo-parameter."""
    declared = set(cfn_template.get("Conditions") or {})
    found = [f"{section}/{name}: condition {condition} names nothing"
             for section in ("Resources", "Outputs") for name, entry in (cfn_template.get(section) or {}).items()
             for condition in {*_condition_names(entry), *([entry["Condition"]] if "Condition" in entry else [])}
             if condition not in declared]
    if found:
        return found
    declared_parameters = cfn_template.get("Parameters") or {}
    # CloudFormation checks the template as declared (every resource, whatever its condition), then the stack
    # these values create: a reference to a resource whose condition is false names nothing either.
    for stack in (cfn_template, deployed_stack(cfn_template, parameters)):
        resources = set(stack.get("Resources") or {})
        known = resources | set(declared_parameters) | _PSEUDO_PARAMETERS
        for section in ("Resources", "Outputs"):
            for name, entry in (stack.get(section) or {}).items():
                depends = entry.get("DependsOn", [])
                found += [f"{section}/{name}: DependsOn {target} names nothing"
                          for target in ([depends] if isinstance(depends, str) else depends) if target not in resources]
                found += [f"{section}/{name}: {intrinsic} {target} names nothing"
                          for intrinsic, target in _named_targets({k: v for k, v in entry.items() if k != "DependsOn"})
                          if target not in known]
    return sorted(set(found))


def write_json(template: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(template, indent=1), encoding="utf-8")
    return path


@dataclass(frozen=True)
class LintFinding:
    rule: str
    level: str  # "Error", "Warning" or "Informational"
    message: str
    path: tuple[str | int, ...]  # where in the template, e.g. ("Resources", "ChecksTable", "Properties")

    def __str__(self) -> str:
        return f"{self.rule} [{self.level}] {'/'.join(map(str, self.path))}: {self.message}"


def _cfn_lint_executable() -> str:
    beside_python = Path(sys.executable).with_name("cfn-lint")
    for candidate in (beside_python, REPO_ROOT / ".venv" / "bin" / "cfn-lint"):
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("cfn-lint")
    if found is None:
        raise RuntimeError("cfn-lint is not installed; `pip install -e '.[dev]'` into the venv")
    return found


def cfn_lint_all(template_paths: list[Path]) -> dict[Path, list[LintFinding]]:
    """Every cfn-lint finding on each template, informational ones included, from one cfn-lint run."""
    completed = subprocess.run(
        [_cfn_lint_executable(), *map(str, template_paths), "--format", "json", "--include-checks", "I"],
        cwd=REPO_ROOT,  # so a .cfnlintrc in the repository applies, as it does on the command line
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    try:
        raw = json.loads(completed.stdout or "[]")
    except json.JSONDecodeError as error:
        raise RuntimeError(
            f"cfn-lint exited {completed.returncode} without JSON output:\n{completed.stdout}\n{completed.stderr}"
        ) from error
    by_file: dict[Path, list[LintFinding]] = {path: [] for path in template_paths}
    resolved = {path.resolve(): path for path in template_paths}
    for item in raw:
        path = resolved[(REPO_ROOT / item["Filename"]).resolve()]
        by_file[path].append(LintFinding(
            rule=item["Rule"]["Id"],
            level=item["Level"],
            message=item["Message"],
            path=tuple(item["Location"].get("Path") or ()),
        ))
    if completed.returncode != 0 and not raw:  # exit codes 2/4/8 come with findings; anything else crashed
        raise RuntimeError(f"cfn-lint exited {completed.returncode}:\n{completed.stderr}")
    return by_file



def start_budgets(parameters: dict[str, str] | None = None) -> tuple[str, int]:
    """The LIMITS text and GLOBAL_BUDGET_SHARDS start_check gets for `parameters` (defaults otherwise), as
    CloudFormation resolves them (the PeakStartsPerSecond profile's, unless `Limits` is given)."""
    from sandbox.local_aws.functions import read_functions, resolve_environment

    (function,) = [f for f in read_functions(parameters=parameters) if "LIMITS" in f.environment]
    wanted = {name: function.environment[name] for name in ("LIMITS", "GLOBAL_BUDGET_SHARDS")}
    env = resolve_environment([replace(function, environment=wanted)], {}, parameter_overrides=parameters)
    return env["LIMITS"], int(env["GLOBAL_BUDGET_SHARDS"])
