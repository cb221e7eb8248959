"""The sandbox's wall clock: real time plus an offset that tests move forward.

The simulated CAMARA aggregator reads it, and the integration tests point the functions' clock
(silentcheck.clock.now) at it too, so a CIBA interval passes for both sides at once without waiting.
"""

from __future__ import annotations

import threading
import time


class SandboxClock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0

    def __call__(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._offset += seconds

    def reset(self) -> None:
        """Back to real time (between tests)."""
        with self._lock:
            self._offset = 0.0
