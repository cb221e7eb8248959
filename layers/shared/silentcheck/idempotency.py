"""Idempotency-Key on POST /checks (Powertools Idempotency on its own table): a retried start replays the
first answer and starts nothing; the stored answer keeps its poll token and check URL sealed."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from silentcheck import aws, credentials, limits, sealing, tokens
from silentcheck.api_shapes import CheckCreated, StartRequest
from silentcheck.config import settings
from silentcheck.errors import IdempotencyKeyInUse, IdempotencyKeyReused, InvalidRequest
from silentcheck.observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.serialization.base import BaseIdempotencySerializer

HEADER = "Idempotency-Key"
# 16 to 255 characters of the URL-safe, base64 and UUID alphabets; quotes allowed around it, as the
# IETF draft's structured-field string form writes it ("8e03978e-40d5-43e8-bc93-6894a57f9324").
_KEY = re.compile(r'"?([A-Za-z0-9._~:+/=-]{16,255})"?')
_SEALED_FIELDS = ("poll_token", "check_url")  # never stored in the clear: they open the check to a reader
_SEALED = "sealed"


def key_from(header: str | None) -> str | None:
    """The request's idempotency key, or None without the header; a malformed one is a 400."""
    if header is None:
        return None
    match = _KEY.fullmatch(header.strip())
    if match is None:
        raise InvalidRequest(f"{HEADER} must be 16 to 255 characters of A-Z, a-z, 0-9 and . _ ~ : + / = - "
                             "(a UUID v4 or 128 random bits in base64url fit); send a new one for each new check")
    return match.group(1)


class _SealedAnswer:
    """Powertools' output serializer for the first answer (its BaseIdempotencySerializer's two methods; not
    a subclass, whose package imports boto3 at a cold start): seals what would let a reader of the table
    poll the check, with the sealing the checks table uses (bound to the check id)."""

    def to_dict(self, data: CheckCreated) -> dict[str, Any]:
        answer: dict[str, Any] = data.model_dump(mode="json")
        confidential = {name: answer.pop(name) for name in _SEALED_FIELDS if answer.get(name) is not None}
        answer[_SEALED] = base64.b64encode(sealing.seal(confidential, data.check_id)).decode()
        for name in _SEALED_FIELDS:
            answer.setdefault(name, None)
        return answer

    def from_dict(self, data: dict[str, Any]) -> CheckCreated:
        stored = dict(data)
        opened = sealing.unseal(base64.b64decode(stored.pop(_SEALED)), str(stored["check_id"]))
        return CheckCreated.model_validate({**stored, **opened})


def _body_digest(request: StartRequest) -> str:
    """What tells two bodies apart, keyed with the pepper: a plain hash of a phone number is reversible."""
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return tokens.derive(tokens.subkey(credentials.pepper(), "idempotency/v1"), canonical)


def _first_answer(request: dict[str, str], start: Callable[[], CheckCreated]) -> CheckCreated:
    return start()


def _replayed(response: CheckCreated, idempotent_data: Any) -> CheckCreated:
    """Powertools calls this only when it answers from a stored record."""
    logger.info("start replayed for its idempotency key", check_id=response.check_id)
    return response


def client_of(api_key_id: str | None, source_ip: str | None) -> str:
    """Whose keys a request's are: its API key's (backend mode); in app mode, where nobody has a key, its
    address's (as the start budgets count it), so one app user's key never replays, nor tells anything of,
    another's start. Keyed with the pepper: the table holds no address."""
    if api_key_id:
        return api_key_id
    address = limits.counted_address(source_ip) or limits.NO_ADDRESS
    return "address:" + tokens.derive(tokens.subkey(credentials.pepper(), "idempotency/address"), address)


def start_once(key: str | None, request: StartRequest, client: str, lambda_context: Any,
               start: Callable[[], CheckCreated], charge: Callable[[], None]) -> CheckCreated:
    """`start()` once per (client, key): a retry with the same body gets the first answer back, another body
    is a 422 that costs what a start costs (`charge()`: else trying numbers against a key would be free), a
    retry while the first is still running a 409. A start that raised is not remembered."""
    if key is None:
        return start()
    from aws_lambda_powertools.utilities.idempotency import (  # imports boto3: only for requests with a key
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )
    table = settings().idempotency_table_name
    if table is None:
        raise RuntimeError("IDEMPOTENCY_TABLE_NAME is not set; template.yaml gives it to start_check")
    config = IdempotencyConfig(
        event_key_jmespath="[client, key]",  # one client's key never replays another client's answer
        payload_validation_jmespath="body",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=settings().retention_seconds,  # gone before the check it names is purged
        hash_function="sha256",
        lambda_context=lambda_context,  # an in-progress claim lapses when the invocation that made it ends
        response_hook=_replayed,
    )
    once = idempotent_function(
        _first_answer,
        data_keyword_argument="request",
        persistence_store=DynamoDBPersistenceLayer(table_name=table, boto3_client=aws.client("dynamodb")),
        config=config,
        output_serializer=cast("BaseIdempotencySerializer", _SealedAnswer()),
        key_prefix="start_check",
    )
    data = {"client": client, "key": key, "body": _body_digest(request)}
    try:
        created: CheckCreated = once(request=data, start=start)
    except IdempotencyValidationError:
        charge()  # RateLimited when a budget is spent: answered as any start over budget is
        raise IdempotencyKeyReused(f"this {HEADER} was sent before with another body; send a new key for a "
                                   "new check, or the first body to get the first answer again") from None
    except IdempotencyAlreadyInProgressError:
        raise IdempotencyKeyInUse(f"a request with this {HEADER} is still being answered; retry after "
                                  "Retry-After seconds to get its answer") from None
    return created
