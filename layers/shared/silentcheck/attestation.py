"""A final check's attestation: what it says (`claims`), and that one is kept: a read that may see the
result and finds none stored signs (signing_keys.py) and stores its JWS only if none is stored yet (one
conditional write); a read that loses that write, and every later read, is served the stored one."""

from __future__ import annotations

from typing import Any

from silentcheck import binding, observability, store
from silentcheck.checks import Check
from silentcheck.config import settings
from silentcheck.deps import Deps
from silentcheck.observability import Metric, logger


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
    """The check's attestation: signed from this read of the final check when none is stored, then served as
    stored. Reads that find none at the same moment may each sign (KMS `Sign`), but only the first
    signature is stored and every read is served that one. When signing fails the result stands, and the
    next read tries again."""
    if check.attestation or check.subject is None:
        return check.attestation
    now = deps.clock.now()
    config = settings()
    try:
        jws = deps.signer.sign(claims(check, issuer, config.attestation_audience, now, config.attestation_ttl_seconds))
    except Exception as error:
        logger.error("attestation not signed; the next read tries again", check_id=check.check_id,
                     error=type(error).__name__)
        return None
    try:
        saved = deps.store.save_attestation(check.check_id, jws)
    except store.TransitionLost as lost:  # another read stored its signature first: that one is served
        return lost.current.attestation if lost.current else None
    observability.count(Metric.ATTESTATIONS_SIGNED, provider=saved.provider)
    logger.info("attestation signed", check_id=check.check_id, status=saved.status)
    return saved.attestation
