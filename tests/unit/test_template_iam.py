"""Each function's role, as the deploy rehearsal makes it (SAM CLI's LanguageExtensions processor, then
samtranslator: tests/template_tools.py), allows on the checks table exactly the requests its
code can make: the DynamoDB actions and the items (by partition-key prefix, `dynamodb:LeadingKeys`) that
the store operations its handler reaches use (tests/store_calls.py reads them from the source)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sandbox.local_aws.functions import Function, read_functions
from sandbox.local_aws.policy import Decision, Request, concrete, decide
from silentcheck.store import keys
from tests.store_calls import STORE_MODULES, dynamodb_requests, handler_entries, needed_requests, store_operations
from tests.template_tools import load_sam_template, rehearsed_stack

ACTIONS = ("GetItem", "BatchGetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchWriteItem")
# Every kind of item the table holds, and one it does not.
PREFIXES = (keys.CHECK, keys.LIMIT, keys.BREAKER, keys.SANDBOX_WARM_UP, "other#")
RETURN_ROUTE = ("GET", "/checks/return")


@pytest.fixture(scope="module")
def functions() -> dict[str, Function]:
    return {function.logical_id: function for function in read_functions()}


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    found: dict[str, Any] = rehearsed_stack(load_sam_template())["Resources"]
    return found


def _table(functions: dict[str, Function]) -> str:
    (table,) = {f.environment["TABLE_NAME"]["Ref"] for f in functions.values()}
    return str(table)


def _role_statements(resources: dict[str, Any], function: str) -> list[dict[str, Any]]:
    role = resources[function]["Properties"]["Role"]["Fn::GetAtt"][0]
    statements: list[dict[str, Any]] = []
    for policy in resources[role]["Properties"].get("Policies") or []:
        found = policy["PolicyDocument"]["Statement"]
        statements.extend(found if isinstance(found, list) else [found])
    concrete_statements: list[dict[str, Any]] = concrete(statements, resources, {})
    return concrete_statements


def _allowed(resources: dict[str, Any], functions: dict[str, Function], function: str) -> set[tuple[str, str]]:
    """Every (action, key prefix) the role allows on the checks table, probed with one key per prefix."""
    statements = _role_statements(resources, function)
    table = concrete({"Fn::GetAtt": [_table(functions), "Arn"]}, resources, {})
    return {(action, prefix) for action in ACTIONS for prefix in PREFIXES
            if decide(statements, Request(f"role/{function}", f"dynamodb:{action}", table,
                                          {"dynamodb:LeadingKeys": [f"{prefix}probe"]})) is Decision.ALLOW}


def test_each_function_may_make_every_request_its_code_makes(resources: dict[str, Any],
                                                             functions: dict[str, Function]):
    refused = {name: sorted(needed_requests(f.code_uri) - _allowed(resources, functions, name))
               for name, f in functions.items()}

    assert {name: missing for name, missing in refused.items() if missing} == {}


def test_each_function_may_make_no_request_its_code_does_not(resources: dict[str, Any],
                                                             functions: dict[str, Function]):
    unneeded = {name: sorted(_allowed(resources, functions, name) - needed_requests(f.code_uri))
                for name, f in functions.items()}

    assert {name: extra for name, extra in unneeded.items() if extra} == {}


def test_the_return_function_cannot_read_items(resources: dict[str, Any], functions: dict[str, Function]):
    (returning,) = [name for name, f in functions.items() if RETURN_ROUTE in f.routes]

    assert {action for action, _ in _allowed(resources, functions, returning)} == {"UpdateItem"}


def test_only_the_starting_function_may_touch_budget_and_breaker_items(resources: dict[str, Any],
                                                                        functions: dict[str, Function]):
    touching = sorted(name for name in functions
                      if any(prefix in (keys.LIMIT, keys.BREAKER) for _, prefix in _allowed(resources, functions,
                                                                                              name)))

    assert touching == [name for name, f in functions.items() if ("POST", "/checks") in f.routes]


def test_every_store_operation_the_handlers_reach_names_its_action_and_items(functions: dict[str, Function]):
    """The reading in tests/store_calls.py sees through every operation it finds; one whose key it could not
    place would silently need nothing."""
    reached = {operation for f in functions.values() for entry in handler_entries(f.code_uri)
               for operation in store_operations("service", entry)}

    assert reached and {seam for seam, _ in reached} <= set(STORE_MODULES)
    assert sorted(operation for operation in reached if not dynamodb_requests(*operation)) == []


def test_the_comparison_catches_a_grant_without_leading_keys(functions: dict[str, Function]):
    (returning,) = [name for name, f in functions.items() if RETURN_ROUTE in f.routes]
    source = copy.deepcopy(load_sam_template())
    source["Resources"][returning]["Properties"]["Policies"][0]["Statement"].append(
        {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": {"Fn::GetAtt": [_table(functions), "Arn"]}})
    widened = rehearsed_stack(source)["Resources"]

    extra = _allowed(widened, functions, returning) - needed_requests(functions[returning].code_uri)

    assert extra == {("GetItem", prefix) for prefix in PREFIXES}
