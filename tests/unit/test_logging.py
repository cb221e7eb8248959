"""The log formatter masks phone numbers that slip into a message (the code logs phone.mask already)."""

import io
import json
import logging
import re

import pytest

from silentcheck.observability import logger


def _logged(message: str, **extra: object) -> tuple[dict[str, object], str]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logging.getLogger(logger.service).addHandler(handler)
    try:
        logger.warning(message, extra=extra)
    finally:
        logging.getLogger(logger.service).removeHandler(handler)
    return json.loads(stream.getvalue().splitlines()[-1]), stream.getvalue()


def test_a_raw_number_in_a_log_line_is_masked():
    line, raw = _logged("user typed +447400900123 by mistake", detail={"number": "447400900123"})

    assert "447400900123" not in raw
    assert line["message"] == "user typed +44********23 by mistake"


def test_a_number_after_punctuation_is_masked():
    _, raw = _logged("callback for tel:+447400900123, phone=447400900123")

    assert "447400900123" not in raw


def test_ids_that_contain_long_digit_runs_are_logged_unchanged():
    correlator = "5f0c2b7e-1d2a-4c3b-9e8f-426614174000"  # a UUID whose last group is all digits
    check_id = "Ab3_12345678901cD-xYz0aBcDeFgHiJkLmNoPqRsTu"  # tokens.new_token()'s shape, digits inside

    line, _ = _logged(f"calling with {correlator}", x_correlator=correlator, check_id=check_id)

    assert (line["x_correlator"], line["check_id"]) == (correlator, check_id)
    assert line["message"] == f"calling with {correlator}"


@pytest.mark.parametrize("text", ["abc447400900002xyz", "id_447400900002_x", "tel447400900002", "4474009000029999"])
def test_a_number_glued_to_letters_or_digits_is_masked(text):
    line, raw = _logged(f"provider said {text}", raw_code=text, detail={"error": text})

    assert not re.search(r"\d{7,}", json.dumps([line["message"], line["raw_code"], line["detail"]]))
    assert "447400900002" not in raw


def test_an_id_field_holding_something_else_than_an_id_is_masked():
    _, raw = _logged("device returned", check_id="x+447400900002")

    assert "447400900002" not in raw
