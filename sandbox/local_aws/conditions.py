"""What the AWS::LanguageExtensions transform makes of template.yaml before SAM reads it, for given parameter
values, by SAM CLI's own processor of that transform (samcli.lib.cfn_language_extensions): parameters' values
put in, conditions evaluated, each Fn::If replaced by the branch its condition picks. The sandbox gateway, the
offline template tests and the deploy rehearsal (tests/unit/test_deploy_rehearsal.py) all read the template so.

Where SAM CLI's local processor is known to differ from the CloudFormation service, this module does as the
service does, and says so below (_FnSubKeptForCloudFormation)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any

from samcli.lib.cfn_language_extensions.api import IntrinsicResolverProcessor
from samcli.lib.cfn_language_extensions.models import ResolutionMode, TemplateProcessingContext
from samcli.lib.cfn_language_extensions.pipeline import ProcessingPipeline
from samcli.lib.cfn_language_extensions.processors import (
    DeletionPolicyProcessor,
    ForEachProcessor,
    TemplateParsingProcessor,
    UpdateReplacePolicyProcessor,
)
from samcli.lib.cfn_language_extensions.resolvers import (
    ConditionResolver,
    FnBase64Resolver,
    FnFindInMapResolver,
    FnIfResolver,
    FnJoinResolver,
    FnLengthResolver,
    FnRefResolver,
    FnSelectResolver,
    FnSplitResolver,
    FnSubResolver,
    FnToJsonStringResolver,
    IntrinsicResolver,
)

_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


class _FnSubKeptForCloudFormation(FnSubResolver):  # type: ignore[misc]  # samcli ships no type information
    """Fn::Sub as the service's transform leaves it: placeholders it can fill (parameters, the variable map) are
    filled, and a string left with others (a resource, `Res.Attr`, a pseudo-parameter) stays an Fn::Sub for
    CloudFormation. SAM CLI's local processor (1.170) differs here: it returns such a string bare, so
    `!Sub "${Api}"` would reach CloudFormation as the literal text "${Api}" (aws/aws-sam-cli#9029 is the same
    resolver baking pseudo-parameters into `sam build` output)."""

    def resolve(self, value: dict[str, Any]) -> Any:
        text, variables = self._parse_args(self.get_function_args(value))
        variables = self._resolve_variable_map(variables)
        left: list[str] = []  # placeholders for CloudFormation: a resource, `Res.Attr`, a pseudo-parameter

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return match.group(0)  # an escaped ${!Literal}: unescaped below if the string ends up bare
            found = self._resolve_variable(name, variables)
            if found is None or isinstance(found, dict):  # unknown here, or an intrinsic from the variable map
                left.append(name)
                return match.group(0)
            return str(self._value_to_string(found))

        filled = _PLACEHOLDER.sub(fill, text)
        if not left:
            return _PLACEHOLDER.sub(lambda m: "${" + m.group(1).removeprefix("!") + "}", filled)
        kept = {name: variables[name] for name in left if name in variables}
        return {"Fn::Sub": [filled, kept] if kept else filled}


# samcli.lib.cfn_language_extensions.api.create_default_intrinsic_resolver's order, with Fn::Sub as the service
# does it (tests/sandbox/test_conditions.py checks the order still matches SAM CLI's).
_RESOLVERS = (ConditionResolver, FnIfResolver, FnRefResolver, FnBase64Resolver, FnJoinResolver, FnSplitResolver,
              _FnSubKeptForCloudFormation, FnSelectResolver, FnLengthResolver, FnFindInMapResolver,
              FnToJsonStringResolver)


def parameter_values(template: Mapping[str, Any], overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Each parameter's value: the override if given, else its Default."""
    values = {name: str(spec.get("Default", "")) for name, spec in (template.get("Parameters") or {}).items()}
    unknown = set(overrides or {}) - set(values)
    if unknown:
        raise KeyError(f"template.yaml has no parameter {sorted(unknown)}")
    values.update(overrides or {})
    return values


def _pipeline(context: TemplateProcessingContext) -> ProcessingPipeline:
    """samcli.lib.cfn_language_extensions.api.create_default_pipeline, with the resolvers above."""
    resolver = IntrinsicResolver(context)
    for resolver_class in _RESOLVERS:
        resolver.register_resolver(resolver_class)
    return ProcessingPipeline([TemplateParsingProcessor(), ForEachProcessor(intrinsic_resolver=resolver),
                               IntrinsicResolverProcessor(resolver), DeletionPolicyProcessor(),
                               UpdateReplacePolicyProcessor()])


def _expand(template: Mapping[str, Any], parameters: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, bool]]:
    """The processor's output and the truth of every named condition."""
    context = TemplateProcessingContext(fragment=copy.deepcopy(dict(template)), parameter_values=dict(parameters),
                                        resolution_mode=ResolutionMode.PARTIAL)
    expanded: dict[str, Any] = _pipeline(context).process_template(context)
    return expanded, {name: bool(value) for name, value in context.resolved_conditions.items()}


def evaluate(template: Mapping[str, Any], parameters: Mapping[str, str]) -> dict[str, bool]:
    """The truth of every named condition."""
    return _expand(template, parameters)[1]


def resolve(template: Mapping[str, Any], parameters: Mapping[str, str], specialise: bool = False) -> dict[str, Any]:
    """The template as AWS::LanguageExtensions hands it on: parameters' values put in, every Fn::If replaced by
    the branch its condition picks (an AWS::NoValue branch drops the key or list item). Conditions and
    conditional resources stay, as CloudFormation sees them, unless `specialise`: then resources and outputs
    whose condition is false are gone and the rest unconditional, as the stack CloudFormation deploys."""
    resolved, conditions = _expand(template, parameters)
    if specialise:
        resolved.pop("Conditions", None)
        resolved.pop("Mappings", None)  # every Fn::FindInMap was resolved with the parameters' values
        for section in ("Resources", "Outputs"):
            entries = resolved.get(section) or {}
            resolved[section] = {name: {key: value for key, value in entry.items() if key != "Condition"}
                                 for name, entry in entries.items() if conditions.get(entry.get("Condition", ""), True)}
        # after the false resources are gone: a parameter nothing refers to any more is unused (cfn-lint W2001)
        text = json.dumps({k: v for k, v in resolved.items() if k != "Parameters"})
        resolved["Parameters"] = {name: spec for name, spec in (resolved.get("Parameters") or {}).items()
                                  if json.dumps({"Ref": name}) in text or f"${{{name}}}" in text}
    return resolved
