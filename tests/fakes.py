"""In-memory stand-ins for the service's collaborators (silentcheck.deps): a store with the same
conditional rules as the DynamoDB one, scripted providers, a clock that moves only when told, and a
signer that counts its signatures. Unit tests of the service use them; no sleeps, no I/O."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from silentcheck.binding import Minted
from silentcheck.checks import Binding, Check, Outcome, Status, next_poll_at
from silentcheck.deps import Deps
from silentcheck.providers.base import (
    CallbackRequest,
    DeviceNetwork,
    PollAgain,
    ProviderRefused,
    StartContext,
    Started,
)
from silentcheck.providers.measured import Measured, measured
from silentcheck.store import TransitionLost
from silentcheck.store.counters import BudgetSpent, Take


class FakeClock:
    def __init__(self, now: int = 1_800_000_000) -> None:
        self.current = now
        self.slept: list[float] = []
        self.on_sleep: Callable[[], object] | None = None  # what "meanwhile" happens elsewhere

    def now(self) -> int:
        return self.current

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if self.on_sleep:
            self.on_sleep()

    def advance(self, seconds: int) -> None:
        self.current += seconds


class FakeSigner:
    """Signs by writing the claims out (not a JWS a verifier accepts: the service never parses it)."""

    def __init__(self) -> None:
        self.signed: list[dict[str, Any]] = []
        self.failures = 0  # the next `failures` signatures fail, as KMS might

    def sign(self, claims: Mapping[str, object]) -> str:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("KMS is unavailable")
        self.signed.append(dict(claims))
        return f"signed.{json.dumps(dict(claims), sort_keys=True)}.{len(self.signed)}"


class FakeStore:
    """The checks table in memory. Each change is one conditional update, as in store/check_items.py: the
    same condition, the same fields left as stored when not given, TransitionLost with the check as it
    was when it lost. tests/integration/test_store_contract.py runs the same tests on both."""

    def __init__(self, counters: FakeCounters | None = None) -> None:
        self.checks: dict[str, Check] = {}
        self.counters = counters or FakeCounters()  # the budgets a check is created with are counted here
        self.lock = threading.Lock()
        self.on_save_attestation: Callable[[str], object] | None = None  # lets a test interleave a rival, once
        self.on_claim_poll: Callable[[str], object] | None = None  # likewise, once, before the next claim
        self.on_mark_expired: Callable[[str], object] | None = None  # likewise, once, before the next expiry

    def create(self, check: Check, budgets: Sequence[Take] = ()) -> None:
        with self.lock:
            if check.check_id in self.checks:
                raise TransitionLost(self.checks[check.check_id])
            self.counters.take_all(budgets)  # all or nothing, as the one transaction: BudgetSpent, no check
            self.checks[check.check_id] = check

    def withdraw(self, check_id: str, now: int) -> Check:
        return self._update(check_id, lambda c: c.status is Status.PENDING and c.provider_ref is None,
                            lambda c: replace(c, expires_at=now, state_hash=None, capability_hash=None, subject=None))

    def get(self, check_id: str) -> Check | None:
        return self.checks.get(check_id)

    def _update(self, check_id: str, condition: Callable[[Check], bool], change: Callable[[Check], Check]) -> Check:
        """The one way a check changes (check_items._update): `change` applies only when `condition` holds."""
        with self.lock:
            check = self.checks.get(check_id)
            if check is None or not condition(check):
                raise TransitionLost(check)
            self.checks[check_id] = changed = change(check)
            return changed

    def _update_pending(self, check_id: str, now: int, change: Callable[[Check], Check],
                        condition: Callable[[Check], bool] = lambda _: True) -> Check:
        return self._update(check_id, lambda c: c.status is Status.PENDING and c.expires_at > now and condition(c),
                            change)

    def record_started(self, check_id: str, now: int, provider_ref: str | None, provider_version: str | None,
                       binding: Binding, expires_at: int, attributes: dict[str, str],
                       confidential: dict[str, str] | None = None, poll_interval: int | None = None,
                       provider: str | None = None, attempts: list[str] | None = None) -> Check:
        def change(c: Check) -> Check:
            return replace(c, binding=binding, expires_at=expires_at, attributes=attributes,
                           provider_ref=provider_ref or c.provider_ref,
                           provider_version=provider_version or c.provider_version,
                           confidential=confidential or c.confidential,
                           poll_interval=poll_interval or c.poll_interval,
                           next_poll_at=next_poll_at(now, poll_interval) if poll_interval else c.next_poll_at,
                           provider=provider or c.provider, attempts=tuple(attempts) if attempts else c.attempts)
        return self._update_pending(check_id, now, change)

    def record_offer(self, check_id: str, now: int, provider: str, state_hash: str,
                     capability_hash: str | None) -> Check:
        return self._update_pending(check_id, now, lambda c: replace(
            c, provider=provider, state_hash=state_hash, capability_hash=capability_hash or c.capability_hash))

    def claim_poll(self, check_id: str, now: int, due_at: int, next_at: int) -> Check:
        rival, self.on_claim_poll = self.on_claim_poll, None
        if rival:
            rival(check_id)
        return self._update_pending(check_id, now, lambda c: replace(c, next_poll_at=next_at),
                                    lambda c: c.next_poll_at == due_at)

    def pace_polls(self, check_id: str, now: int, interval: int) -> Check:
        return self._update_pending(check_id, now, lambda c: replace(c, poll_interval=interval,
                                                                     next_poll_at=next_poll_at(now, interval)))

    def consume_state(self, check_id: str, state_hash: str, now: int, completion_code_hash: str) -> Check:
        return self._update(check_id, lambda c: c.state_hash == state_hash and c.expires_at > now,
                            lambda c: replace(c, state_hash=None, completion_code_hash=completion_code_hash))

    def finish(self, check_id: str, outcome: Outcome, now: int, attempts: list[str] | None = None,
               provider: str | None = None) -> Check:
        def change(c: Check) -> Check:
            return replace(c, status=outcome.status, completed_at=now, confidential={},
                           reason=outcome.reason if outcome.reason is not None else c.reason,
                           raw_code=outcome.raw_code if outcome.raw_code is not None else c.raw_code,
                           attempts=tuple(attempts) if attempts else c.attempts, provider=provider or c.provider,
                           sim_swap=outcome.sim_swap if outcome.sim_swap is not None else c.sim_swap)
        return self._update_pending(check_id, now, change)

    def mark_expired(self, check_id: str, now: int) -> Check:
        rival, self.on_mark_expired = self.on_mark_expired, None
        if rival:
            rival(check_id)
        expired = Outcome.expired()
        return self._update(check_id, lambda c: c.status is Status.PENDING and c.expires_at <= now,
                            lambda c: replace(c, status=expired.status, reason=expired.reason, completed_at=now,
                                              state_hash=None, confidential={}))

    def save_attestation(self, check_id: str, attestation: str) -> Check:
        rival, self.on_save_attestation = self.on_save_attestation, None
        if rival:
            rival(check_id)
        return self._update(check_id, lambda c: c.attestation is None,
                            lambda c: replace(c, attestation=attestation, subject=None))


class FakeCounters:
    """The shared counters in memory (start budgets, circuit breakers), with the same rules as
    store/counters.py."""

    def __init__(self) -> None:
        self.hits: dict[tuple[str, str, int], int] = {}
        self.members: dict[tuple[str, str, int], set[str]] = {}
        self.breakers: dict[str, dict[str, int]] = {}

    def take(self, scope: str, subject: str, window: int, count: int, window_end: int) -> bool:
        key = (scope, subject, window)
        if self.hits.get(key, 0) >= count:
            return False
        self.hits[key] = self.hits.get(key, 0) + 1
        return True

    def admit(self, scope: str, subject: str, member: str, window: int, count: int, window_end: int) -> bool:
        members = self.members.setdefault((scope, subject, window), set())
        if member not in members and len(members) >= count:
            return False
        members.add(member)
        return True

    def take_all(self, budgets: Sequence[Take]) -> None:
        for budget in budgets:  # nothing is counted unless every budget has room
            if budget.member is None:
                full = self.hits.get(_window_of(budget), 0) >= budget.count
            else:
                members = self.members.get(_window_of(budget), set())
                full = budget.member not in members and len(members) >= budget.count
            if full:
                raise BudgetSpent(budget.scope)
        for budget in budgets:
            if budget.member is None:
                self.take(budget.scope, budget.subject, budget.window, budget.count, budget.window_end)
            else:
                self.admit(budget.scope, budget.subject, budget.member, budget.window, budget.count,
                           budget.window_end)

    def breaker_states(self, names: tuple[str, ...]) -> dict[str, dict[str, int]]:
        return {name: dict(self.breakers[name]) for name in names if name in self.breakers}

    def _breaker(self, provider: str) -> dict[str, int]:
        return self.breakers.setdefault(provider, {"failures": 0, "window_start": 0, "open_until": 0})

    def count_failure(self, provider: str, now: int, window_seconds: int) -> int:
        state = self._breaker(provider)
        if state["window_start"] > now - window_seconds:
            state["failures"] += 1
        else:  # no failure yet, or the window is over
            state.update(failures=1, window_start=now)
        return state["failures"]

    def open_breaker(self, provider: str, now: int, open_until: int) -> None:
        self._breaker(provider).update(open_until=open_until, failures=0, window_start=now)

    def close_breaker(self, provider: str) -> None:
        self._breaker(provider).update(failures=0, open_until=0)


def _window_of(budget: Take) -> tuple[str, str, int]:
    return budget.scope, budget.subject, budget.window


@dataclass
class FakeCoreProvider:
    """A provider with only what every adapter does (providers.base.Provider), answering as the test
    scripts: a refusal or an error at start, the verdict at the return, what a poll yields."""

    binding: Binding = Binding.DEVICE
    refusal: Outcome | None = None  # start raises ProviderRefused with it
    start_error: Exception | None = None  # start raises it (a bug, a dropped connection)
    poll_interval: int | None = None  # Started.poll_interval: the provider paces its polls (CIBA)
    on_return_outcome: Outcome | None = None
    refresh_result: Outcome | PollAgain | None = None
    started: list[StartContext] = field(default_factory=list)  # every start asked of it, refused or not
    refreshed: list[str] = field(default_factory=list)  # the check ids it was asked about on a poll
    during_refresh: Callable[[], object] | None = None  # what "meanwhile" happens elsewhere
    name: ClassVar[str] = "truid"

    def start(self, ctx: StartContext) -> Started:
        self.started.append(ctx)
        if self.start_error is not None:
            raise self.start_error
        if self.refusal is not None:
            raise ProviderRefused(self.refusal)
        check_url = f"https://provider.example/{ctx.check_id}" if self.binding is Binding.DEVICE else None
        return Started(provider_ref=f"ref-{len(self.started)}", check_url=check_url, binding=self.binding,
                       poll_interval=self.poll_interval)

    def on_return(self, check: Check, query: Mapping[str, str]) -> Outcome | None:
        return self.on_return_outcome

    def refresh(self, check: Check) -> Outcome | PollAgain | None:
        self.refreshed.append(check.check_id)
        if self.during_refresh:
            self.during_refresh()
        return self.refresh_result


@dataclass
class FakeProvider(FakeCoreProvider):
    """A provider that also pushes results to provider_callback (providers.base.PushesResults), as
    tru.ID and Infobip do."""

    callback_outcome: Outcome | None = None
    during_callback: Callable[[], object] | None = None

    def on_callback(self, check: Check, request: CallbackRequest) -> Outcome | None:
        if self.during_callback:
            self.during_callback()
        return self.callback_outcome


@dataclass
class FakeOperatorTokenProvider(FakeCoreProvider):
    """A provider that also takes a TS.43 operator token (providers.base.TakesOperatorToken), as CAMARA's
    CIBA does."""

    binding: Binding = Binding.OPERATOR_TOKEN

    def start_with_operator_token(self, ctx: StartContext) -> Started:
        return self.start(ctx)


@dataclass
class FakeCoverageProvider(FakeProvider):
    """A provider that also answers coverage lookups (providers.base.CoverageLookup), as tru.ID does."""

    network: DeviceNetwork | None = None  # what the lookup says of every IP
    looked_up: list[str] = field(default_factory=list)

    def device_network(self, ip: str) -> DeviceNetwork | None:
        self.looked_up.append(ip)
        return self.network


@dataclass
class FakeProviders:
    """The registry over fake adapters: each handed out measured, as providers.get hands out the real ones."""

    adapters: dict[str, FakeCoreProvider]

    def get(self, name: str) -> Measured:
        return measured(self.adapters[name])

    def names(self) -> tuple[str, ...]:
        return tuple(self.adapters)


PEPPER = "a-pepper-of-at-least-16-characters"


def configure_for_fakes(monkeypatch: Any, **environment: str) -> None:
    """The environment a service wired to fakes reads (config.settings, ROUTING, LIMITS) and a pepper
    that needs no secret; `environment` adds or overrides variables. Undone by monkeypatch."""
    from silentcheck import config, credentials

    for name in ("ATTESTATION_AUDIENCE", "ATTESTATION_TTL_SECONDS", "CALLBACK_URL", "ROUTING", "LIMITS",
                 "CHECK_TTL_SECONDS", "ALLOW_UNBOUND_CHECKS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {"TABLE_NAME": "unused-by-fakes", "SECRET_ID": "unused-by-fakes",
                        "CALLBACK_SECRET_ID": "unused-by-fakes", **environment}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(credentials, "pepper", lambda: PEPPER)
    config.reset()


@dataclass
class World:
    """A service wired to fakes, with handles on each."""

    store: FakeStore = field(default_factory=FakeStore)
    counters: FakeCounters = field(default_factory=FakeCounters)
    clock: FakeClock = field(default_factory=FakeClock)
    signer: FakeSigner = field(default_factory=FakeSigner)
    provider: FakeProvider = field(default_factory=FakeProvider)
    others: dict[str, FakeCoreProvider] = field(default_factory=dict)  # more providers, by name

    def __post_init__(self) -> None:
        self.store.counters = self.counters  # one table: the budgets a start records its check with are these

    @property
    def deps(self) -> Deps:
        adapters = FakeProviders({self.provider.name: self.provider, **self.others})
        return Deps(store=self.store, counters=self.counters, providers=adapters, clock=self.clock,
                    signer=self.signer)

    def started(self, flow: Binding = Binding.NONE, poll_interval: int | None = None,
                ttl: int = 300) -> Minted:
        """A check the provider accepted, as service.start records it; with `poll_interval`, a flow that
        paces its polls."""
        minted = Minted.new()
        now = self.clock.now()
        self.store.create(Check(
            check_id=minted.check_id, provider=self.provider.name, status=Status.PENDING, created_at=now,
            expires_at=now + ttl, poll_token_hash=minted.poll_token_hash, number_key="k",
            state_hash=minted.state_hash, capability_hash=minted.capability_hash, subject="+447400900002",
        ))
        self.store.record_started(minted.check_id, now, "ref-1", None, flow, now + ttl, {},
                                  poll_interval=poll_interval)
        return minted

    def poll(self, minted: Minted) -> Status:
        """What the app's poll (poll token, no completion code) reads."""
        from silentcheck import service

        return service.poll(minted.check_id, minted.poll_token, None, "https://api.example.com/v1",
                            self.deps).status

    def callback(self, minted: Minted) -> None:
        """The provider pushes to this check's callback URL."""
        from silentcheck import service

        service.provider_callback(self.provider.name, minted.capability,
                                  CallbackRequest("POST", f"/{self.provider.name}/x", {}, {}, b"{}"), self.deps)
