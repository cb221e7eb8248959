"""How a simulated tru.ID is set up: its Projects (credentials and mode) and its timings."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

Mode = Literal["live", "sandbox"]
CALLBACK_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Project:
    """A tru.ID Project's credentials and mode (`sandbox`: no operator, the last digit decides)."""

    client_secret: str
    mode: Mode = "live"


@dataclass(frozen=True)
class TruIdConfig:
    network_url: str
    projects: Mapping[str, Project]  # by client_id
    ttl_seconds: int = 120
    token_expires_in: int = 3600
    slow_seconds: float = 10.0
    completion_lag_reads: int = 1  # v0.1: GETs right after completion that still say PENDING
    clock: Callable[[], float] = time.time
    public_url: str | None = None  # default: scheme and Host of each request
    callback_retry_delays: tuple[float, ...] = (10, 20, 30, 40, 50, 60)  # seconds before each retry
    callback_timeout_seconds: float = CALLBACK_TIMEOUT_SECONDS
    expiry_sweep_seconds: float = 1.0  # how often checks awaiting a callback are looked at for expiry
    unsupported_networks: frozenset[str] = frozenset()  # MCC+MNC ids whose device-IP lookups are 400
