"""A check's SIM-swap answer as a DynamoDB attribute (`sim_swap`; the hours asked are `sim_swap_hours`, a number)."""

from __future__ import annotations

from typing import Any

from silentcheck.sim_swap import SimSwapAnswer


def attribute(answer: SimSwapAnswer) -> dict[str, Any]:
    """The answer as one map attribute; `swapped` absent when the provider gave no answer."""
    fields: dict[str, Any] = {"max_age_hours": {"N": str(answer.max_age_hours)}}
    if answer.swapped is not None:
        fields["swapped"] = {"BOOL": answer.swapped}
    if answer.changed_within_hours is not None:
        fields["changed_within_hours"] = {"N": str(answer.changed_within_hours)}
    if answer.raw_code is not None:
        fields["raw_code"] = {"S": answer.raw_code}
    return {"M": fields}


def put(item: dict[str, Any], answer: SimSwapAnswer | None) -> None:
    if answer is not None:
        item["sim_swap"] = attribute(answer)


def answer_of(item: dict[str, Any]) -> SimSwapAnswer | None:
    fields = item.get("sim_swap", {}).get("M")
    if not fields:
        return None
    within = fields.get("changed_within_hours")
    return SimSwapAnswer(
        max_age_hours=int(fields["max_age_hours"]["N"]),
        swapped=fields["swapped"]["BOOL"] if "swapped" in fields else None,
        changed_within_hours=int(within["N"]) if within else None,
        raw_code=fields["raw_code"]["S"] if "raw_code" in fields else None,
    )
