"""The log formatter masks phone numbers that slip into a message (the code logs phone.mask already)."""

import io
import json
import logging

from silentcheck.observability import logger


def test_a_raw_number_in_a_log_line_is_masked():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logging.getLogger(logger.service).addHandler(handler)
    try:
        logger.warning("user typed +447400900123 by mistake", extra={"detail": {"number": "447400900123"}})
    finally:
        logging.getLogger(logger.service).removeHandler(handler)

    line = json.loads(stream.getvalue().splitlines()[-1])
    assert "447400900123" not in stream.getvalue()
    assert line["message"] == "user typed +44********23 by mistake"
