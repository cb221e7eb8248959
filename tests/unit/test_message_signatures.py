"""tru.ID-style signed callbacks (draft-cavage signature + digest): what verifies and what does not."""

from __future__ import annotations

import base64
import hashlib
from email.utils import formatdate

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from silentcheck.providers.message_signatures import SignatureInvalid, verify

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
NOW = 1_900_000_000
PATH = "/truid/check.capability"
BODY = b'{"check_id":"c1","status":"COMPLETED","match":true}'
SIGNED = "(request-target) host date x-tru-callback digest"


def _headers(body: bytes = BODY, date: int = NOW, signed: str = SIGNED, key: rsa.RSAPrivateKey = KEY,
             digest: str | None = None, algorithm: str = "rsa-sha256") -> dict[str, str]:
    headers = {
        "host": "cb.example",
        "date": formatdate(date, usegmt=True),
        "x-tru-callback": "phone_check",
        "digest": digest or "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode(),
    }
    lines = [f"(request-target): post {PATH}" if name == "(request-target)" else f"{name}: {headers[name]}"
             for name in signed.split()]
    signature = base64.b64encode(key.sign("\n".join(lines).encode(), padding.PKCS1v15(), hashes.SHA256())).decode()
    headers["authorization"] = (f'Signature keyId="k1",algorithm="{algorithm}",headers="{signed}",'
                                f'signature="{signature}"')
    return headers


def _verify(headers: dict[str, str], body: bytes = BODY, path: str = PATH, now: int = NOW) -> None:
    verify("POST", path, headers, body, now, lambda kid: KEY.public_key() if kid == "k1" else None)


def _why(headers: dict[str, str], **kwargs) -> str:
    with pytest.raises(SignatureInvalid) as error:
        _verify(headers, **kwargs)
    return error.value.why


def test_a_signed_fresh_message_verifies():
    _verify(_headers())


def test_a_hex_digest_as_in_truids_example_verifies_too():
    _verify(_headers(digest="SHA-256=" + hashlib.sha256(BODY).hexdigest()))


def test_a_body_changed_after_signing_fails_the_digest():
    assert _why(_headers(), body=BODY.replace(b"true", b"false")) == "digest"


def test_a_message_sent_to_another_path_fails_the_signature():
    assert _why(_headers(), path="/truid/other.capability") == "bad_signature"


def test_a_signature_by_another_key_fails():
    assert _why(_headers(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))) == "bad_signature"


@pytest.mark.parametrize("skew", [-301, 301])
def test_a_date_more_than_five_minutes_off_is_stale(skew):
    assert _why(_headers(date=NOW + skew)) == "stale_date"


def test_a_signature_that_leaves_out_the_digest_is_incomplete():
    assert _why(_headers(signed="(request-target) host date")) == "incomplete_signature"


def test_an_unknown_algorithm_is_refused():
    assert _why(_headers(algorithm="hmac-sha256")) == "algorithm"


def test_no_signature_header_is_refused():
    headers = _headers()
    del headers["authorization"]

    assert _why(headers) == "no_signature"


def test_a_key_that_is_not_rsa_is_refused():
    with pytest.raises(SignatureInvalid):
        verify("POST", PATH, _headers(), BODY, NOW, lambda kid: None)
