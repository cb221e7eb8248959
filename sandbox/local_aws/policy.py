"""IAM and KMS policy evaluation: which statements apply to a request, and whether the policy allows it,
denies it explicitly, or says nothing. The sandbox checks the functions' DynamoDB calls with it (iam.py),
and the template tests evaluate the roles and key policies with it.

Statements are made concrete first (`concrete`): parameters, pseudo parameters, `Fn::Sub` and the ARNs
of the template's own roles and tables become strings, so principals and conditions compare as text.
The evaluation is conservative both ways: a condition on a key the request leaves `UNKNOWN` may hold
for an Allow and may fail for a Deny, so "allowed" means "may be allowed" and "denied" means "always".
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
PARTITION = "aws"
ACCOUNT_ROOT = f"arn:{PARTITION}:iam::{ACCOUNT}:root"
UNKNOWN = object()  # a context value the caller may choose, or that the test does not model
_PSEUDO = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": PARTITION,
           "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "silentcheck"}
_ARN_PATTERNS = {"AWS::IAM::Role": "arn:aws:iam::{account}:role/{name}",
                 "AWS::DynamoDB::Table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
                 "AWS::KMS::Key": "arn:aws:kms:{region}:{account}:key/{name}"}


class Decision(Enum):
    ALLOW = "allow"
    DENY = "explicit deny"
    NONE = "no statement applies"


@dataclass(frozen=True)
class Request:
    """One call: who (an IAM principal's ARN), which action, on which resource, with which context keys."""

    principal: str
    action: str
    resource: str = "*"
    context: Mapping[str, Any] = field(default_factory=dict)

    def value(self, key: str) -> Any:
        if key.lower() == "aws:principalarn":
            return self.principal
        for name, found in self.context.items():
            if name.lower() == key.lower():
                return found
        return None


def concrete(node: Any, resources: Mapping[str, Any], parameters: Mapping[str, str]) -> Any:
    """`node` with Ref, Fn::Sub and Fn::GetAtt(…, Arn) of this template's roles, tables and keys as strings."""

    def ref(name: str) -> str:
        if name in _PSEUDO:
            return _PSEUDO[name]
        if name in parameters:
            return parameters[name]
        return name  # a resource's physical id: its logical id stands in for it

    def arn(name: str) -> str:
        kind = (resources.get(name) or {}).get("Type", "")
        pattern = _ARN_PATTERNS.get(kind, "arn:aws:unknown:{region}:{account}:{name}")
        return pattern.format(account=ACCOUNT, region=REGION, name=name)

    if isinstance(node, list):
        return [concrete(item, resources, parameters) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"}:
        return ref(node["Ref"])
    if set(node) == {"Fn::GetAtt"}:
        target = node["Fn::GetAtt"]
        name, attribute = target.split(".", 1) if isinstance(target, str) else target
        return arn(name) if attribute == "Arn" else f"<{name}.{attribute}>"
    if set(node) == {"Fn::Sub"}:
        body = node["Fn::Sub"]
        text, extra = (body[0], body[1]) if isinstance(body, list) else (body, {})

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in extra:
                return str(concrete(extra[name], resources, parameters))
            if name.endswith(".Arn"):
                return arn(name.removesuffix(".Arn"))
            return ref(name)

        return re.sub(r"\$\{([\w:.]+)\}", substitute, text)
    return {key: concrete(value, resources, parameters) for key, value in node.items()}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _action_matches(patterns: Any, action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), str(p).lower()) for p in _as_list(patterns))  # IAM ignores case


def _principal_matches(principal: Any, caller: str) -> bool:
    """A key policy's Principal: "*", or AWS ARNs, where an account's root stands for every IAM principal
    of that account (the key policy delegates to IAM, and an IAM policy there may allow anything)."""
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for arn in _as_list(principal.get("AWS")):
        if arn == "*" or arn == caller:
            return True
        root = re.fullmatch(r"arn:[\w-]+:iam::(\d{12}):root|(\d{12})", str(arn))
        if root and f":{root.group(1) or root.group(2)}:" in caller:
            return True
    return False


def _single_match(operator: str, actual: str, expected: str) -> bool:
    """StringLike and both ARN operators take * and ? wildcards; the other string operators compare exactly."""
    if operator in ("StringLike", "ArnLike", "ArnEquals"):
        return fnmatch.fnmatchcase(actual, expected)
    if operator == "StringEqualsIgnoreCase":
        return actual.lower() == expected.lower()
    return actual == expected


def _condition_holds(operator: str, key: str, expected: Any, request: Request, unknown_holds: bool) -> bool:
    actual = request.value(key)
    if actual is UNKNOWN:
        return unknown_holds
    qualifier, _, base = operator.rpartition(":")
    base_op = base.removesuffix("IfExists")
    if base_op == "Null":
        return (actual is None) == (str(_as_list(expected)[0]).lower() == "true")
    negated = "Not" in base_op
    positive = base_op.replace("Not", "")
    if actual is None:  # a missing key: negated operators hold, the others do not (IfExists: holds)
        return negated or base.endswith("IfExists") or qualifier == "ForAllValues"
    values = [str(v) for v in _as_list(actual)]
    wanted = [str(v) for v in _as_list(expected)]

    def one(value: str) -> bool:
        return any(_single_match(positive, value, w) for w in wanted)

    if qualifier == "ForAllValues":
        return all(one(v) != negated for v in values)
    if qualifier == "ForAnyValue":
        return any(one(v) != negated for v in values)
    return any(one(v) for v in values) != negated  # a single-valued key


def _conditions_hold(statement: Mapping[str, Any], request: Request, unknown_holds: bool) -> bool:
    return all(_condition_holds(operator, key, expected, request, unknown_holds)
               for operator, pairs in (statement.get("Condition") or {}).items()
               for key, expected in pairs.items())


def applies(statement: Mapping[str, Any], request: Request, resource_policy: bool) -> bool:
    """Whether `statement` covers the request: principal (in a resource policy), Action or NotAction,
    Resource or NotResource, and its conditions (see the module docstring for UNKNOWN values)."""
    if resource_policy:
        if "NotPrincipal" in statement:
            if _principal_matches(statement["NotPrincipal"], request.principal):
                return False
        elif not _principal_matches(statement.get("Principal"), request.principal):
            return False
    if "NotAction" in statement:
        if _action_matches(statement["NotAction"], request.action):
            return False
    elif not _action_matches(statement.get("Action"), request.action):
        return False
    if "NotResource" in statement:
        if _action_matches(statement["NotResource"], request.resource):
            return False
    elif not any(r == "*" or fnmatch.fnmatchcase(request.resource, str(r))
                 for r in _as_list(statement.get("Resource"))):
        return False
    return _conditions_hold(statement, request, unknown_holds=statement.get("Effect") == "Allow")


def decide(statements: Sequence[Mapping[str, Any]], request: Request, resource_policy: bool = False) -> Decision:
    """What the statements say about the request: an explicit Deny wins over any Allow."""
    effects = {s.get("Effect") for s in statements if applies(s, request, resource_policy)}
    if "Deny" in effects:
        return Decision.DENY
    return Decision.ALLOW if "Allow" in effects else Decision.NONE
