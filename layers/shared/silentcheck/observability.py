"""Logging shared by every function: JSON logs in which phone numbers never appear unmasked."""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

# A run of 7-15 digits standing alone (not inside an id such as a UUID x-correlator or a token, which
# would be mangled and then useless for tracing).
_DIGIT_RUN = re.compile(r"(?<![A-Za-z0-9_-])\+?\d{7,15}(?![A-Za-z0-9_-])")
_POWERTOOLS_KEYS = frozenset({"timestamp", "xray_trace_id", "function_request_id", "function_arn",
                              "function_memory_size", "cold_start", "sampling_rate", "location"})


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return _DIGIT_RUN.sub(lambda m: m.group()[:3] + "*" * (len(m.group()) - 5) + m.group()[-2:], value)
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v) for v in value]
    return value


class MaskingFormatter(LambdaPowertoolsFormatter):
    """A second line of defence: code logs phone.mask(number), this catches what slips through."""

    def serialize(self, log: Any) -> str:
        return super().serialize({k: v if k in _POWERTOOLS_KEYS else _mask(v) for k, v in log.items()})


logger = Logger(service="silentcheck", logger_formatter=MaskingFormatter())
