"""The checks' items in the table: every state change is a conditional update, and TransitionLost says
when it lost (the check had left the state the change expects)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from silentcheck import aws, observability, sealing
from silentcheck.checks import Binding, Check, Outcome, Reason, Status, next_poll_at
from silentcheck.config import settings
from silentcheck.store import counters, keys, sim_swap_items

_PENDING = {"S": Status.PENDING.value}


class TransitionLost(Exception):
    """The conditional update lost: the check is no longer PENDING, expired, or the state was used."""

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
    """Write a new PENDING check (never over an existing item), counted in `budgets` in the same write: one
    transaction, all or nothing (counters.BudgetSpent when a budget has no room: no check, nothing counted)."""
    put = {"TableName": _table(), "Item": _to_item(check, purge_at=check.expires_at + settings().retention_seconds),
           "ConditionExpression": "attribute_not_exists(pk)"}
    if budgets:
        counters.take_all(budgets, with_items=[{"Put": put}])
    else:
        aws.client("dynamodb").put_item(**put)


def withdraw(check_id: str, now: int) -> None:
    """Make a check recorded with its budgets but refused before any provider was asked (the deployment's
    budget, counted after it, was spent) unusable: it expires now, loses its return state, callback
    capability and number, and the table's TTL purges it. Nothing was handed out for it; no function may
    delete items (the template grants no DeleteItem on the checks table)."""
    with contextlib.suppress(TransitionLost):
        _update(check_id, "SET expires_at = :now, purge_at = :now REMOVE state_hash, capability_hash, sealed_subject",
                "#status = :pending AND attribute_not_exists(provider_ref)",
                {":pending": _PENDING, ":now": {"N": str(now)}}, {"#status": "status"})


def get(check_id: str) -> Check | None:
    response = aws.client("dynamodb").get_item(TableName=_table(), Key=_key(check_id), ConsistentRead=True)
    item = response.get("Item")
    return _from_item(item) if item else None


def _update(check_id: str, update: str, condition: str, values: dict[str, Any],
            names: dict[str, str] | None = None) -> Check:
    """One conditional update of an existing check: the check as it is after it, or TransitionLost with
    the check as it was when the condition did not hold."""
    client = aws.client("dynamodb")
    try:
        response = client.update_item(
            TableName=_table(),
            Key=_key(check_id),
            UpdateExpression=update,
            ConditionExpression=f"attribute_exists(pk) AND {condition}",
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
            **({"ExpressionAttributeValues": values} if values else {}),
            **({"ExpressionAttributeNames": names} if names else {}),
        )
    except client.exceptions.ConditionalCheckFailedException as error:
        raise _lost(error) from None
    return _from_item(response["Attributes"])


def _update_pending(check_id: str, now: int, update: str, condition: str = "", **values: Any) -> Check:
    """A conditional update that applies only while the check is PENDING and unexpired."""
    attribute_values = {":pending": _PENDING, ":now": {"N": str(now)}, **values}
    pending = "#status = :pending AND expires_at > :now"
    return _update(check_id, update, f"{pending} AND {condition}" if condition else pending, attribute_values,
                   {"#status": "status"})


def record_started(check_id: str, now: int, provider_ref: str | None, provider_version: str | None,
                   binding: Binding, expires_at: int, attributes: dict[str, str],
                   confidential: dict[str, str] | None = None, poll_interval: int | None = None,
                   provider: str | None = None, attempts: list[str] | None = None) -> Check:
    """Attach what the provider's acceptance tells us: its reference, the flow's binding, deadlines,
    and (encrypted) what the adapter needs again; `provider` when routing fell back to another one."""
    values: dict[str, Any] = {
        ":binding": {"S": binding.value},
        ":expires": {"N": str(expires_at)},
        ":attrs": {"M": {k: {"S": v} for k, v in attributes.items()}},
    }
    sets = ["binding = :binding", "expires_at = :expires", "attributes = :attrs"]
    optional: dict[str, dict[str, Any] | None] = {
        "provider_ref": {"S": provider_ref} if provider_ref else None,
        "provider_version": {"S": provider_version} if provider_version else None,
        "sealed": {"B": sealing.seal(confidential, check_id)} if confidential else None,
        "poll_interval": {"N": str(poll_interval)} if poll_interval else None,
        "next_poll_at": {"N": str(next_poll_at(now, poll_interval))} if poll_interval else None,
        "provider": {"S": provider} if provider else None,
        "attempts": {"L": [{"S": a} for a in attempts]} if attempts else None,
    }
    for name, value in optional.items():
        if value is not None:
            values[f":{name}"] = value
            sets.append(f"{name} = :{name}")
    return _update_pending(check_id, now, f"SET {', '.join(sets)}", **values)


def record_offer(check_id: str, now: int, provider: str, state_hash: str, capability_hash: str | None) -> Check:
    """A fallback offers the check to `provider`: its state and capability replace the refused provider's."""
    values: dict[str, Any] = {":provider": {"S": provider}, ":state": {"S": state_hash}}
    sets = "provider = :provider, state_hash = :state"
    if capability_hash:  # none is stored where no callback URL is deployed
        values[":capability"] = {"S": capability_hash}
        sets += ", capability_hash = :capability"
    return _update_pending(check_id, now, f"SET {sets}", **values)


