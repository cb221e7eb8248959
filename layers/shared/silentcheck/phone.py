"""Phone numbers: validation and normalisation to E.164 (the one place), the HMAC lookup key, masking."""

from __future__ import annotations

import re
from dataclasses import dataclass

from silentcheck import tokens
from silentcheck.errors import InvalidPhoneNumber, NumberUnsupported

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")

# libphonenumber's PhoneNumberType values that a SIM can answer for; FIXED_LINE_OR_MOBILE is what the
# metadata says where it cannot tell the two apart (e.g. +1), so it is given the benefit of the doubt.
_SIM_TYPES = {1: "mobile", 2: "fixed-line or mobile"}
_TYPE_NAMES = {0: "fixed-line", 3: "toll-free", 4: "premium-rate", 5: "shared-cost", 6: "VoIP",
               7: "personal (follow-me)", 8: "pager", 9: "UAN", 10: "voicemail access"}


@dataclass(frozen=True)
class PhoneNumber:
    e164: str
    country_code: int  # the calling code, e.g. 44
    region: str | None  # ISO 3166 alpha-2, e.g. GB; None for non-geographic numbers


def parse(value: object) -> PhoneNumber:
    """The number in E.164 form with its country, or InvalidPhoneNumber (400) / NumberUnsupported (422)
    with a message a developer can act on. Nothing billable happens before this."""
    if not isinstance(value, str):
        raise InvalidPhoneNumber("phone_number must be a string in E.164 format, e.g. \"+447400900123\"")
    if not _E164.fullmatch(value):
        raise InvalidPhoneNumber(
            "phone_number must be in E.164 format: '+', the country code and the subscriber number, "
            "7 to 15 digits with no spaces or punctuation, e.g. \"+447400900123\""
        )
    import phonenumbers

    try:
        parsed = phonenumbers.parse(value)
    except phonenumbers.NumberParseException:
        raise InvalidPhoneNumber("phone_number is not a number any country uses: check the country code") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber("phone_number is not a valid number for its country code: check the number of "
                                 "digits and the prefix after the country code")
    kind = phonenumbers.number_type(parsed)
    if kind not in _SIM_TYPES:
        described = _TYPE_NAMES.get(kind, "not a mobile")
        raise NumberUnsupported(f"phone_number is a {described} number; silent verification needs the number of "
                                "a mobile line (a SIM). Verify it another way, e.g. with a one-time code")
    return PhoneNumber(
        e164=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
        country_code=int(parsed.country_code or 0),
        region=phonenumbers.region_code_for_number(parsed),
    )


def number_key(pepper: str, e164: str) -> str:
    return tokens.keyed_digest(pepper, e164)


def mask(e164: str) -> str:
    """+447400900123 -> +44********23: enough to tell numbers apart in a support ticket, no more."""
    if len(e164) < 6:
        return "*" * len(e164)
    return e164[:3] + "*" * (len(e164) - 5) + e164[-2:]
