"""The checks table's partition keys: one item per check, per start-budget window and per provider breaker
(template.yaml: one table, key `pk`). The product, the sandbox and the tests build and match keys here."""

from __future__ import annotations

PARTITION_KEY = "pk"

CHECK = "check#"
LIMIT = "limit#"
BREAKER = "breaker#"
SANDBOX_WARM_UP = "warmup#sandbox"  # the sandbox's throwaway item that warms DynamoDB Local's write path


def check(check_id: str) -> str:
    """`check#<check_id>`: the check itself."""
    return f"{CHECK}{check_id}"


def limit(scope: str, subject: str, window: int) -> str:
    """`limit#<scope>#<hmac>#<window>`: one start budget's counter for one window; `subject` is the keyed
    digest of what is counted (a number, an address, "all"), never the value itself. The global budget is
    sharded: its subject is `<hmac>.<shard>` (limits.py), one item per shard and window."""
    return f"{LIMIT}{scope}#{subject}#{window}"


def breaker(provider: str) -> str:
    """`breaker#<provider>`: one provider's circuit breaker, shared by every container."""
    return f"{BREAKER}{provider}"


def breaker_provider(pk: str) -> str:
    """The provider a `breaker#<provider>` key belongs to."""
    return pk.removeprefix(BREAKER)


def item_key(pk: str) -> dict[str, dict[str, str]]:
    """The DynamoDB `Key` of the item with partition key `pk`."""
    return {PARTITION_KEY: {"S": pk}}
