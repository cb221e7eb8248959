"""Circuit breakers per provider, kept in the checks table (item `breaker#<provider>`) so every container
sees the same state: a provider that keeps failing is skipped for a while instead of adding its timeout
to every check."""

from __future__ import annotations

from typing import Any

from silentcheck import aws, observability
from silentcheck.routing import CircuitBreaker
from silentcheck.settings import settings


def _key(provider: str) -> dict[str, Any]:
    return {"pk": {"S": f"breaker#{provider}"}}


def _n(item: dict[str, Any], name: str) -> int:
    return int(item[name]["N"]) if name in item else 0


def states(names: tuple[str, ...]) -> dict[str, dict[str, int]]:
    """`{provider: {"failures", "window_start", "open_until"}}` for those with a breaker item (one read)."""
    if not names:
        return {}
    table = settings().table_name
    response = aws.client("dynamodb").batch_get_item(
        RequestItems={table: {"Keys": [_key(n) for n in names], "ConsistentRead": True}})
    found = {}
    for item in response.get("Responses", {}).get(table, []):
        provider = item["pk"]["S"].removeprefix("breaker#")
        found[provider] = {k: _n(item, k) for k in ("failures", "window_start", "open_until")}
    return found


def is_open(state: dict[str, int] | None, now: int) -> bool:
    return state is not None and state["open_until"] > now


def record_failure(provider: str, now: int, config: CircuitBreaker) -> bool:
    """Count an outage-type failure; opens the breaker at the threshold. True when it is open now."""
    client = aws.client("dynamodb")
    table = settings().table_name
    purge = {"N": str(now + 86400)}
    try:
        item = client.update_item(
            TableName=table, Key=_key(provider),
            UpdateExpression="ADD failures :one SET purge_at = :purge",
            ConditionExpression="window_start > :window_floor",
            ExpressionAttributeValues={":one": {"N": "1"}, ":purge": purge,
                                       ":window_floor": {"N": str(now - config.window_seconds)}},
            ReturnValues="ALL_NEW",
        )["Attributes"]
    except client.exceptions.ConditionalCheckFailedException:  # no item yet, or the window is over
        item = client.update_item(
            TableName=table, Key=_key(provider),
            UpdateExpression="SET failures = :one, window_start = :now, purge_at = :purge",
            ExpressionAttributeValues={":one": {"N": "1"}, ":now": {"N": str(now)}, ":purge": purge},
            ReturnValues="ALL_NEW",
        )["Attributes"]
    if _n(item, "failures") < config.failures:
        return False
    client.update_item(
        TableName=table, Key=_key(provider),
        UpdateExpression="SET open_until = :until, failures = :zero, window_start = :now",
        ExpressionAttributeValues={":until": {"N": str(now + config.open_seconds)}, ":zero": {"N": "0"},
                                   ":now": {"N": str(now)}},
    )
    observability.count(observability.Metric.BREAKER_OPENED, provider=provider)
    return True


def record_success(provider: str, state: dict[str, int] | None) -> None:
    """A provider that answered closes its breaker; nothing is written when there was nothing to close."""
    if state is None or (state["failures"] == 0 and state["open_until"] == 0):
        return
    aws.client("dynamodb").update_item(
        TableName=settings().table_name, Key=_key(provider),
        UpdateExpression="SET failures = :zero, open_until = :zero",
        ExpressionAttributeValues={":zero": {"N": "0"}},
    )
