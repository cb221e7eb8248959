"""Logging shared by every function: JSON logs in which phone numbers never appear unmasked."""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

# Any run of 7 or more digits, wherever it stands: a number glued to letters (`abc447400900002xyz`, a
# provider's error text) or to more digits is masked too.
_DIGIT_RUN = re.compile(r"\+?\d{7,}")
# Ids kept whole so they stay useful for tracing: UUIDs (x-correlators) wherever they appear, and a
# value of an id field that has the shape of our tokens (tokens.new_token: base64url).
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
_ID_FIELDS = frozenset({"check_id", "x_correlator"})
_POWERTOOLS_KEYS = frozenset({"timestamp", "xray_trace_id", "function_request_id", "function_arn",
                              "function_memory_size", "cold_start", "sampling_rate", "location"})


def _mask_digits(text: str) -> str:
    return _DIGIT_RUN.sub(lambda m: m.group()[:3] + "*" * (len(m.group()) - 5) + m.group()[-2:], text)


def _mask_text(text: str) -> str:
    kept, masked, start = _UUID.finditer(text), [], 0
    for uuid in kept:
        masked += [_mask_digits(text[start:uuid.start()]), uuid.group()]
        start = uuid.end()
    return "".join([*masked, _mask_digits(text[start:])])


def _mask(value: Any, key: str | None = None) -> Any:
    if isinstance(value, str):
        if key in _ID_FIELDS and (_TOKEN.fullmatch(value) or _UUID.fullmatch(value)):
            return value
        return _mask_text(value)
    if isinstance(value, dict):
        return {k: _mask(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v) for v in value]
    return value


class MaskingFormatter(LambdaPowertoolsFormatter):
    """A second line of defence: code logs phone.mask(number), this catches what slips through."""

    def serialize(self, log: Any) -> str:
        return super().serialize({k: v if k in _POWERTOOLS_KEYS else _mask(v, k) for k, v in log.items()})


logger = Logger(service="silentcheck", logger_formatter=MaskingFormatter())