def claim_poll(check_id: str, now: int, due_at: int, next_at: int) -> Check:
    """Take the provider poll that fell due at `due_at`: of concurrent polls, exactly one asks."""
    values: dict[str, Any] = {":next": {"N": str(next_at)}, ":due": {"N": str(due_at)}}
    return _update_pending(check_id, now, "SET next_poll_at = :next", "next_poll_at = :due", **values)


def pace_polls(check_id: str, now: int, interval: int) -> Check:
    """The provider asked us to wait `interval` seconds between polls (CIBA `interval`, `slow_down`)."""
    values: dict[str, Any] = {":interval": {"N": str(interval)}, ":next": {"N": str(next_poll_at(now, interval))}}
    return _update_pending(check_id, now, "SET poll_interval = :interval, next_poll_at = :next", **values)


def consume_state(check_id: str, state_hash: str, now: int, completion_code_hash: str) -> Check:
    """Use a device-return state exactly once (concurrent returns: one wins, the rest lose) and attach
    the completion code handed to that device. The check may be final already when something settled it
    first (finish keeps the state for the device's return)."""
    return _update(check_id, "SET completion_code_hash = :code REMOVE state_hash",
                   "state_hash = :state AND expires_at > :now",
                   {":state": {"S": state_hash}, ":now": {"N": str(now)}, ":code": {"S": completion_code_hash}})


def finish(check_id: str, outcome: Outcome, now: int, attempts: list[str] | None = None,
           provider: str | None = None) -> Check:
    """PENDING -> a final status. Raises TransitionLost if the check is final or expired already.
    The return state is kept, whoever finishes: the device may still come back for its completion code
    (consume_state uses it once, and only before expires_at)."""
    values: dict[str, Any] = {
        ":status": {"S": outcome.status.value},
        ":completed": {"N": str(now)},
        ":purge": {"N": str(now + settings().retention_seconds)},
    }
    sets = ["#status = :status", "completed_at = :completed", "purge_at = :purge"]
    optional: dict[str, dict[str, Any] | None] = {
        "reason": {"S": outcome.reason.value} if outcome.reason is not None else None,
        "raw_code": {"S": outcome.raw_code} if outcome.raw_code is not None else None,
        "attempts": {"L": [{"S": a} for a in attempts]} if attempts else None,
        "sim_swap": sim_swap_items.attribute(outcome.sim_swap) if outcome.sim_swap is not None else None,
        "provider": {"S": provider} if provider else None,
    }
    present = {name: value for name, value in optional.items() if value is not None}
    values.update({f":{name}": value for name, value in present.items()})
    sets += [f"{name} = :{name}" for name in present]
    update = f"SET {', '.join(sets)} REMOVE sealed"
    finished = _update_pending(check_id, now, update, **values)
    observability.finished(finished)  # only the transition that won gets here: each check counts once
    return finished


_EXPIRED = Outcome.expired()


def mark_expired(check_id: str, now: int) -> Check | None:
    """Record EXPIRED for a PENDING check whose expires_at has passed (best effort, idempotent)."""
    client = aws.client("dynamodb")
    try:
        response = client.update_item(
            TableName=_table(),
            Key=_key(check_id),
            UpdateExpression="SET #status = :expired, reason = :reason, completed_at = :now REMOVE state_hash, sealed",
            ConditionExpression="attribute_exists(pk) AND #status = :pending AND expires_at <= :now",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":pending": _PENDING,
                ":expired": {"S": _EXPIRED.status.value},
                ":reason": {"S": str(_EXPIRED.reason)},
                ":now": {"N": str(now)},
            },
            ReturnValues="ALL_NEW",
        )
    except client.exceptions.ConditionalCheckFailedException:
        return None
    expired = _from_item(response["Attributes"])
    observability.finished(expired)
    return expired


def save_attestation(check_id: str, attestation: str) -> Check:
    """Keep the signed result (sealed) for every later read, and forget the number it was signed for; only
    the first attestation is kept (TransitionLost, with the check as stored, for any later one)."""
    return _update(check_id, "SET sealed_attestation = :jws REMOVE sealed_subject",
                   "attribute_not_exists(sealed_attestation)",
                   {":jws": {"B": sealing.seal({"jws": attestation}, check_id)}})
