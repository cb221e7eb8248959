"""Phone number validation, lookup keys and masking."""

import pytest

from silentcheck import phone
from silentcheck.errors import InvalidPhoneNumber


@pytest.mark.parametrize("value", ["+447700900123", "+12025550123", "+5511987654321"])
def test_e164_numbers_are_accepted_as_given(value):
    assert phone.parse_e164(value) == value


@pytest.mark.parametrize("value", ["447700900123", "+44 7700 900123", "+0447700900123", "+44770090012345678",
                                   "", "+", "tel:+447700900123", "+44-7700-900123"])
def test_numbers_not_in_e164_form_are_rejected_with_an_example(value):
    with pytest.raises(InvalidPhoneNumber, match=r"E\.164.*\+447700900123"):
        phone.parse_e164(value)


@pytest.mark.parametrize("value", [447700900123, None, ["+447700900123"]])
def test_non_string_numbers_are_rejected(value):
    with pytest.raises(InvalidPhoneNumber, match="string"):
        phone.parse_e164(value)


def test_lookup_key_is_keyed_and_never_the_number():
    key = phone.number_key("pepper-one-0123456789", "+447700900123")
    assert "447700900123" not in key
    assert key != phone.number_key("pepper-two-0123456789", "+447700900123")
    assert key == phone.number_key("pepper-one-0123456789", "+447700900123")


def test_mask_keeps_country_prefix_and_last_two_digits():
    assert phone.mask("+447700900123") == "+44********23"
