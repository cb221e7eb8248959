"""Phone numbers: validation to E.164, the HMAC lookup key, masking for logs."""

from __future__ import annotations

import re

from silentcheck import tokens
from silentcheck.errors import InvalidPhoneNumber

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def parse_e164(value: object) -> str:
    """The number in E.164 form, or InvalidPhoneNumber with a message a developer can act on."""
    if not isinstance(value, str):
        raise InvalidPhoneNumber("phone_number must be a string in E.164 format, e.g. \"+447700900123\"")
    if not _E164.fullmatch(value):
        raise InvalidPhoneNumber(
            "phone_number must be in E.164 format: '+', the country code and the subscriber number, "
            "7 to 15 digits with no spaces or punctuation, e.g. \"+447700900123\""
        )
    return value


def number_key(pepper: str, e164: str) -> str:
    return tokens.keyed_digest(pepper, e164)


def mask(e164: str) -> str:
    """+447700900123 -> +44*******23: enough to tell numbers apart in a support ticket, no more."""
    if len(e164) < 6:
        return "*" * len(e164)
    return e164[:3] + "*" * (len(e164) - 5) + e164[-2:]
