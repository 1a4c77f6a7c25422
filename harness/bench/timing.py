"""Lateness and drift of periodic fires, from the moments an app received them (pure).

Two models, both from Dapr's source:

- A cron spec such as ``* * * * * *`` is recomputed from the calendar at every tick (dapr/kit
  ``cron`` SpecSchedule.Next; go-etcd-cron for jobs), so tick k is due on a fixed grid and a
  fire's lateness is its distance past the grid point before it.
- ``@every D`` in dapr/kit's cron (what daprd's cron binding runs) is a ConstantDelaySchedule
  whose run loop sets ``next = schedule.Next(wake time)`` = wake + D (dapr/kit cron/cron.go), so
  each tick inherits the previous one's lateness: the gap between fires exceeds D by the
  timer's lateness, and the schedule drifts. A job's ``@every`` in go-etcd-cron counts from
  the job's start, so its gaps average D exactly.

Drift is measured from consecutive gaps of one stream of fires (one replica's binding, or one
job across all replicas), so it needs no knowledge of where the grid started.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["DAY_S", "drift", "lateness_by_count", "lateness_on_grid"]

DAY_S = 86_400.0


def drift(fires: Sequence[float], period_s: float) -> dict[str, float | int] | None:
    """Slip per tick (ms) of a periodic stream, and that slip projected over a day.

    ``fires`` are the arrival times (s) of one stream. Each fire gets its tick number from the
    gaps before it, rounded to whole periods (a lost tick counts, a stall does not read as
    drift); the slip per tick is the least-squares slope of arrival time
    against tick number, minus the period, so the jitter of the first and last fires does not
    dominate it. None with fewer than two fires.
    """
    if period_s <= 0:
        raise ValueError(f"period must be > 0, got {period_s}")
    times = sorted(fires)
    if len(times) < 2:
        return None
    # A late fire followed at once by the next (gaps of 2 and 0 periods) advances 2 then 0
    # ticks, so a stall does not add a tick; a lost tick (a gap of 2) still counts as two.
    ticks = [0]
    for a, b in zip(times, times[1:]):
        ticks.append(ticks[-1] + round((b - a) / period_s))
    slope = float(np.polyfit(np.asarray(ticks, dtype=float), np.asarray(times), 1)[0])
    per_tick_ms = (slope - period_s) * 1000
    return {"ticks": ticks[-1], "per_tick_ms": round(per_tick_ms, 4),
            "per_day_s": round(per_tick_ms / 1000 * DAY_S / period_s, 1),
            "total_ms": round(per_tick_ms * ticks[-1], 1)}


def lateness_on_grid(fires: Sequence[float], period_s: float, origin_s: float = 0.0) -> list[float]:
    """Lateness (ms) of each fire past the latest grid point ``origin + k * period`` before it.

    For a cron spec on whole seconds the origin is 0 (the epoch); for an ``@every`` job created
    with an RFC3339 dueTime it is that dueTime. A fire that lands a hair before its grid point
    (clock granularity) reads as almost a full period late, so callers keep lateness well
    under a period (these benchmarks see milliseconds at a 1 s period).
    """
    if period_s <= 0:
        raise ValueError(f"period must be > 0, got {period_s}")
    out = []
    for fire in fires:
        k = math.floor((fire - origin_s) / period_s)
        out.append(round((fire - origin_s - k * period_s) * 1000, 3))
    return out


def lateness_by_count(fires: Sequence[float], period_s: float, origin_s: float) -> list[float]:
    """Lateness (ms) of one recurring job's fires when its k-th fire is due at origin + k * period.

    Unlike lateness_on_grid this never wraps: a fire a whole period behind reads as a period
    late. It assumes no tick was lost or duplicated (callers report those counts beside it).
    """
    if period_s <= 0:
        raise ValueError(f"period must be > 0, got {period_s}")
    return [round((fire - origin_s - k * period_s) * 1000, 3) for k, fire in enumerate(sorted(fires))]
