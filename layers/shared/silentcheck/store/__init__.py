"""The one seam to the checks table (DynamoDB): the checks (check_items.py), the counters every container
shares (counters.py: start budgets, circuit breakers) and the key formats (keys.py).

`from silentcheck import store; store.finish(...)`: the module is the service's real Store (deps.Store),
so the checks' operations are re-exported here; a test or the soak may replace one of them here."""

from silentcheck.store import counters, keys
from silentcheck.store.check_items import (
    TransitionLost,
    claim_poll,
    consume_state,
    create,
    finish,
    get,
    mark_expired,
    pace_polls,
    record_offer,
    record_started,
    save_attestation,
    withdraw,
)

__all__ = [
    "TransitionLost",
    "claim_poll",
    "consume_state",
    "counters",
    "create",
    "finish",
    "get",
    "keys",
    "mark_expired",
    "pace_polls",
    "record_offer",
    "record_started",
    "save_attestation",
    "withdraw",
]
