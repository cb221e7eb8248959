"""The API's request and response shapes (what docs/openapi.json describes)."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from silentcheck.checks import Binding, Check, Reason, Status


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    phone_number: object = Field(description="E.164, e.g. +447700900123")
    provider: str | None = Field(default=None, description="Ask for one provider, where allowed")


class CheckCreated(BaseModel):
    check_id: str
    check_url: str | None
    poll_token: str
    provider: str
    status: Status
    reason: Reason | None = None
    expires_at: str


class CheckView(BaseModel):
    check_id: str
    status: Status
    reason: Reason | None = None
    provider: str
    binding: Binding | None = None
    completed_at: str | None = None

    @classmethod
    def of(cls, check: Check, status: Status) -> CheckView:
        final = status.is_final and status is check.status
        return cls(
            check_id=check.check_id,
            status=status,
            reason=check.reason if final else (Reason.DEVICE_TIMEOUT if status is Status.EXPIRED else None),
            provider=check.provider,
            binding=check.binding if status is Status.VERIFIED else None,
            completed_at=iso(check.completed_at) if final and check.completed_at else None,
        )


class DeviceReturned(BaseModel):
    check_id: str
    completion_code: str
