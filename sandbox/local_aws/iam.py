"""IAM as a function meets it on DynamoDB: every call a function makes on the template's tables is checked
against the statements template.yaml gives the function's role (actions, tables, `dynamodb:LeadingKeys`),
and one its deployed role would refuse fails here too, with AccessDeniedException. DynamoDB Local itself
checks no permissions, so without this a narrowed policy would only break on AWS.

Only calls made while a function's handler runs (lambda_runtime.Invoker), through silentcheck's boto3
session, are checked; the sandbox's own set-up and the tests' reads are not a function's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sandbox.local_aws import conditions
from sandbox.local_aws.policy import Decision, Request, concrete, decide
from sandbox.local_aws.template import TEMPLATE_PATH, load_template

_acting = threading.local()
_HOOK_ID = "sandbox-iam-dynamodb"
_KEYED = {"GetItem": "Key", "UpdateItem": "Key", "DeleteItem": "Key", "PutItem": "Item", "ConditionCheckItem": "Key"}
_TRANSACTION_ITEMS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                      "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}


@contextmanager
def acting_as(function: str) -> Iterator[None]:
    """Within it, this thread's AWS calls are the function's (its role's)."""
    previous = getattr(_acting, "function", None)
    _acting.function = function
    try:
        yield
    finally:
        _acting.function = previous


class TableAccess:
    """Each function's role statements, with its tables' ARNs naming the sandbox's tables."""

    def __init__(self, table_names: Mapping[str, str], template_path: Path = TEMPLATE_PATH) -> None:
        """`table_names`: the sandbox's physical name of each AWS::DynamoDB::Table the template declares."""
        source = load_template(template_path)
        template = conditions.resolve(source, conditions.parameter_values(source))
        resources: dict[str, Any] = template["Resources"]
        self.table_arns = {name: f"arn:aws:dynamodb:local:000000000000:table/{name}" for name in table_names.values()}
        self.partition_keys = {
            table_names[logical]: next(k["AttributeName"] for k in res["Properties"]["KeySchema"]
                                       if k["KeyType"] == "HASH")
            for logical, res in resources.items() if logical in table_names}
        arns = {logical: {"Fn::GetAtt": [logical, "Arn"]} for logical in table_names}

        def named(node: Any) -> Any:  # GetAtt Table.Arn -> the sandbox table's ARN
            if isinstance(node, list):
                return [named(item) for item in node]
            if isinstance(node, dict):
                for logical, reference in arns.items():
                    if node == reference:
                        return self.table_arns[table_names[logical]]
                return {key: named(value) for key, value in node.items()}
            return node

        self.statements: dict[str, list[dict[str, Any]]] = {}
        for logical, res in resources.items():
            if res.get("Type") != "AWS::Serverless::Function":
                continue
            found = [statement for policy in (res["Properties"].get("Policies") or []) if isinstance(policy, dict)
                     for statement in policy.get("Statement") or []]
            self.statements[logical] = concrete(named(found), resources, {})

    def refusal(self, function: str, operation: str, params: Mapping[str, Any]) -> str | None:
        """Why the function's role refuses this call, or None when it allows it."""
        statements = self.statements.get(function, [])
        for action, table, leading_keys in self._authorised(operation, params):
            request = Request(f"role/{function}", f"dynamodb:{action}", self.table_arns.get(table, table),
                              {"dynamodb:LeadingKeys": leading_keys} if leading_keys is not None else {})
            if decide(statements, request) is not Decision.ALLOW:
                keys = ", ".join(leading_keys or ["(no key)"])
                return f"{function}'s role may not dynamodb:{action} on {table} ({keys}) (template.yaml)"
        return None

    def _authorised(self, operation: str, params: Mapping[str, Any]) -> list[tuple[str, str, list[str] | None]]:
        """(action, table, partition keys) IAM decides for the call. A transaction is authorised per item, as
        the action that item names: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/
        transaction-apis-iam.html"""
        if operation in ("TransactWriteItems", "TransactGetItems"):
            found: list[tuple[str, str, list[str] | None]] = []
            for item in params.get("TransactItems") or []:
                for kind, spec in item.items():
                    action = _TRANSACTION_ITEMS[kind]
                    found.append((action, str(spec.get("TableName", "")),
                                  [self._pk(str(spec.get("TableName", "")), spec.get(_KEYED[action]) or {})]))
            return found
        return [(operation, table, keys) for table, keys in self._requests(operation, params)]

    def _requests(self, operation: str, params: Mapping[str, Any]) -> list[tuple[str, list[str] | None]]:
        """(table, partition keys) of each table the call touches."""
        if operation == "BatchGetItem":
            return [(table, [self._pk(table, key) for key in spec.get("Keys") or []])
                    for table, spec in (params.get("RequestItems") or {}).items()]
        if operation == "BatchWriteItem":
            return [(table, [self._pk(table, (w.get("PutRequest") or {}).get("Item")
                                      or (w.get("DeleteRequest") or {}).get("Key") or {}) for w in writes])
                    for table, writes in (params.get("RequestItems") or {}).items()]
        table = str(params.get("TableName", ""))
        field = _KEYED.get(operation)
        return [(table, [self._pk(table, params.get(field) or {})] if field else None)]

    def _pk(self, table: str, key: Mapping[str, Any]) -> str:
        value = key.get(self.partition_keys.get(table, ""), {})
        return str(value.get("S", value.get("N", value.get("B", "")))) if isinstance(value, dict) else str(value)


def install(access: TableAccess) -> None:
    """Check every DynamoDB call a function makes through silentcheck's boto3 session from now on."""
    from botocore.exceptions import ClientError

    from silentcheck import aws

    def check(params: Mapping[str, Any], model: Any, **_: Any) -> None:
        function = getattr(_acting, "function", None)
        if function is None:
            return
        why = access.refusal(function, model.name, params)
        if why is not None:
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": why}}, model.name)

    events = aws.session().events
    events.unregister("before-parameter-build.dynamodb", unique_id=_HOOK_ID)
    events.register("before-parameter-build.dynamodb", check, unique_id=_HOOK_ID)
    aws.client.cache_clear()  # clients copy the session's handlers when they are made


def uninstall() -> None:
    """Stop checking (benchmarks of the functions' own time: on AWS, IAM is evaluated by the service, not in
    the function)."""
    from silentcheck import aws

    aws.session().events.unregister("before-parameter-build.dynamodb", unique_id=_HOOK_ID)
    aws.client.cache_clear()
