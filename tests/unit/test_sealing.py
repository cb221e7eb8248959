"""Values a PENDING check keeps for its provider are encrypted at rest, bound to the check, gone when final."""

import pytest

from sandbox.local_aws import services
from silentcheck import aws, config, credentials, sealing, store, tokens
from silentcheck.checks import Binding, Check, Outcome, Status
from silentcheck.config import settings
from silentcheck.store import keys
from tests.conftest import TEST_SECRET

NOW = 1_900_000_000
NUMBER = "+447400900123"


@pytest.fixture(autouse=True)
def _moto(moto_env):
    yield


def _raw_item(check_id: str):
    return aws.client("dynamodb").get_item(TableName=settings().table_name,
                                           Key=keys.item_key(keys.check(check_id)))["Item"]


def _pending(check_id: str = "check-1") -> Check:
    check = Check(check_id=check_id, provider="camara", status=Status.PENDING, created_at=NOW, expires_at=NOW + 300,
                  poll_token_hash=tokens.digest("poll"), number_key="key")
    store.create(check)
    return check


def test_sealed_values_open_again_for_the_same_check():
    assert sealing.unseal(sealing.seal({"phone_number": NUMBER}, "c1"), "c1") == {"phone_number": NUMBER}


def test_sealed_values_moved_to_another_check_do_not_open():
    with pytest.raises(sealing.SealBroken):
        sealing.unseal(sealing.seal({"phone_number": NUMBER}, "c1"), "c2")


def test_tampered_sealed_values_do_not_open():
    blob = bytearray(sealing.seal({"phone_number": NUMBER}, "c1"))
    blob[-1] ^= 1

    with pytest.raises(sealing.SealBroken):
        sealing.unseal(bytes(blob), "c1")


def test_the_seal_key_is_derived_once_per_pepper_not_per_value(monkeypatch):
    derived: list[str] = []

    def subkey(secret: str, purpose: str) -> bytes:
        derived.append(purpose)
        return b"k" * 32

    monkeypatch.setattr(tokens, "subkey", subkey)

    for check_id in ("c1", "c2", "c3"):
        sealing.unseal(sealing.seal({"phone_number": NUMBER}, check_id), check_id)

    assert derived == ["seal/v1"]


def test_values_sealed_before_a_pepper_rotation_do_not_open_after_it(moto_env):
    blob = sealing.seal({"phone_number": NUMBER}, "c1")
    secrets_manager = services.client("secretsmanager", moto_env.endpoint)
    services.seed_secret(secrets_manager, TEST_SECRET, {"pepper": tokens.new_token()})
    credentials.forget()

    with pytest.raises(sealing.SealBroken):
        sealing.unseal(blob, "c1")
    assert sealing.unseal(sealing.seal({"phone_number": NUMBER}, "c1"), "c1") == {"phone_number": NUMBER}


def test_confidential_values_read_back_but_the_item_holds_no_plaintext():
    _pending()

    started = store.record_started("check-1", NOW, None, "v2", Binding.DEVICE, NOW + 300, {},
                                   confidential={"phone_number": NUMBER})

    assert started.confidential == {"phone_number": NUMBER}
    assert store.get("check-1") == started
    assert NUMBER.encode() not in repr(_raw_item("check-1")).encode()
    assert NUMBER.lstrip("+") not in repr(_raw_item("check-1"))


def test_the_number_kept_for_the_attestation_reads_back_but_the_item_holds_no_plaintext():
    check = Check(check_id="check-1", provider="truid", status=Status.PENDING, created_at=NOW, expires_at=NOW + 300,
                  poll_token_hash=tokens.digest("poll"), number_key="key", subject=NUMBER)
    store.create(check)

    assert store.get("check-1").subject == NUMBER  # type: ignore[union-attr]
    assert NUMBER.lstrip("+") not in repr(_raw_item("check-1"))


def test_a_final_check_keeps_no_sealed_values():
    _pending()
    store.record_started("check-1", NOW, None, "v2", Binding.DEVICE, NOW + 300, {},
                         confidential={"phone_number": NUMBER})

    store.finish("check-1", Outcome.verified("verify:true"), NOW + 5)

    assert "sealed" not in _raw_item("check-1")


def test_an_expired_check_keeps_no_sealed_values():
    _pending()
    store.record_started("check-1", NOW, None, "v2", Binding.DEVICE, NOW + 300, {},
                         confidential={"phone_number": NUMBER})

    store.mark_expired("check-1", NOW + 301)

    assert "sealed" not in _raw_item("check-1")


def test_a_function_without_the_main_secret_reads_checks_with_their_sealed_values_closed(monkeypatch):
    check = Check(check_id="check-1", provider="truid", status=Status.PENDING, created_at=NOW, expires_at=NOW + 300,
                  poll_token_hash=tokens.digest("poll"), number_key="key", subject=NUMBER)
    store.create(check)
    store.record_started("check-1", NOW, "ref", "v0.2", Binding.DEVICE, NOW + 300, {},
                         confidential={"auth_req_id": "secret-ish"})
    monkeypatch.delenv("SECRET_ID")  # as provider_callback runs: no SECRET_ID, no grant on the main secret
    config.reset()
    credentials.forget()

    read = store.get("check-1")

    assert read is not None and (read.provider_ref, read.subject, read.confidential) == ("ref", None, {})
    with pytest.raises(RuntimeError, match="no SECRET_ID"):
        credentials.pepper()
