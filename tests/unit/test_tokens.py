"""The one place random values are minted and compared (requirement 1, requirement 4)."""

from __future__ import annotations

import base64
import hashlib
import re

from silentcheck import tokens


def test_every_new_token_is_256_random_bits_in_base64url():
    minted = [tokens.new_token() for _ in range(200)]

    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", token) for token in minted)
    assert all(len(base64.urlsafe_b64decode(token + "=")) == 32 for token in minted)
    assert len(set(minted)) == len(minted)


def test_what_is_stored_for_a_token_is_its_sha256():
    token = tokens.new_token()

    assert tokens.digest(token) == hashlib.sha256(token.encode()).hexdigest()
    assert tokens.matches(token, tokens.digest(token)) and not tokens.matches(token + "x", tokens.digest(token))
