"""The service's collaborators, as Protocols, and the real ones a Lambda container uses.

The service takes a `Deps`, so its rules (binding, fallback, breakers, pacing, races, expiry) are
unit-tested with an in-memory store and counters, fake providers, a fake clock and a fake signer;
handlers pass `Deps.real()`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from silentcheck.checks import Binding, Check, Outcome
from silentcheck.providers.measured import Measured
from silentcheck.store.counters import Take


class Clock(Protocol):
    def now(self) -> int:
        """Epoch seconds."""
        ...

    def sleep(self, seconds: float) -> None: ...


class Signer(Protocol):
    def sign(self, claims: Mapping[str, object]) -> str:
        """A compact JWS over `claims`."""
        ...


class Providers(Protocol):
    def get(self, name: str) -> Measured:
        """The adapter, measured (providers/measured.py)."""
        ...

    def names(self) -> tuple[str, ...]: ...


class Store(Protocol):
    """What silentcheck.store offers; every change is conditional and raises store.TransitionLost when
    the check is not in the state the change expects."""

    def create(self, check: Check, budgets: Sequence[Take] = ()) -> None: ...

    def withdraw(self, check_id: str, now: int) -> Check: ...

    def get(self, check_id: str) -> Check | None: ...

    def record_started(self, check_id: str, now: int, provider_ref: str | None, provider_version: str | None,
                       binding: Binding, expires_at: int, attributes: dict[str, str],
                       confidential: dict[str, str] | None = None, poll_interval: int | None = None,
                       provider: str | None = None, attempts: list[str] | None = None) -> Check: ...

    def record_offer(self, check_id: str, now: int, provider: str, state_hash: str,
                     capability_hash: str | None) -> Check: ...

    def claim_poll(self, check_id: str, now: int, due_at: int, next_at: int) -> Check: ...

    def pace_polls(self, check_id: str, now: int, interval: int) -> Check: ...

    def consume_state(self, check_id: str, state_hash: str, now: int, completion_code_hash: str) -> Check: ...

    def finish(self, check_id: str, outcome: Outcome, now: int, attempts: list[str] | None = None,
               provider: str | None = None) -> Check: ...

    def mark_expired(self, check_id: str, now: int) -> Check: ...

    def save_attestation(self, check_id: str, attestation: str) -> Check: ...


class Counters(Protocol):
    """What silentcheck.store.counters offers: the start budgets and circuit breakers every container
    shares."""

    def take(self, scope: str, subject: str, window: int, count: int, window_end: int) -> bool: ...

    def admit(self, scope: str, subject: str, member: str, window: int, count: int, window_end: int) -> bool: ...

    def take_all(self, budgets: Sequence[Take]) -> None: ...

    def breaker_states(self, names: tuple[str, ...]) -> dict[str, dict[str, int]]: ...

    def count_failure(self, provider: str, now: int, window_seconds: int) -> int: ...

    def open_breaker(self, provider: str, now: int, open_until: int) -> None: ...

    def close_breaker(self, provider: str) -> None: ...


class _Registry:
    def get(self, name: str) -> Measured:
        from silentcheck import providers

        return providers.get(name)

    def names(self) -> tuple[str, ...]:
        from silentcheck import providers

        return providers.names()


@dataclass(frozen=True)
class Deps:
    store: Store
    counters: Counters
    providers: Providers
    clock: Clock
    signer: Signer

    @classmethod
    def real(cls) -> Deps:
        from silentcheck import signing_keys, store
        from silentcheck.clock import SystemClock

        return cls(store=store, counters=store.counters, providers=_Registry(), clock=SystemClock(),
                   signer=signing_keys.signer())
