"""Counters shared by every container, kept in the checks table: fixed-window start budgets and each
provider's circuit breaker. Only the writes live here; limits.py and breakers.py decide what they mean."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from silentcheck import aws
from silentcheck.config import settings
from silentcheck.store import keys

BREAKER_FIELDS = ("failures", "window_start", "open_until")
_LIMIT_KEPT_SECONDS = 3600  # a budget's counter outlives its window by this much, then the table's TTL purges it
_BREAKER_KEPT_SECONDS = 86400
_TRANSACTION_TRIES = 3  # a transaction cancelled for a conflict with another start is tried again, at once


class BudgetSpent(Exception):
    """A start budget had no room, so nothing of the write was made. `scope` names the first such budget in
    the order given; `busy` when it had room but other starts kept writing it at the same moment (DynamoDB
    cancelled the transaction for a conflict each time it was tried)."""

    def __init__(self, scope: str, busy: bool = False) -> None:
        super().__init__(f"budget {scope} {'busy' if busy else 'spent'}")
        self.scope = scope
        self.busy = busy


@dataclass(frozen=True)
class Take:
    """One start counted in one budget's window for `subject` (a keyed digest): a count of starts, at most
    `count`, or, with `member` (a keyed digest), a set of at most `count` distinct members."""

    scope: str
    subject: str
    window: int
    count: int
    window_end: int
    member: str | None = None


def _n(item: dict[str, Any], name: str) -> int:
    return int(item[name]["N"]) if name in item else 0


def take(scope: str, subject: str, window: int, count: int, window_end: int) -> bool:
    """Count one start in budget `scope`'s window for `subject` (a keyed digest); False, and nothing
    counted, when the window has `count` already."""
    return _limit_update(Take(scope, subject, window, count, window_end))


def admit(scope: str, subject: str, member: str, window: int, count: int, window_end: int) -> bool:
    """Admit `member` (a keyed digest) to `subject`'s window of budget `scope`, which holds at most `count`
    distinct members; True when it is there now (a member already admitted is admitted again, free), False,
    and nothing changed, when the window is full without it."""
    return _limit_update(Take(scope, subject, window, count, window_end, member))


def _budget_write(budget: Take) -> dict[str, Any]:
    """The conditional update that counts one start in a budget's item (alone, or in a transaction); the
    table's TTL purges the item after its window."""
    values: dict[str, Any]
    if budget.member is None:
        update, condition = "ADD hits :one", "attribute_not_exists(hits) OR hits < :count"
        values = {":one": {"N": "1"}, ":count": {"N": str(budget.count)}}
    else:
        update = "ADD members :member"
        condition = "attribute_not_exists(members) OR contains(members, :one) OR size(members) < :count"
        values = {":member": {"SS": [budget.member]}, ":one": {"S": budget.member},
                  ":count": {"N": str(budget.count)}}
    return {
        "TableName": settings().table_name, "Key": keys.item_key(keys.limit(budget.scope, budget.subject,
                                                                            budget.window)),
        "UpdateExpression": f"{update} SET purge_at = :purge", "ConditionExpression": condition,
        "ExpressionAttributeValues": {**values, ":purge": {"N": str(budget.window_end + _LIMIT_KEPT_SECONDS)}},
    }


def _limit_update(budget: Take) -> bool:
    """One conditional write to a budget's item; False, and nothing written, when it has no room."""
    client = aws.client("dynamodb")
    try:
        client.update_item(**_budget_write(budget))
    except client.exceptions.ConditionalCheckFailedException:
        return False
    return True


