"""What each function's code can ask of the checks table, read from the source: the service functions its
handler calls, everything they reach in the layer, the store and counter operations among those, and the
DynamoDB actions and partition-key prefixes (silentcheck/store/keys.py) each operation uses.

A static reading, deliberately coarse: a call `x.name(...)` counts as the store's `name` only when `x`
is `store`, `deps.store`, `counters` or `deps.counters`; other calls are followed to a layer module's
function of that name (`module.name(...)`) or to one in the same module (`name(...)`). Adapters are
reached only through provider objects, so they are never followed: they do not touch the table.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from silentcheck.store import keys

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "shared" / "silentcheck"
STORE_MODULES = {"store": LAYER / "store" / "check_items.py", "counters": LAYER / "store" / "counters.py"}
_RECEIVERS = {"store": "store", "deps.store": "store", "counters": "counters", "deps.counters": "counters"}
_KEY_BUILDERS = {"check": keys.CHECK, "limit": keys.LIMIT, "breaker": keys.BREAKER}
Call = tuple[str, str]  # (module or store seam, function name)


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else None
    return None


def _functions(path: Path) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}


@cache
def _layer_modules() -> dict[str, Path]:
    """`service` -> layers/shared/silentcheck/service.py, for every top-level module of the layer."""
    return {path.stem: path for path in LAYER.glob("*.py")}


def _calls(function: ast.FunctionDef) -> Iterator[tuple[str, str]]:
    """(receiver, name) of every call in the function: receiver "" for a bare name."""
    for node in ast.walk(function):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Name):
            yield "", node.func.id
        elif isinstance(node.func, ast.Attribute):
            yield _dotted(node.func.value) or "?", node.func.attr


def store_operations(module: str, entry: str) -> set[Call]:
    """The store and counter operations (("store", "finish"), ("counters", "take"), …) that the layer
    function `module.entry` can reach."""
    found: set[Call] = set()
    seen: set[Call] = set()
    pending: list[Call] = [(module, entry)]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        path = _layer_modules().get(current[0])
        function = _functions(path).get(current[1]) if path else None
        if function is None:
            continue
        for receiver, name in _calls(function):
            if receiver in _RECEIVERS:
                found.add((_RECEIVERS[receiver], name))
            elif receiver == "":
                pending.append((current[0], name))
            elif receiver in _layer_modules():
                pending.append((receiver, name))
    return found


_BOTO_ACTIONS = {"get_item": "GetItem", "put_item": "PutItem", "update_item": "UpdateItem",
                 "batch_get_item": "BatchGetItem", "delete_item": "DeleteItem", "query": "Query", "scan": "Scan",
                 "batch_write_item": "BatchWriteItem"}
# A transaction (TransactWriteItems, TransactGetItems) is authorised per item it holds, as the action that item
# names (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html): its items
# are read from the `{"Put": …}`, `{"Update": …}` entries the operation builds.
_TRANSACTION_ITEMS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                      "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}


def _transaction_items(function: ast.FunctionDef) -> Iterator[str]:
    for node in ast.walk(function):
        if isinstance(node, ast.Dict):
            for key in node.keys:
                if isinstance(key, ast.Constant) and key.value in _TRANSACTION_ITEMS:
                    yield _TRANSACTION_ITEMS[key.value]


def dynamodb_requests(seam: str, operation: str) -> set[tuple[str, str]]:
    """(DynamoDB action, partition-key prefix) of one store or counter operation, helpers followed; a call
    into the other store module (`counters.take_all(…)` from a check's operation) is read as an operation
    of its own, so the items of one transaction keep their own actions."""
    functions = _functions(STORE_MODULES[seam])
    actions: set[str] = set()
    prefixes: set[str] = set()
    others: set[tuple[str, str]] = set()
    seen: set[str] = set()
    pending = [operation]
    while pending:
        name = pending.pop()
        if name in seen or name not in functions:
            continue
        seen.add(name)
        actions.update(_transaction_items(functions[name]))
        for receiver, called in _calls(functions[name]):
            if called in _BOTO_ACTIONS:
                actions.add(_BOTO_ACTIONS[called])
            elif receiver == "keys" and called in _KEY_BUILDERS:
                prefixes.add(_KEY_BUILDERS[called])
            elif receiver == "":
                pending.append(called)
            elif receiver in STORE_MODULES and receiver != seam:
                others |= dynamodb_requests(receiver, called)
    return {(action, prefix) for action in actions for prefix in prefixes} | others


def handler_entries(code_uri: str) -> set[str]:
    """The service functions a function's handler module calls (`service.poll(...)`)."""
    source = (ROOT / code_uri / "app.py").read_text(encoding="utf-8")
    return set(re.findall(r"\bservice\.(\w+)\(", source))


def needed_requests(code_uri: str) -> set[tuple[str, str]]:
    """Every (DynamoDB action, key prefix) on the checks table the function's code can make."""
    return {request for entry in handler_entries(code_uri)
            for seam, operation in store_operations("service", entry)
            for request in dynamodb_requests(seam, operation)}
