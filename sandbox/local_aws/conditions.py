"""What the AWS::LanguageExtensions transform does to template.yaml before SAM reads it: evaluate the
Conditions and replace each Fn::If by the branch its condition picks, for given parameter values.
The sandbox gateway and the offline template tests both read the template this way."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def parameter_values(template: Mapping[str, Any], overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Each parameter's value: the override if given, else its Default."""
    values = {name: str(spec.get("Default", "")) for name, spec in (template.get("Parameters") or {}).items()}
    unknown = set(overrides or {}) - set(values)
    if unknown:
        raise KeyError(f"template.yaml has no parameter {sorted(unknown)}")
    values.update(overrides or {})
    return values


def evaluate(template: Mapping[str, Any], parameters: Mapping[str, str]) -> dict[str, bool]:
    """The truth of every named condition."""
    definitions: Mapping[str, Any] = template.get("Conditions") or {}
    results: dict[str, bool] = {}

    def value(node: Any) -> Any:
        if isinstance(node, dict) and set(node) == {"Ref"}:
            if node["Ref"] not in parameters:
                raise ValueError(f"a condition refers to {node['Ref']}, which is not a parameter")
            return parameters[node["Ref"]]
        return node

    def truth(node: Any) -> bool:
        (function, args), = node.items()
        if function == "Condition":
            return named(args)
        if function == "Fn::Equals":
            return str(value(args[0])) == str(value(args[1]))
        if function == "Fn::Not":
            return not truth(args[0])
        if function == "Fn::And":
            return all(truth(arg) for arg in args)
        if function == "Fn::Or":
            return any(truth(arg) for arg in args)
        raise ValueError(f"unsupported condition function {function}")

    def named(name: str) -> bool:
        if name not in results:
            results[name] = truth(definitions[name])
        return results[name]

    for name in definitions:
        named(name)
    return results


def resolve(template: Mapping[str, Any], parameters: Mapping[str, str], specialise: bool = False) -> dict[str, Any]:
    """The template with every Fn::If replaced by the branch its condition picks (an AWS::NoValue branch
    drops the key or list item). Conditions and conditional resources stay, as CloudFormation sees them,
    unless `specialise`: then resources and outputs whose condition is false are gone and the rest
    unconditional, as the stack CloudFormation deploys with these values."""
    conditions = evaluate(template, parameters)
    no_value = object()

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Fn::If"}:
                name, when_true, when_false = node["Fn::If"]
                return walk(when_true if conditions[name] else when_false)
            if node == {"Ref": "AWS::NoValue"}:
                return no_value
            walked = {key: walk(item) for key, item in node.items()}
            return {key: item for key, item in walked.items() if item is not no_value}
        if isinstance(node, list):
            return [item for item in (walk(item) for item in node) if item is not no_value]
        return node

    resolved: dict[str, Any] = walk(dict(template))
    if specialise:
        resolved.pop("Conditions", None)
        for section in ("Resources", "Outputs"):
            entries = resolved.get(section) or {}
            resolved[section] = {name: {key: value for key, value in entry.items() if key != "Condition"}
                                 for name, entry in entries.items() if conditions.get(entry.get("Condition", ""), True)}
        # after the false resources are gone: a parameter only they used is unused (cfn-lint W2001)
        text = json.dumps({k: v for k, v in resolved.items() if k != "Parameters"})
        resolved["Parameters"] = {name: spec for name, spec in (resolved.get("Parameters") or {}).items()
                                  if json.dumps({"Ref": name}) in text or f"${{{name}}}" in text}
    return resolved
