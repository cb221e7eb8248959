"""The sandbox refuses a function's DynamoDB call as its deployed role would (template.yaml's statements,
`dynamodb:LeadingKeys` included), since DynamoDB Local checks no permissions."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from sandbox.local_aws.functions import Function, read_functions
from sandbox.local_aws.iam import TableAccess
from sandbox.stack import TABLE_NAME
from silentcheck.store import keys

RETURN_ROUTE = ("GET", "/checks/return")
START_ROUTE = ("POST", "/checks")


@pytest.fixture(scope="module")
def functions() -> dict[str, Function]:
    return {function.logical_id: function for function in read_functions()}


def _serving(functions: dict[str, Function], route: tuple[str, str]) -> str:
    (name,) = [name for name, function in functions.items() if route in function.routes]
    return name


@pytest.fixture(scope="module")
def access(functions: dict[str, Function]) -> TableAccess:
    (table,) = {f.environment["TABLE_NAME"]["Ref"] for f in functions.values()}
    return TableAccess({table: TABLE_NAME})


def _key(pk: str) -> dict[str, dict[str, str]]:
    return keys.item_key(pk)


def test_the_return_function_may_update_a_check(access: TableAccess, functions: dict[str, Function]):
    returning = _serving(functions, RETURN_ROUTE)

    assert access.refusal(returning, "UpdateItem", {"TableName": TABLE_NAME, "Key": _key(keys.check("c"))}) is None


def test_the_return_function_is_refused_a_read(access: TableAccess, functions: dict[str, Function]):
    returning = _serving(functions, RETURN_ROUTE)

    refusal = access.refusal(returning, "GetItem", {"TableName": TABLE_NAME, "Key": _key(keys.check("c"))})

    assert refusal is not None and "GetItem" in refusal


def test_only_the_starting_function_may_count_a_start(access: TableAccess,
                                                      functions: dict[str, Function]):
    counter = {"TableName": TABLE_NAME, "Key": _key(keys.limit("ip", "digest", 1))}
    allowed = {name for name in functions if access.refusal(name, "UpdateItem", counter) is None}

    assert allowed == {_serving(functions, START_ROUTE)}


def test_a_batch_read_is_refused_when_one_of_its_keys_is(access: TableAccess,
                                                         functions: dict[str, Function]):
    starting = _serving(functions, START_ROUTE)
    breakers = [_key(keys.breaker("truid")), _key(keys.breaker("camara"))]

    allowed = access.refusal(starting, "BatchGetItem", {"RequestItems": {TABLE_NAME: {"Keys": breakers}}})
    refused = access.refusal(starting, "BatchGetItem",
                             {"RequestItems": {TABLE_NAME: {"Keys": [*breakers, _key(keys.check("c"))]}}})

    assert allowed is None and refused is not None


def _transaction(*items: Mapping[str, object]) -> dict[str, object]:
    return {"TransactItems": list(items)}


def test_a_transaction_is_allowed_as_the_actions_of_its_items(access: TableAccess, functions: dict[str, Function]):
    starting = _serving(functions, START_ROUTE)
    budget = {"Update": {"TableName": TABLE_NAME, "Key": _key(keys.limit("ip", "digest", 1))}}
    check = {"Put": {"TableName": TABLE_NAME, "Item": {**_key(keys.check("c")), "status": {"S": "PENDING"}}}}

    assert access.refusal(starting, "TransactWriteItems", _transaction(budget, check)) is None


def test_a_transaction_is_refused_when_one_of_its_items_is(access: TableAccess, functions: dict[str, Function]):
    starting = _serving(functions, START_ROUTE)
    budget = {"Update": {"TableName": TABLE_NAME, "Key": _key(keys.limit("ip", "digest", 1))}}
    stray = {"Put": {"TableName": TABLE_NAME, "Item": _key(keys.limit("ip", "digest", 1) + "x")}}

    refusal = access.refusal(starting, "TransactWriteItems", _transaction(budget, stray))

    assert refusal is not None and "PutItem" in refusal
