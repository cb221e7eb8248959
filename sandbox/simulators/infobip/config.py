"""How a simulated Infobip is set up: the API keys it accepts and its timings."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class InfobipConfig:
    network_url: str
    api_keys: frozenset[str]  # accepted `Authorization: App <key>` values
    device_timeout_seconds: int = 120  # an unopened REDIRECT check then times out (305) when swept
    callback_timeout_seconds: float = 5.0
    clock: Callable[[], float] = time.time
    public_url: str | None = None  # default: scheme and Host of each request
    slow_seconds: float = 10.0  # trigger 95
    callback_attempts: int = 3  # per delivery, until the receiver answers 200
    callback_retry_seconds: float = 1.0  # between attempts
