"""Phone number validation, lookup keys and masking."""

import pytest

from silentcheck import phone
from silentcheck.errors import InvalidPhoneNumber, NumberUnsupported


@pytest.mark.parametrize(("value", "country_code", "region"), [
    ("+447400900123", 44, "GB"), ("+12015550123", 1, "US"), ("+5511987654321", 55, "BR"), ("+34600000012", 34, "ES"),
])
def test_mobile_numbers_are_accepted_with_their_country(value, country_code, region):
    assert phone.parse(value) == phone.PhoneNumber(value, country_code, region)


@pytest.mark.parametrize(("value", "kind"), [
    ("+442079460000", "fixed-line"),
    ("+448001234567", "toll-free"),
    ("+449001234567", "premium-rate"),
    ("+34900123456", "toll-free"),
    ("+445601234567", "VoIP"),
    ("+34901123456", "shared-cost"),
])
def test_valid_numbers_no_sim_answers_for_are_422_number_unsupported(value, kind):
    with pytest.raises(NumberUnsupported, match=kind) as error:
        phone.parse(value)

    assert (error.value.status, error.value.code) == (422, "NUMBER_UNSUPPORTED")
    assert value not in error.value.detail


@pytest.mark.parametrize("value", ["+447700900123", "+4474009001", "+999123456789", "+3460000001"])
def test_numbers_that_are_e164_shaped_but_not_valid_are_400(value):
    with pytest.raises(InvalidPhoneNumber, match="not a"):
        phone.parse(value)


@pytest.mark.parametrize("value", ["447400900123", "+44 7700 900123", "+0447400900123", "+44740090012345678",
                                   "", "+", "tel:+447400900123", "+44-7700-900123"])
def test_numbers_not_in_e164_form_are_rejected_with_an_example(value):
    with pytest.raises(InvalidPhoneNumber, match=r"E\.164.*\+447400900123"):
        phone.parse(value)


@pytest.mark.parametrize("value", [447400900123, None, ["+447400900123"]])
def test_non_string_numbers_are_rejected(value):
    with pytest.raises(InvalidPhoneNumber, match="string"):
        phone.parse(value)


def test_lookup_key_is_keyed_and_never_the_number():
    key = phone.number_key("pepper-one-0123456789", "+447400900123")
    assert "447400900123" not in key
    assert key != phone.number_key("pepper-two-0123456789", "+447400900123")
    assert key == phone.number_key("pepper-one-0123456789", "+447400900123")


def test_mask_keeps_country_prefix_and_last_two_digits():
    assert phone.mask("+447400900123") == "+44********23"
