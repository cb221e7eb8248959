"""The check lifecycle as a Hypothesis state machine: checks started with a device hop, device returns,
provider callbacks and poll answers with any verdict, polls with and without the completion code (or a
wrong one), the clock moving, KMS failing, in any order, against the service with in-memory fakes.

After every step: a final status never changes; a VERIFIED answer needs every binding step (the device's
return and the code it was given); what a caller without the code sees depends only on the clock, never
on the verdict."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from silentcheck import binding, config, service
from silentcheck.checks import Binding, Check, Outcome, Reason, Status
from silentcheck.errors import CompletionCodeInvalid, InvalidReturn
from silentcheck.providers.base import CallbackRequest
from tests.fakes import World

ISSUER = "https://api.example.com/v1"
TTL_SECONDS = 300
VERDICTS = st.sampled_from([Outcome.verified(), Outcome.not_verified(),
                            Outcome.failed(Reason.REDIRECT_FAILED, "e"), Outcome.failed(Reason.PROVIDER_ERROR, "p")])
MAYBE_VERDICT = st.one_of(st.none(), VERDICTS)


@dataclass
class Tracked:
    minted: binding.Minted
    code: str | None = None  # the completion code the device received, once it returned


class CheckLifecycle(RuleBasedStateMachine):
    checks = Bundle("checks")

    def __init__(self) -> None:
        super().__init__()
        self.world = World()
        self.tracked: dict[str, Tracked] = {}
        self.final: dict[str, tuple[Status, Reason | None]] = {}

    @rule(target=checks)
    def start(self) -> str:
        """A check a provider accepted, with a device hop (the flows binding matters for)."""
        minted = binding.Minted.new()
        now = self.world.clock.now()
        self.world.store.create(Check(
            check_id=minted.check_id, provider=self.world.provider.name, status=Status.PENDING, created_at=now,
            expires_at=now + TTL_SECONDS, poll_token_hash=minted.poll_token_hash, number_key="k",
            binding=Binding.DEVICE, provider_ref="ref", state_hash=minted.state_hash,
            capability_hash=minted.capability_hash, subject="+447400900002"))
        self.tracked[minted.check_id] = Tracked(minted)
        return minted.check_id

    @rule(check_id=checks, outcome=MAYBE_VERDICT)
    def device_returns(self, check_id: str, outcome: Outcome | None) -> None:
        tracked = self.tracked[check_id]
        self.world.provider.on_return_outcome = outcome
        try:
            returned = service.device_return({"state": tracked.minted.state}, self.world.deps)
        except InvalidReturn:
            return  # used already, or expired: nothing changes
        assert tracked.code is None, "a state was used twice"
        tracked.code = returned.completion_code

    @rule(check_id=checks, outcome=MAYBE_VERDICT)
    def provider_calls_back(self, check_id: str, outcome: Outcome | None) -> None:
        self.world.provider.callback_outcome = outcome
        service.provider_callback(self.world.provider.name, self.tracked[check_id].minted.capability,
                                  CallbackRequest("POST", "/truid/x", {}, {}, b"{}"), self.world.deps)

    @rule(check_id=checks, outcome=MAYBE_VERDICT, which=st.sampled_from(["none", "right", "wrong"]))
    def app_polls(self, check_id: str, outcome: Outcome | None, which: str) -> None:
        tracked = self.tracked[check_id]
        self.world.provider.refresh_result = outcome  # what the provider answers if asked
        code = {"none": None, "right": tracked.code, "wrong": "not-the-code"}[which]
        before = self.world.store.get(check_id)
        assert before is not None
        try:
            view = service.poll(check_id, tracked.minted.poll_token, code, ISSUER, self.world.deps)
        except CompletionCodeInvalid:
            assert code is not None and code != tracked.code
            return
        if code is None:
            expired = self.world.clock.now() >= before.expires_at
            assert (view.status, view.attestation) == (Status.EXPIRED if expired else Status.PENDING, None)
            assert view.reason in ((Reason.DEVICE_TIMEOUT,) if expired else (None,))
        if view.status is Status.VERIFIED:
            assert tracked.code is not None and code == tracked.code

    @rule(seconds=st.integers(min_value=0, max_value=TTL_SECONDS + 60))
    def time_passes(self, seconds: int) -> None:
        self.world.clock.advance(seconds)

    @rule(failures=st.integers(min_value=1, max_value=2))
    def kms_fails(self, failures: int) -> None:
        self.world.signer.failures = failures

    @invariant()
    def final_states_never_change(self) -> None:
        for check_id, check in self.world.store.checks.items():
            if check.status is not Status.PENDING:
                settled = (check.status, check.reason)
                assert self.final.setdefault(check_id, settled) == settled


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TABLE_NAME", "unused-by-fakes")
    monkeypatch.setenv("SECRET_ID", "unused-by-fakes")
    monkeypatch.setenv("CALLBACK_SECRET_ID", "unused-by-fakes")
    config.reset()
    yield
    config.reset()


CheckLifecycle.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None,
                                            suppress_health_check=[HealthCheck.too_slow])
test_check_lifecycle = CheckLifecycle.TestCase
