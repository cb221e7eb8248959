"""Use cases: start, poll, device_return, provider_callback. Knows no provider's wire format. A start's
offers to providers in turn live in offers.py."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from silentcheck import (
    attestation,
    binding,
    config,
    credentials,
    limits,
    observability,
    offers,
    phone,
    routing,
    start_fields,
    store,
)
from silentcheck.api_shapes import CheckCreated, CheckView, DeviceReturned, StartRequest
from silentcheck.checks import Check, Outcome, Reason, Status, next_poll_at
from silentcheck.deps import Deps
from silentcheck.errors import (
    CallbackNotAccepted,
    CheckNotFound,
    InvalidReturn,
    ProviderNotConfigured,
)
from silentcheck.observability import Metric, logger
from silentcheck.providers.base import (
    CallbackRejected,
    CallbackRequest,
    CoverageLookup,
    DeviceNetwork,
    PollAgain,
    PushesResults,
    StartContext,
)
from silentcheck.sim_swap import answering, ranges_of, requested_hours

RETURN_PATH = "/checks/return"


def start(request: StartRequest, source_ip: str | None, api_base_url: str, deps: Deps | None = None,
          from_backend: bool = False) -> CheckCreated:
    """Plan the providers, spend the start budgets, record the check, look up the device's network when
    the deployment asks, then offer the check to the providers in routing's order. `from_backend`: the
    caller presented a client credential (backend mode), so it may say where the device is (`device_ip`)."""
    deps = deps or Deps.real()
    number = phone.parse(request.phone_number)
    operator_token = start_fields.operator_token(request.operator_token)
    device_ip = start_fields.device_ip(request.device_ip, from_backend)
    table = routing.table()
    candidates = routing.plan(table, number, request.provider, operator_token is not None, deps.providers)
    if (hours := requested_hours(request.sim_swap)) is not None:  # refused before any budget or provider call
        candidates = answering(candidates, ranges_of(candidates, deps.providers, table.sim_swap), hours)

    now = deps.clock.now()
    minted = binding.Minted.new()
    check = replace(_new_check(minted, candidates[0], number, now), sim_swap_hours=hours)
    # Before any billable call: the budgets are spent and every provider request has a record.
    limits.spend_and_record(limits.configured(), credentials.pepper(), number.e164, source_ip, now, deps.counters,
                            deps.store, check)

    device_address = device_ip or source_ip
    if table.coverage_precheck and device_address and not operator_token:
        device = _device_network(device_address, deps)
        if device is not None and not device.mobile:  # reported before any check is billed
            failed = offers.settle(check, Outcome.failed(Reason.NOT_ON_MOBILE_DATA, "coverage:412"), deps)
            return offers.created(failed, minted.poll_token, None)
        if device is not None:
            candidates = routing.serving(table, candidates, device)

    redirect_uri = f"{api_base_url.rstrip('/')}{RETURN_PATH}"
    context = StartContext(check.check_id, number.e164, redirect_uri, source_ip, redirect_uri=redirect_uri,
                           operator_token=operator_token, device_ip=device_ip,
                           sim_swap_hours=hours)  # each offer adds its own state
    return offers.offer_in_turn(check, candidates, table.circuit_breaker, context, minted, deps)


def charge_start(request: StartRequest, source_ip: str | None, deps: Deps | None = None) -> None:
    """Spend the start budgets as `start` would, for a request answered without starting anything (an
    Idempotency-Key reused with another number): an answer about a number the caller chose costs a start."""
    deps = deps or Deps.real()
    number = phone.parse(request.phone_number)
    limits.spend(limits.configured(), credentials.pepper(), number.e164, source_ip, deps.clock.now(), deps.counters)


def _new_check(minted: binding.Minted, provider: str, number: phone.PhoneNumber, now: int) -> Check:
    return Check(
        check_id=minted.check_id,
        provider=provider,
        status=Status.PENDING,
        created_at=now,
        expires_at=now + config.settings().check_ttl_seconds,
        poll_token_hash=minted.poll_token_hash,
        number_key=phone.number_key(credentials.pepper(), number.e164),
        state_hash=minted.state_hash,
        capability_hash=offers.capability_hash(minted),
        subject=number.e164,  # sealed at rest, until the result's attestation is signed
    )


def _device_network(ip: str, deps: Deps) -> DeviceNetwork | None:
    """What the coverage provider says of the caller's IP; None when it could not say."""
    try:
        lookup = deps.providers.get(routing.COVERAGE_PROVIDER)
        return lookup.device_network(ip) if isinstance(lookup, CoverageLookup) else None
    except ProviderNotConfigured:
        return None


