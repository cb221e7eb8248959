"""Idempotency-Key on POST /checks: what is remembered, what is replayed, what is refused, what is stored
(Powertools Idempotency against moto's DynamoDB, the table shaped by template.yaml)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from sandbox.local_aws import services as aws
from silentcheck import idempotency, tokens
from silentcheck.api_shapes import CheckCreated, StartRequest
from silentcheck.checks import Status
from silentcheck.errors import IdempotencyKeyInUse, IdempotencyKeyReused, InvalidRequest, RateLimited
from tests.conftest import TEST_IDEMPOTENCY_TABLE

pytestmark = pytest.mark.usefixtures("moto_env")

KEY = "0f8fad5b-d9cb-469f-a165-70867728950e"
REQUEST = StartRequest(phone_number="+447400900002")


class _Context:
    def get_remaining_time_in_millis(self) -> int:
        return 10_000


class _Starts:
    """A start that mints a new check each time it runs, and counts its runs."""

    def __init__(self) -> None:
        self.runs = 0

    def __call__(self) -> CheckCreated:
        self.runs += 1
        return CheckCreated(check_id=tokens.new_token(), check_url=f"https://provider.example/{tokens.new_token()}",
                            poll_token=tokens.new_token(), provider="truid", status=Status.PENDING,
                            expires_at="2026-11-22T03:34:03Z")


def _uncharged() -> None:
    pass


def _once(start: Any, key: str | None = KEY, request: StartRequest = REQUEST, client: str = "",
          charge: Any = _uncharged) -> CheckCreated:
    return idempotency.start_once(key, request, client=client, lambda_context=_Context(), start=start, charge=charge)


def _stored(moto_env: aws.MotoServer) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = aws.client("dynamodb", moto_env.endpoint).scan(
        TableName=TEST_IDEMPOTENCY_TABLE)["Items"]
    return items


@pytest.mark.parametrize("header", [KEY, f'"{KEY}"', "YWJjZGVmZ2hpamtsbW5vcA==", "a" * 255])
def test_well_formed_keys_are_accepted(header: str) -> None:
    assert idempotency.key_from(header) == header.strip('"')


@pytest.mark.parametrize("header", ["", "too-short", "a" * 256, "has space in the middle!", "ключ-идемпотентности",
                                    "line\nbreak-0123456789"])
def test_malformed_keys_are_a_400_that_says_what_a_key_is(header: str) -> None:
    with pytest.raises(InvalidRequest, match="16 to 255 characters"):
        idempotency.key_from(header)


def test_without_the_header_there_is_no_key() -> None:
    assert idempotency.key_from(None) is None


def test_a_retry_with_the_same_key_and_body_replays_the_first_answer() -> None:
    start = _Starts()

    first, retry = _once(start), _once(start)

    assert retry == first
    assert start.runs == 1


def test_the_same_key_with_another_body_is_refused_as_reused() -> None:
    start = _Starts()
    _once(start)

    with pytest.raises(IdempotencyKeyReused):
        _once(start, request=StartRequest(phone_number="+447400900004"))
    assert start.runs == 1


def test_the_same_key_with_another_body_costs_what_a_start_costs() -> None:
    charged: list[bool] = []
    _once(_Starts())

    with pytest.raises(IdempotencyKeyReused):
        _once(_Starts(), request=StartRequest(phone_number="+447400900004"), charge=lambda: charged.append(True))
    assert charged == [True]


def test_a_reused_key_past_the_budget_is_answered_as_any_start_past_it() -> None:
    def spent() -> None:
        raise RateLimited("spent", retry_after=5)

    _once(_Starts())

    with pytest.raises(RateLimited):
        _once(_Starts(), request=StartRequest(phone_number="+447400900004"), charge=spent)


def test_a_replay_costs_nothing() -> None:
    charged: list[bool] = []
    start = _Starts()
    _once(start)

    _once(start, charge=lambda: charged.append(True))

    assert charged == []


def test_in_app_mode_a_key_belongs_to_the_address_that_sent_it() -> None:
    here, there = idempotency.client_of(None, "198.51.100.7"), idempotency.client_of(None, "203.0.113.9")

    assert here != there and here == idempotency.client_of(None, "198.51.100.7")
    assert "198.51.100.7" not in here
    assert idempotency.client_of("api-key-id", "198.51.100.7") == "api-key-id"


def test_a_request_while_the_first_with_its_key_runs_is_refused_as_in_use() -> None:
    start = _Starts()

    def start_that_is_retried_meanwhile() -> CheckCreated:
        _once(start)  # the client's retry arrives while the first request is still being answered
        return start()

    with pytest.raises(IdempotencyKeyInUse):
        _once(start_that_is_retried_meanwhile)
    assert start.runs == 0


def test_a_start_that_failed_is_not_remembered() -> None:
    def refused() -> CheckCreated:
        raise RateLimited("spent", retry_after=5)

    with pytest.raises(RateLimited):
        _once(refused)
    start = _Starts()
    _once(start)

    assert start.runs == 1


def test_different_keys_start_different_checks() -> None:
    start = _Starts()

    first, second = _once(start), _once(start, key=KEY.replace("0f8f", "1f8f"))

    assert first.check_id != second.check_id and start.runs == 2


def test_one_clients_key_never_replays_another_clients_answer() -> None:
    start = _Starts()

    mine, theirs = _once(start, client="api-key-a"), _once(start, client="api-key-b")

    assert mine.check_id != theirs.check_id and start.runs == 2


def test_without_a_key_every_request_starts_a_check() -> None:
    start = _Starts()

    _once(start, key=None)
    _once(start, key=None)

    assert start.runs == 2


def test_the_stored_answer_holds_neither_the_poll_token_nor_the_check_url_in_clear(moto_env: aws.MotoServer) -> None:
    created = _once(_Starts())

    stored = json.dumps(_stored(moto_env))

    assert created.check_id in stored  # the record is there: the check is named, not opened
    assert created.poll_token not in stored
    assert str(created.check_url) not in stored


def test_the_stored_answer_holds_neither_the_number_nor_its_plain_hash(moto_env: aws.MotoServer) -> None:
    import hashlib

    _once(_Starts())
    number = str(REQUEST.phone_number)
    body = json.dumps(REQUEST.model_dump(mode="json"), sort_keys=True)

    stored = json.dumps(_stored(moto_env))

    plain_hashes = [hashlib.new(name, text.encode()).hexdigest()
                    for name in ("md5", "sha256") for text in (number, body)]
    assert number not in stored and not any(digest in stored for digest in plain_hashes)


def test_a_sealed_answer_moved_to_another_check_does_not_open(moto_env: aws.MotoServer) -> None:
    from silentcheck.sealing import SealBroken

    _once(_Starts())
    (item,) = _stored(moto_env)
    answer = json.loads(item["data"]["S"])
    answer["check_id"] = tokens.new_token()

    with pytest.raises(SealBroken):
        idempotency._SealedAnswer().from_dict(answer)
    assert base64.b64decode(answer["sealed"])  # what is stored is the sealed blob


def test_after_a_pepper_rotation_a_retry_of_an_earlier_start_is_refused_as_reused(moto_env: aws.MotoServer) -> None:
    from silentcheck import credentials
    from tests.conftest import TEST_SECRET

    start = _Starts()
    _once(start)
    aws.seed_secret(aws.client("secretsmanager", moto_env.endpoint), TEST_SECRET, {"pepper": tokens.new_token()})
    credentials.forget()

    with pytest.raises(IdempotencyKeyReused):
        _once(start)
    assert start.runs == 1
