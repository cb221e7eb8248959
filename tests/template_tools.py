"""Offline checks of template.yaml: the SAM transform without AWS, and cfn-lint as a subprocess.

cfn-lint 1.x no longer runs the SAM transform, so it misses dangling Refs inside Serverless::Function
properties (serverless-practice.md §3b). Linting the output of samtranslator's transform catches them.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform

from sandbox.local_aws import conditions
from sandbox.local_aws.template import REPO_ROOT, TEMPLATE_PATH, load_template

PLACEHOLDER_CODE_URI = "s3://placeholder/code.zip"
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


def transform_offline(sam_template: dict[str, Any], parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """The CloudFormation template SAM would deploy, made without AWS: specialised for `parameters`
    (defaults otherwise) as AWS::LanguageExtensions and CloudFormation's conditions would, local code
    paths made a placeholder S3 object (the transform only accepts S3 locations), and managed-policy
    names not looked up."""
    template = conditions.resolve(sam_template, conditions.parameter_values(sam_template, parameters), specialise=True)
    template = copy.deepcopy(template)  # the transform rewrites its input in place
    function_globals = (template.get("Globals") or {}).get("Function") or {}
    if "CodeUri" in function_globals:
        function_globals["CodeUri"] = PLACEHOLDER_CODE_URI
    for resource in (template.get("Resources") or {}).values():
        key = _LOCAL_CODE_PROPERTIES.get(resource.get("Type", ""))
        properties = resource.get("Properties") or {}
        if key and key in properties:
            properties[key] = PLACEHOLDER_CODE_URI
    with _default_region(TRANSFORM_REGION):  # the transform needs a region to pick the ARN partition
        transformed: dict[str, Any] = transform(template, {}, _NoManagedPolicies())
    return transformed


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

