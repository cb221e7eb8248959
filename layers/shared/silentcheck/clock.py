"""The one clock: epoch seconds. Tests move it with `monkeypatch.setattr(clock, "now", ...)`; the
service's unit tests pass a fake clock instead (tests/fakes.py)."""

from __future__ import annotations

import time


def now() -> int:
    return int(time.time())


class SystemClock:
    """The service's clock in a Lambda container (deps.Clock)."""

    def now(self) -> int:
        return now()  # looked up on each call, so a test that moves clock.now moves this clock too

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
