"""A final check's attestation: what it says (`claims`), and that it is signed once: the first read that
may see the result claims the right to sign (a conditional write), signs (signing_keys.py), and stores the
JWS; every later read is served what is stored."""

from __future__ import annotations

from typing import Any

from silentcheck import binding, observability, store
from silentcheck.checks import Check
from silentcheck.config import settings
from silentcheck.deps import Deps
from silentcheck.observability import Metric, logger

SIGNING_LEASE_SECONDS = 10  # a signing claim older than this was abandoned (its function died)
SIGNING_WAIT_ROUNDS, SIGNING_WAIT_SECONDS = 20, 0.1  # how long a read waits for a concurrent signer


def claims(check: Check, issuer: str, audience: str, now: int, ttl_seconds: int) -> dict[str, Any]:
    """What an attestation says: which number, which check, which verdict (as binding.reveal shows it to a
    caller who may see it), for whom, until when."""
    if check.subject is None:
        raise ValueError("the check's number is no longer kept; it cannot be attested again")
    shown = binding.reveal(check, now)
    values: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": check.subject,
        "phone_number": check.subject,
        "jti": check.check_id,
        "status": shown.status.value,
        "provider": check.provider,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if check.binding is not None:
        values["binding"] = check.binding.value
    if shown.reason is not None:
        values["reason"] = shown.reason.value
    if (sim_swap := check.sim_swap_shown(shown.status)) is not None:
        values["sim_swap"] = sim_swap.claim()
    return values


def attestation_of(check: Check, issuer: str, deps: Deps) -> str | None:
    """The check's attestation: signed by the first read that may see the final result, then served as
    stored. When signing fails the result stands, and the next read tries again."""
    if check.attestation or check.subject is None:
        return check.attestation
    now = deps.clock.now()
    try:
        deps.store.claim_signing(check.check_id, now, stale_before=now - SIGNING_LEASE_SECONDS)
    except store.TransitionLost as lost:
        return _signed_by_another(check.check_id, lost.current, deps)
    config = settings()
    try:  # from `check`, the read the caller's view is built from; the claim only says who signs
        jws = deps.signer.sign(claims(check, issuer, config.attestation_audience, now,
                                                  config.attestation_ttl_seconds))
    except Exception as error:
        logger.error("attestation not signed; the next read tries again", check_id=check.check_id,
                     error=type(error).__name__)
        deps.store.release_signing(check.check_id)
        return None
    try:
        saved = deps.store.save_attestation(check.check_id, jws)
    except store.TransitionLost as lost:
        return lost.current.attestation if lost.current else None
    observability.count(Metric.ATTESTATIONS_SIGNED, provider=saved.provider)
    logger.info("attestation signed", check_id=check.check_id, status=saved.status)
    return saved.attestation


def _signed_by_another(check_id: str, current: Check | None, deps: Deps) -> str | None:
    """Another read holds the signing claim: wait briefly for its signature rather than sign twice."""
    for _ in range(SIGNING_WAIT_ROUNDS):
        if current is None or current.attestation or current.subject is None:
            break
        deps.clock.sleep(SIGNING_WAIT_SECONDS)
        current = deps.store.get(check_id)
    return current.attestation if current else None