def take_all(budgets: Sequence[Take], with_items: Sequence[Mapping[str, Any]] = ()) -> None:
    """Count one start in each budget and write `with_items` (transaction items: the check's Put), in one
    transaction: all of it or nothing. BudgetSpent names the first budget without room. A transaction that
    meets another on one of its items is cancelled (TransactionConflict): it is tried again, at most
    `_TRANSACTION_TRIES` times in all, then BudgetSpent(busy=True)."""
    if not budgets and not with_items:
        return
    items = [{"Update": _budget_write(budget)} for budget in budgets] + [dict(item) for item in with_items]
    client = aws.client("dynamodb")
    for attempt in range(1, _TRANSACTION_TRIES + 1):
        try:
            client.transact_write_items(TransactItems=items)
            return
        except client.exceptions.TransactionCanceledException as cancelled:
            codes = [reason.get("Code", "None") for reason in cancelled.response.get("CancellationReasons", [])]
            refused = next((i for i, code in enumerate(codes) if code == "ConditionalCheckFailed"), None)
            if refused is not None and refused < len(budgets):
                raise BudgetSpent(budgets[refused].scope) from None
            conflicted = next((i for i, code in enumerate(codes) if code == "TransactionConflict"), None)
            if refused is not None or conflicted is None:
                raise  # the Put's own condition (an id already taken), or not a budget's doing
            if attempt == _TRANSACTION_TRIES:
                raise BudgetSpent(budgets[conflicted].scope if conflicted < len(budgets) else "check",
                                  busy=True) from None


def breaker_states(names: tuple[str, ...]) -> dict[str, dict[str, int]]:
    """`{provider: {"failures", "window_start", "open_until"}}` for those with a breaker item (one read)."""
    if not names:
        return {}
    table = settings().table_name
    response = aws.client("dynamodb").batch_get_item(
        RequestItems={table: {"Keys": [keys.item_key(keys.breaker(n)) for n in names], "ConsistentRead": True}})
    found = {}
    for item in response.get("Responses", {}).get(table, []):
        provider = keys.breaker_provider(item[keys.PARTITION_KEY]["S"])
        found[provider] = {name: _n(item, name) for name in BREAKER_FIELDS}
    return found


def count_failure(provider: str, now: int, window_seconds: int) -> int:
    """Count one failure in the provider's current window (a new window starts when the last one began
    `window_seconds` ago or more); the failures counted in that window, this one included."""
    client = aws.client("dynamodb")
    table, key = settings().table_name, keys.item_key(keys.breaker(provider))
    purge = {"N": str(now + _BREAKER_KEPT_SECONDS)}
    try:
        item = client.update_item(
            TableName=table, Key=key,
            UpdateExpression="ADD failures :one SET purge_at = :purge",
            ConditionExpression="window_start > :window_floor",
            ExpressionAttributeValues={":one": {"N": "1"}, ":purge": purge,
                                       ":window_floor": {"N": str(now - window_seconds)}},
            ReturnValues="ALL_NEW",
        )["Attributes"]
    except client.exceptions.ConditionalCheckFailedException:  # no item yet, or the window is over
        item = client.update_item(
            TableName=table, Key=key,
            UpdateExpression="SET failures = :one, window_start = :now, purge_at = :purge",
            ExpressionAttributeValues={":one": {"N": "1"}, ":now": {"N": str(now)}, ":purge": purge},
            ReturnValues="ALL_NEW",
        )["Attributes"]
    return _n(item, "failures")


def open_breaker(provider: str, now: int, open_until: int) -> None:
    """Open the provider's breaker until `open_until`, and start counting failures afresh."""
    aws.client("dynamodb").update_item(
        TableName=settings().table_name, Key=keys.item_key(keys.breaker(provider)),
        UpdateExpression="SET open_until = :until, failures = :zero, window_start = :now",
        ExpressionAttributeValues={":until": {"N": str(open_until)}, ":zero": {"N": "0"}, ":now": {"N": str(now)}},
    )


def close_breaker(provider: str) -> None:
    """Close the provider's breaker and forget its failures."""
    aws.client("dynamodb").update_item(
        TableName=settings().table_name, Key=keys.item_key(keys.breaker(provider)),
        UpdateExpression="SET failures = :zero, open_until = :zero",
        ExpressionAttributeValues={":zero": {"N": "0"}},
    )
