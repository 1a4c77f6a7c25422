"""How every benchmark figure is summarised: median with min and max over the trials."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import numpy as np

__all__ = ["Spread", "percentile", "ratio", "spread"]

Spread = dict[str, float]


def spread(values: Sequence[float | None]) -> Spread | None:
    """Median, min and max over the trials that produced a value (None when none did)."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return None
    return {"median": round(statistics.median(present), 3), "min": round(min(present), 3),
            "max": round(max(present), 3), "n": len(present)}


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (linear interpolation), None for no values."""
    if not values:
        return None
    return round(float(np.percentile(np.asarray(values, dtype=float), q)), 3)


def ratio(value: float | None, target: float | None) -> float | None:
    """value / target, rounded; None when either is missing or the target is zero."""
    if value is None or not target:
        return None
    return round(value / target, 3)
