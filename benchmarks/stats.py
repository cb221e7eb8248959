"""Order statistics for the reports."""

from __future__ import annotations

import math


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank p-th percentile (p in 0..100): a value that was measured, never interpolated."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]
