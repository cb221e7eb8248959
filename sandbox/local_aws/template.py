"""template.yaml as the sandbox reads it: CloudFormation's short-form tags kept as long-form intrinsics, and the
resources the sandbox builds locally (the tables, the signing key) found by what the functions are told."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"


class _CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation short-form tags (!Ref, !GetAtt, !Sub, ...) as long form."""


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if tag_suffix in ("Ref", "Condition"):
        return {tag_suffix: value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)  # `!GetAtt Res.Attr` is `Fn::GetAtt: [Res, Attr]`
    return {f"Fn::{tag_suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: Path) -> dict[str, Any]:
    """Parse a CloudFormation/SAM YAML template, turning short-form tags into long-form dicts. A copy of
    the parsed file is handed out, so callers may change it; the file is parsed again once it changes."""
    stat = path.stat()
    return copy.deepcopy(_parsed_template(path.resolve(), stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=32)
def _parsed_template(path: Path, mtime_ns: int, size: int) -> dict[str, Any]:
    with path.open(encoding="utf-8") as stream:
        template = yaml.load(stream, Loader=_CloudFormationLoader)  # a SafeLoader subclass: plain data only
    if not isinstance(template, dict):
        raise ValueError(f"{path} is not a template (top level is not a mapping)")
    return template


def _table_logical_id(template: dict[str, Any], env_var: str, path: Path) -> str:
    """The AWS::DynamoDB::Table that the functions' environment variable `env_var` names (`!Ref Table`)."""
    resources = template.get("Resources") or {}
    tables = {name for name, res in resources.items() if res.get("Type") == "AWS::DynamoDB::Table"}
    environments = [(template.get("Globals") or {}).get("Function") or {}] + [
        res.get("Properties") or {} for res in resources.values() if res.get("Type") == "AWS::Serverless::Function"]
    named: set[str] = {str(value["Ref"]) for env in environments
             if isinstance(value := ((env.get("Environment") or {}).get("Variables") or {}).get(env_var), dict)
             and value.get("Ref") in tables}
    if len(named) != 1:
        raise ValueError(f"{path}: {env_var} must name exactly one AWS::DynamoDB::Table, found {sorted(named)} "
                         f"(tables: {sorted(tables)})")
    return named.pop()


def table_properties_from_template(template_path: Path | None = None, env_var: str = "TABLE_NAME") -> dict[str, Any]:
    """The Properties of the AWS::DynamoDB::Table the functions find through `env_var` (the checks table
    through TABLE_NAME, the idempotency records' through IDEMPOTENCY_TABLE_NAME)."""
    path = template_path or TEMPLATE_PATH
    template = load_template(path)
    resource = template["Resources"][_table_logical_id(template, env_var, path)]
    properties: dict[str, Any] = resource.get("Properties") or {}
    return properties


def signing_key_properties(template_path: Path | None = None) -> dict[str, Any]:
    """The Properties of the template's attestation signing keys (its SIGN_VERIFY AWS::KMS::Key resources,
    which differ only in their slot; the tables' optional key encrypts)."""
    path = template_path or TEMPLATE_PATH
    resources = load_template(path).get("Resources") or {}
    keys = [res.get("Properties") or {} for res in resources.values()
            if res.get("Type") == "AWS::KMS::Key" and (res.get("Properties") or {}).get("KeyUsage") == "SIGN_VERIFY"]
    if not keys:
        raise ValueError(f"{path} declares no AWS::KMS::Key to sign attestations with")
    return keys[0]