def poll(check_id: str, poll_token: str | None, completion_code: str | None, issuer: str,
         deps: Deps | None = None) -> CheckView:
    """What the holder of the poll token (and, after a device hop, the completion code) may know now.
    `issuer` is the public API URL, the attestation's `iss`."""
    deps = deps or Deps.real()
    check = binding.authorize_poll(deps.store.get(check_id) if binding.is_check_id(check_id) else None, poll_token)
    now = deps.clock.now()
    if not binding.sees_verdict(check, completion_code):
        hidden = binding.reveal(check, now, sees_verdict=False)
        if hidden.status is Status.EXPIRED:  # a conditional write whatever the record holds: one request either way
            offers.expire(check, now, deps)
        return CheckView.of(check, hidden)  # no provider is asked: its answer would be hidden anyway
    if check.status is Status.PENDING:
        check = _advance(check, now, deps)
    # The view and the attestation are built from this one read of the item (the final one once it is).
    signed = attestation.attestation_of(check, issuer, deps) if check.status.is_final else None
    return CheckView.of(check, binding.reveal(check, now), signed)


def device_return(query: Mapping[str, str], deps: Deps | None = None) -> DeviceReturned:
    """The end of a device's redirect chain: use the state once, hand out a completion code, and settle
    the check unless its verdict arrives (or arrived) by callback."""
    deps = deps or Deps.real()
    state = query.get("state", "")
    check_id = binding.check_id_of(state)
    if not check_id:
        raise InvalidReturn("this link is not valid; start a new check")
    completion_code, code_hash = binding.new_completion_code()
    try:
        check = deps.store.consume_state(check_id, binding.state_digest(state), deps.clock.now(), code_hash)
    except store.TransitionLost:
        raise InvalidReturn("this link was already used or has expired; start a new check") from None
    observability.count(Metric.DEVICE_RETURNS, provider=check.provider)
    if check.status is Status.PENDING:
        try:
            outcome = deps.providers.get(check.provider).on_return(check, query)
        except Exception:
            offers.settle(check, Outcome.failed(Reason.PROVIDER_ERROR, "internal_error"), deps)  # the state is spent
            raise
        if outcome is not None:
            try:
                check = offers.finished(deps.store.finish(check_id, outcome, deps.clock.now()))
            except store.TransitionLost as lost:
                if lost.current is None or lost.current.status is Status.PENDING:  # it expired meanwhile
                    raise InvalidReturn("this check expired before it completed; start a new check") from None
                check = lost.current  # a provider callback settled it first; the code is attached already
    logger.info("device returned", check_id=check_id, status=check.status, raw_code=check.raw_code)
    return DeviceReturned(check_id=check_id, completion_code=completion_code)


def provider_callback(provider: str, capability: str, request: CallbackRequest, deps: Deps | None = None) -> None:
    """A provider pushed a result. Only the holder of the check's capability gets past the lookup;
    the adapter then authenticates the message; only a PENDING, unexpired check changes, once."""
    deps = deps or Deps.real()
    check_id = binding.check_id_of(capability)
    # Only providers that push results are looked up at all (CAMARA's records never meet this function).
    named = deps.providers.get(provider) if provider in deps.providers.names() else None
    adapter = named if isinstance(named, PushesResults) else None
    known = bool(check_id) and adapter is not None
    check = deps.store.get(check_id) if known else None
    if check is None or adapter is None or not binding.capability_matches(check, provider, capability):
        observability.count(Metric.CALLBACKS_REJECTED, reason="UNKNOWN_CALLBACK")
        raise CheckNotFound("unknown callback")
    if not check.can_transition_at(deps.clock.now()):
        logger.info("callback for a settled or expired check ignored", check_id=check_id, status=check.status)
        return
    try:
        outcome = adapter.on_callback(check, request)
    except CallbackRejected as rejected:
        observability.count(Metric.CALLBACKS_REJECTED, provider=provider, reason="NOT_AUTHENTIC")
        logger.warning("callback rejected", check_id=check_id, provider=provider, why=rejected.why)
        raise CallbackNotAccepted("this callback does not belong to this check") from None
    if outcome is None:
        return
    try:
        finished = offers.finished(deps.store.finish(check_id, outcome, deps.clock.now()))
    except store.TransitionLost:
        return  # a duplicate, or the device return, settled it first: theirs stands
    logger.info("callback settled the check", check_id=check_id, status=finished.status, raw_code=outcome.raw_code)


def _advance(check: Check, now: int, deps: Deps) -> Check:
    """Bring a PENDING check up to date: expire it, or ask the provider for a verdict. Flows that pace
    their polls (CIBA) ask only when due, and only the one poll that claims the slot asks."""
    if check.is_expired_at(now):
        return offers.expire(check, now, deps)
    if check.next_poll_at is not None:
        if not check.poll_due_at(now):
            return check
        try:
            next_at = next_poll_at(now, check.poll_interval or 1)
            check = deps.store.claim_poll(check.check_id, now, check.next_poll_at, next_at)
        except store.TransitionLost as lost:
            return lost.current or check
    result = deps.providers.get(check.provider).refresh(check)
    if result is None:
        return check
    if isinstance(result, PollAgain):
        if result.interval != check.poll_interval:
            try:
                return deps.store.pace_polls(check.check_id, deps.clock.now(), result.interval)
            except store.TransitionLost as lost:
                return lost.current or check
        return check
    return offers.settle(check, result, deps)
