"""The API's request and response shapes (what docs/openapi.json describes)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from silentcheck.binding import Shown
from silentcheck.checks import Binding, Check, Reason, Status


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    phone_number: object = Field(description="E.164, e.g. +447400900123")
    provider: str | None = Field(default=None, description="Ask for one provider, where allowed")
    operator_token: object = Field(default=None, description="A TS.43 operator token minted on the phone (CAMARA)")
    device_ip: object = Field(default=None, description="The phone's address as the customer's backend saw it "
                                                        "(backend mode only)")
    sim_swap: object = Field(default=None, description='Also ask whether the SIM changed lately: {"max_age_hours": N}')


class ApiModel(BaseModel):
    """A response body: absent optional fields are left out, except those the API always shows."""

    always_shown: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _drop_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if v is not None or k in self.always_shown}


class CheckCreated(ApiModel):
    always_shown = frozenset({"check_url"})  # null says "no device hop in this flow"

    check_id: str
    check_url: str | None
    poll_token: str
    provider: str
    status: Status
    reason: Reason | None = None
    binding: Binding | None = None  # what the flow will rely on: says whether a device hop follows
    expires_at: str


class SimSwapView(ApiModel):
    always_shown = frozenset({"swapped"})  # null says "asked for, but the provider gave no answer" (reason)

    max_age_hours: int
    swapped: bool | None
    changed_within_hours: int | None = None
    reason: str | None = None


class CheckView(ApiModel):
    check_id: str
    status: Status
    reason: Reason | None = None
    provider: str
    binding: Binding | None = None
    completed_at: str | None = None
    attestation: str | None = None  # compact JWS (ES256) of a final result, for the customer's backend
    sim_swap: SimSwapView | None = None  # VERIFIED checks that asked: the SIM-swap answer, or why there is none

    @classmethod
    def of(cls, check: Check, shown: Shown, attestation: str | None = None) -> CheckView:
        """The view of `check` as binding.reveal decided it is `shown`: the record's completion time and
        binding go with its own final verdict only, so a hidden or not yet recorded expiry has neither."""
        return cls(
            check_id=check.check_id,
            status=shown.status,
            reason=shown.reason,
            provider=check.provider,
            binding=check.binding if shown.final and shown.status is Status.VERIFIED else None,
            completed_at=iso(check.completed_at) if shown.final and check.completed_at else None,
            attestation=attestation,
            sim_swap=SimSwapView(**answer.claim()) if (answer := check.sim_swap_shown(shown.status)) else None,
        )


class DeviceReturned(ApiModel):
    check_id: str
    completion_code: str
