"""A new check offered to its providers in turn (routing.Fallback), each offer with its own return state
and callback capability; and the ends every use case shares: `settle` and `expire` record a final outcome
unless another request did first (`finished` counts it, once), `created` is the answer to a start."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlencode

from silentcheck import binding, breakers, config, observability, phone, routing, store
from silentcheck.api_shapes import CheckCreated, iso
from silentcheck.checks import Binding, Check, Outcome, Reason
from silentcheck.deps import Deps
from silentcheck.observability import Metric, logger
from silentcheck.providers.base import (
    ProviderRefused,
    PushesResults,
    StartContext,
    Started,
    TakesOperatorToken,
)
from silentcheck.providers.measured import Measured

UNBOUND_NOT_ALLOWED = "unbound_not_allowed"  # raw code of a start refused for binding `none` (AllowUnboundChecks)


def offer_in_turn(check: Check, candidates: tuple[str, ...], breaker: breakers.CircuitBreaker,
                  context: StartContext, minted: binding.Minted, deps: Deps) -> CheckCreated:
    """Offer the check to each candidate routing.Fallback names until one starts it; count outages
    against the providers' breakers; record who started it, or the last refusal and every attempt."""
    log = {"check_id": check.check_id, "number": phone.mask(context.phone_number)}
    fallback = routing.Fallback(candidates, breakers.open_among(deps.counters, candidates, deps.clock.now()))
    offered: binding.Minted | None = None
    while (name := fallback.next()) is not None:
        adapter = deps.providers.get(name)
        if offered is None:
            offered = minted  # the record was created with the first offer's secrets
        else:  # it holds the refused provider's secrets: replace them before the next provider sees its own
            offered = offered.for_another_offer()
            deps.store.record_offer(check.check_id, deps.clock.now(), name, offered.state_hash,
                                    capability_hash(offered))
        try:
            started = _offer(adapter, name, context, offered)
        except ProviderRefused as refused:
            outcome = refused.outcome
        except Exception:
            settle(check, Outcome.failed(Reason.PROVIDER_ERROR, "internal_error"), deps, fallback.attempts)
            raise
        else:
            breakers.record_success(deps.counters, name, deps.clock.now())
            if started.binding is not Binding.NONE or config.settings().allow_unbound_checks:
                return _started(check, name, started, fallback.attempts, minted.poll_token, log, deps)
            outcome = Outcome.failed(Reason.PROVIDER_REJECTED, UNBOUND_NOT_ALLOWED)  # the provider chose no hop
        logger.info("provider refused the check", extra={**log, "provider": name, "raw_code": outcome.raw_code})
        if outcome.is_outage:
            breakers.record_failure(deps.counters, name, deps.clock.now(), breaker, check.number_key)
        if fallback.refused(name, outcome):
            observability.count(Metric.PROVIDER_FALLBACKS, provider=name, reason=outcome.reason or outcome.status)
    failed = settle(check, fallback.outcome, deps, fallback.attempts, provider=fallback.last_tried)
    return created(failed, minted.poll_token, None)


def _offer(adapter: Measured, name: str, context: StartContext, minted: binding.Minted) -> Started:
    """Ask one provider to start the check with this offer's own state (in the return URL), with the
    operator token when there is one, and with a callback URL carrying this offer's capability when the
    provider pushes results and the deployment has one."""
    context = replace(context, state=minted.state,
                      return_url=f"{context.redirect_uri}?{urlencode({'state': minted.state})}")
    callback_base = config.settings().callback_url
    if callback_base and isinstance(adapter, PushesResults):
        context = replace(context, callback_url=f"{str(callback_base).rstrip('/')}/{name}/{minted.capability}")
    if context.operator_token and isinstance(adapter, TakesOperatorToken):
        return adapter.start_with_operator_token(context)
    return adapter.start(context)


def _started(check: Check, provider: str, started: Started, attempts: list[str], poll_token: str,
             log: dict[str, str], deps: Deps) -> CheckCreated:
    expires_at = check.expires_at
    if started.ttl_seconds:
        expires_at = min(expires_at, check.created_at + started.ttl_seconds)
    recorded = deps.store.record_started(check.check_id, deps.clock.now(), started.provider_ref,
                                         started.provider_version, started.binding, expires_at, started.attributes,
                                         confidential=started.confidential, poll_interval=started.poll_interval,
                                         provider=provider, attempts=attempts)
    observability.count(Metric.CHECKS_STARTED, provider=provider, flow=started.binding)
    logger.info("check started", extra={**log, "provider": provider, "version": started.provider_version,
                                        "attempts": attempts})
    return created(recorded, poll_token, started.check_url)


def capability_hash(minted: binding.Minted) -> str | None:
    """What the record keeps of the offer's callback capability: nothing where no callback URL is deployed."""
    return minted.capability_hash if config.settings().callback_url else None


def settle(check: Check, outcome: Outcome, deps: Deps, attempts: list[str] | None = None,
           provider: str | None = None) -> Check:
    """Record a final outcome, unless another request settled the check first: then theirs stands."""
    try:
        return finished(deps.store.finish(check.check_id, outcome, deps.clock.now(), attempts=attempts,
                                          provider=provider))
    except store.TransitionLost as lost:
        return lost.current or check  # someone else settled it first; theirs stands


def expire(check: Check, now: int, deps: Deps) -> Check:
    """Record EXPIRED for a check past its expires_at, unless a return or callback settled it just before
    (then that final item, as the lost write read it, is the answer)."""
    try:
        return finished(deps.store.mark_expired(check.check_id, now))
    except store.TransitionLost as lost:
        return lost.current or check


def finished(check: Check) -> Check:
    """Count a check that reached its final status. Only the transition that won calls this, so each check
    counts once."""
    observability.finished(check)
    return check


def created(check: Check, poll_token: str, check_url: str | None) -> CheckCreated:
    return CheckCreated(
        check_id=check.check_id,
        check_url=check_url,
        poll_token=poll_token,
        provider=check.provider,
        status=check.status,
        reason=check.reason,
        binding=check.binding,
        expires_at=iso(check.expires_at),
    )

