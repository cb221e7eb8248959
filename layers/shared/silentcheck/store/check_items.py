"""The checks' items in the table: every state change is a conditional update, and TransitionLost says
when it lost (the check had left the state the change expects)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from silentcheck import aws, sealing
from silentcheck.checks import Binding, Check, Outcome, Reason, Status, next_poll_at
from silentcheck.config import settings
from silentcheck.store import counters, keys, sim_swap_items

AttributeValue = dict[str, Any]  # one DynamoDB attribute value: {"S": ...}, {"N": ...}, {"B": ...}, ...
_PENDING = {"S": Status.PENDING.value}


class TransitionLost(Exception):
    """A change lost: the check was not in the state the change expects (final, expired or not yet, the
    state used, its id taken…). `current` is the check as it was then; None when there is no such check."""

    def __init__(self, current: Check | None) -> None:
        super().__init__("check is not in the expected state")
        self.current = current


def _key(check_id: str) -> dict[str, Any]:
    return keys.item_key(keys.check(check_id))


def _to_item(check: Check, purge_at: int) -> dict[str, Any]:
    item: dict[str, Any] = {
        **_key(check.check_id),
        "check_id": {"S": check.check_id},
        "provider": {"S": check.provider},
        "status": {"S": check.status.value},
        "created_at": {"N": str(check.created_at)},
        "expires_at": {"N": str(check.expires_at)},
        "purge_at": {"N": str(purge_at)},
        "poll_token_hash": {"S": check.poll_token_hash},
        "number_key": {"S": check.number_key},
    }
    optional = {
        "reason": check.reason,
        "raw_code": check.raw_code,
        "binding": check.binding,
        "provider_ref": check.provider_ref,
        "provider_version": check.provider_version,
        "state_hash": check.state_hash,
        "completion_code_hash": check.completion_code_hash,
        "capability_hash": check.capability_hash,
    }
    item.update({name: {"S": str(value)} for name, value in optional.items() if value is not None})
    if check.attributes:
        item["attributes"] = {"M": {k: {"S": v} for k, v in check.attributes.items()}}
    if check.confidential:
        item["sealed"] = {"B": sealing.seal(check.confidential, check.check_id)}
    if check.subject:
        item["sealed_subject"] = {"B": sealing.seal({"phone_number": check.subject}, check.check_id)}
    if check.attestation:
        item["sealed_attestation"] = {"B": sealing.seal({"jws": check.attestation}, check.check_id)}
    if check.attempts:
        item["attempts"] = {"L": [{"S": a} for a in check.attempts]}
    numbers = {"completed_at": check.completed_at, "next_poll_at": check.next_poll_at,
               "poll_interval": check.poll_interval, "sim_swap_hours": check.sim_swap_hours}
    item.update({name: {"N": str(number)} for name, number in numbers.items() if number is not None})
    sim_swap_items.put(item, check.sim_swap)
    return item


def _from_item(item: dict[str, Any]) -> Check:
    """The check an item holds. Its sealed values (`confidential`, `subject`, `attestation`) are opened
    only where sealing.may_open(); elsewhere (provider_callback) they read as absent."""
    opened = sealing.may_open()

    def s(name: str) -> str | None:
        return item[name]["S"] if name in item else None

    def n(name: str) -> int | None:
        return int(item[name]["N"]) if name in item else None

    def unsealed(name: str) -> dict[str, str]:
        return sealing.unseal(item[name]["B"], item["check_id"]["S"]) if opened and name in item else {}

    def sealed(name: str, key: str) -> str | None:
        return unsealed(name).get(key)

    reason, binding = s("reason"), s("binding")
    return Check(
        check_id=item["check_id"]["S"],
        provider=item["provider"]["S"],
        status=Status(item["status"]["S"]),
        created_at=int(item["created_at"]["N"]),
        expires_at=int(item["expires_at"]["N"]),
        poll_token_hash=item["poll_token_hash"]["S"],
        number_key=item["number_key"]["S"],
        reason=Reason(reason) if reason else None,
        raw_code=s("raw_code"),
        binding=Binding(binding) if binding else None,
        completed_at=n("completed_at"),
        provider_ref=s("provider_ref"),
        provider_version=s("provider_version"),
        state_hash=s("state_hash"),
        completion_code_hash=s("completion_code_hash"),
        capability_hash=s("capability_hash"),
        attributes={k: v["S"] for k, v in item.get("attributes", {}).get("M", {}).items()},
        confidential=unsealed("sealed"),
        next_poll_at=n("next_poll_at"),
        poll_interval=n("poll_interval"),
        attempts=tuple(a["S"] for a in item.get("attempts", {}).get("L", [])),
        subject=sealed("sealed_subject", "phone_number"),
        attestation=sealed("sealed_attestation", "jws"),
        sim_swap_hours=n("sim_swap_hours"), sim_swap=sim_swap_items.answer_of(item),
    )


def _table() -> str:
    return settings().table_name


def _lost(error: Exception) -> TransitionLost:
    old = getattr(error, "response", {}).get("Item")
    return TransitionLost(_from_item(old) if old else None)


def create(check: Check, budgets: Sequence[counters.Take] = ()) -> None:
    """Write a new PENDING check, counted in `budgets` in the same write: one transaction, all or nothing
    (counters.BudgetSpent when a budget has no room: no check, nothing counted). Never over an existing
    item: TransitionLost, with the check as stored, when the id is taken (nothing written or counted)."""
    put = {"TableName": _table(), "Item": _to_item(check, purge_at=check.expires_at + settings().retention_seconds),
           "ConditionExpression": "attribute_not_exists(pk)", "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
    client = aws.client("dynamodb")
    try:
        if budgets:
            counters.take_all(budgets, with_items=[{"Put": put}])
        else:
            client.put_item(**put)
    except client.exceptions.ConditionalCheckFailedException as error:
        raise _lost(error) from None
    except client.exceptions.TransactionCanceledException as cancelled:
        reasons = cancelled.response.get("CancellationReasons", [])
        taken = reasons[len(budgets)] if len(reasons) > len(budgets) else {}  # the Put's, after the budgets'
        if taken.get("Code") != "ConditionalCheckFailed":
            raise
        raise TransitionLost(_from_item(taken["Item"]) if "Item" in taken else None) from None


def withdraw(check_id: str, now: int) -> Check:
    """Make a check recorded with its budgets but refused before any provider was asked (the deployment's
    budget, counted after it, was spent) unusable: it expires now, loses its return state, callback
    capability and number, and the table's TTL purges it. Nothing was handed out for it; no function may
    delete items (the template grants no DeleteItem on the checks table). Raises TransitionLost once a
    provider started it or it is final."""
    return _update(check_id, "#status = :pending AND attribute_not_exists(provider_ref)",
                   {":pending": _PENDING}, {"#status": "status"},
                   sets={"expires_at": {"N": str(now)}, "purge_at": {"N": str(now)}},
                   removes=("state_hash", "capability_hash", "sealed_subject"))


def get(check_id: str) -> Check | None:
    response = aws.client("dynamodb").get_item(TableName=_table(), Key=_key(check_id), ConsistentRead=True)
    item = response.get("Item")
    return _from_item(item) if item else None


def _optional(value: object, kind: str = "S") -> AttributeValue | None:
    """The attribute value of `value`; None (the field is left as stored) when there is none."""
    return {kind: str(value)} if value is not None else None


def _update(check_id: str, condition: str, values: dict[str, AttributeValue] | None = None,
            names: dict[str, str] | None = None, *, sets: dict[str, AttributeValue | None] | None = None,
            removes: tuple[str, ...] = ()) -> Check:
    """The one way a check changes: one conditional update of an existing check that sets `sets` (a field
    given None is left as stored) and removes `removes`; `values` and `names` are the condition's. The
    check as it is after it, or TransitionLost with the check as it was when `condition` did not hold."""
    assigned = {name: value for name, value in (sets or {}).items() if value is not None}
    clauses = {"SET": [f"#{name} = :{name}" for name in assigned], "REMOVE": [f"#{name}" for name in removes]}
    all_values = {**(values or {}), **{f":{name}": value for name, value in assigned.items()}}
    all_names = {**(names or {}), **{f"#{name}": name for name in (*assigned, *removes)}}  # `status` is reserved
    if len(all_values) != len(values or {}) + len(assigned):
        raise ValueError("a condition's value is named like a field the update sets")
    client = aws.client("dynamodb")
    try:
        response = client.update_item(
            TableName=_table(),
            Key=_key(check_id),
            UpdateExpression=" ".join(f"{verb} {', '.join(parts)}" for verb, parts in clauses.items() if parts),
            ConditionExpression=f"attribute_exists(pk) AND {condition}",
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
            ExpressionAttributeNames=all_names,
            **({"ExpressionAttributeValues": all_values} if all_values else {}),
        )
    except client.exceptions.ConditionalCheckFailedException as error:
        raise _lost(error) from None
    return _from_item(response["Attributes"])


def _update_pending(check_id: str, now: int, sets: dict[str, AttributeValue | None], condition: str = "",
                    values: dict[str, AttributeValue] | None = None, removes: tuple[str, ...] = ()) -> Check:
    """A conditional update that applies only while the check is PENDING and unexpired."""
    pending = "#status = :pending AND expires_at > :now"
    return _update(check_id, f"{pending} AND {condition}" if condition else pending,
                   {":pending": _PENDING, ":now": {"N": str(now)}, **(values or {})}, {"#status": "status"},
                   sets=sets, removes=removes)


def record_started(check_id: str, now: int, provider_ref: str | None, provider_version: str | None,
                   binding: Binding, expires_at: int, attributes: dict[str, str],
                   confidential: dict[str, str] | None = None, poll_interval: int | None = None,
                   provider: str | None = None, attempts: list[str] | None = None) -> Check:
    """Attach what the provider's acceptance tells us: its reference, the flow's binding, deadlines,
    and (encrypted) what the adapter needs again; `provider` when routing fell back to another one.
    What is not given (None or empty) is left as stored."""
    return _update_pending(check_id, now, {
        "binding": {"S": binding.value},
        "expires_at": {"N": str(expires_at)},
        "attributes": {"M": {k: {"S": v} for k, v in attributes.items()}},
        "provider_ref": _optional(provider_ref or None),
        "provider_version": _optional(provider_version or None),
        "sealed": {"B": sealing.seal(confidential, check_id)} if confidential else None,
        "poll_interval": _optional(poll_interval or None, "N"),
        "next_poll_at": _optional(next_poll_at(now, poll_interval) if poll_interval else None, "N"),
        "provider": _optional(provider or None),
        "attempts": {"L": [{"S": a} for a in attempts]} if attempts else None,
    })


def record_offer(check_id: str, now: int, provider: str, state_hash: str, capability_hash: str | None) -> Check:
    """A fallback offers the check to `provider`: its state and capability replace the refused provider's
    (no capability is stored where no callback URL is deployed)."""
    return _update_pending(check_id, now, {"provider": {"S": provider}, "state_hash": {"S": state_hash},
                                           "capability_hash": _optional(capability_hash or None)})


def claim_poll(check_id: str, now: int, due_at: int, next_at: int) -> Check:
    """Take the provider poll that fell due at `due_at`: of concurrent polls, exactly one asks."""
    return _update_pending(check_id, now, {"next_poll_at": {"N": str(next_at)}}, "next_poll_at = :due",
                           {":due": {"N": str(due_at)}})


def pace_polls(check_id: str, now: int, interval: int) -> Check:
    """The provider asked us to wait `interval` seconds between polls (CIBA `interval`, `slow_down`)."""
    return _update_pending(check_id, now, {"poll_interval": {"N": str(interval)},
                                           "next_poll_at": {"N": str(next_poll_at(now, interval))}})


def consume_state(check_id: str, state_hash: str, now: int, completion_code_hash: str) -> Check:
    """Use a device-return state exactly once (concurrent returns: one wins, the rest lose) and attach
    the completion code handed to that device. The check may be final already when something settled it
    first (finish keeps the state for the device's return)."""
    return _update(check_id, "state_hash = :state AND expires_at > :now",
                   {":state": {"S": state_hash}, ":now": {"N": str(now)}},
                   sets={"completion_code_hash": {"S": completion_code_hash}}, removes=("state_hash",))


def finish(check_id: str, outcome: Outcome, now: int, attempts: list[str] | None = None,
           provider: str | None = None) -> Check:
    """PENDING -> a final status. Raises TransitionLost if the check is final or expired already.
    The return state is kept, whoever finishes: the device may still come back for its completion code
    (consume_state uses it once, and only before expires_at)."""
    return _update_pending(check_id, now, {
        "status": {"S": outcome.status.value},
        "completed_at": {"N": str(now)},
        "purge_at": {"N": str(now + settings().retention_seconds)},
        "reason": _optional(outcome.reason),
        "raw_code": _optional(outcome.raw_code),
        "attempts": {"L": [{"S": a} for a in attempts]} if attempts else None,
        "sim_swap": sim_swap_items.attribute(outcome.sim_swap) if outcome.sim_swap is not None else None,
        "provider": _optional(provider or None),
    }, removes=("sealed",))


_EXPIRED = Outcome.expired()


def mark_expired(check_id: str, now: int) -> Check:
    """PENDING -> EXPIRED once expires_at has passed. Raises TransitionLost if the check is final already
    or not yet expired; the device's return state and the sealed values go with it."""
    return _update(check_id, "#status = :pending AND expires_at <= :now",
                   {":pending": _PENDING, ":now": {"N": str(now)}}, {"#status": "status"},
                   sets={"status": {"S": _EXPIRED.status.value}, "reason": _optional(_EXPIRED.reason),
                         "completed_at": {"N": str(now)}},
                   removes=("state_hash", "sealed"))


def save_attestation(check_id: str, attestation: str) -> Check:
    """Keep the signed result (sealed) for every later read, and forget the number it was signed for; only
    the first attestation is kept (TransitionLost, with the check as stored, for any later one)."""
    return _update(check_id, "attribute_not_exists(sealed_attestation)",
                   sets={"sealed_attestation": {"B": sealing.seal({"jws": attestation}, check_id)}},
                   removes=("sealed_subject",))
