"""Counters shared by every container, kept in the checks table: fixed-window start budgets and each
provider's circuit breaker. Only the writes live here; limits.py and breakers.py decide what they mean."""

from __future__ import annotations

from typing import Any

from silentcheck import aws
from silentcheck.config import settings
from silentcheck.store import keys

BREAKER_FIELDS = ("failures", "window_start", "open_until")
_LIMIT_KEPT_SECONDS = 3600  # a budget's counter outlives its window by this much, then the table's TTL purges it
_BREAKER_KEPT_SECONDS = 86400


def _n(item: dict[str, Any], name: str) -> int:
    return int(item[name]["N"]) if name in item else 0


def take(scope: str, subject: str, window: int, count: int, window_end: int) -> bool:
    """Count one start in budget `scope`'s window for `subject` (a keyed digest); False, and nothing
    counted, when the window has `count` already."""
    return _limit_update(
        keys.limit(scope, subject, window), window_end,
        update="ADD hits :one", condition="attribute_not_exists(hits) OR hits < :count",
        values={":one": {"N": "1"}, ":count": {"N": str(count)}})


def admit(scope: str, subject: str, member: str, window: int, count: int, window_end: int) -> bool:
    """Admit `member` (a keyed digest) to `subject`'s window of budget `scope`, which holds at most `count`
    distinct members; True when it is there now (a member already admitted is admitted again, free), False,
    and nothing changed, when the window is full without it."""
    return _limit_update(
        keys.limit(scope, subject, window), window_end,
        update="ADD members :member",
        condition="attribute_not_exists(members) OR contains(members, :one) OR size(members) < :count",
        values={":member": {"SS": [member]}, ":one": {"S": member}, ":count": {"N": str(count)}})


def _limit_update(key: str, window_end: int, update: str, condition: str, values: dict[str, Any]) -> bool:
    """One conditional write to a budget's item, which the table's TTL purges after its window; False, and
    nothing written, when the condition does not hold."""
    client = aws.client("dynamodb")
    try:
        client.update_item(
            TableName=settings().table_name, Key=keys.item_key(key),
            UpdateExpression=f"{update} SET purge_at = :purge", ConditionExpression=condition,
            ExpressionAttributeValues={**values, ":purge": {"N": str(window_end + _LIMIT_KEPT_SECONDS)}},
        )
    except client.exceptions.ConditionalCheckFailedException:
        return False
    return True


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
