"""Drift and lateness of periodic fires (harness/bench/timing.py) and the figure summaries."""

from __future__ import annotations

import pytest

from harness.bench.stats import percentile, ratio, spread
from harness.bench.timing import DAY_S, drift, lateness_by_count, lateness_on_grid


def test_spread_is_median_min_max_over_present_values() -> None:
    assert spread([3.0, None, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}
    assert spread([None, None]) is None


def test_percentile_and_ratio() -> None:
    assert percentile([0.0, 10.0], 50) == 5.0
    assert percentile([], 99) is None
    assert ratio(300.0, 600.0) == 0.5
    assert ratio(300.0, None) is None and ratio(None, 600.0) is None


def test_a_stream_on_its_period_has_no_drift() -> None:
    fires = [100.003 + k for k in range(600)]  # constant lateness is not drift
    d = drift(fires, 1.0)
    assert d is not None
    assert d["ticks"] == 599
    assert d["per_tick_ms"] == pytest.approx(0.0, abs=1e-6)
    assert d["per_day_s"] == pytest.approx(0.0, abs=1e-3)


def test_wake_plus_period_slips_by_the_timer_lateness_every_tick() -> None:
    # dapr/kit @every: next = wake + period, so a 0.64 ms late timer moves every later tick.
    fires = [10.0 + k * 1.00064 for k in range(301)]
    d = drift(fires, 1.0)
    assert d is not None
    assert d["per_tick_ms"] == pytest.approx(0.64, abs=1e-6)
    assert d["per_day_s"] == pytest.approx(0.64e-3 * DAY_S, abs=0.1)
    assert d["total_ms"] == pytest.approx(192.0, abs=0.1)


def test_a_lost_tick_is_not_drift() -> None:
    fires = [float(k) for k in range(20) if k != 7]  # tick 7 missing: a 2 s gap
    d = drift(fires, 1.0)
    assert d is not None
    assert d["ticks"] == 19 and d["per_tick_ms"] == pytest.approx(0.0, abs=1e-9)


def test_drift_needs_two_fires_and_a_period() -> None:
    assert drift([1.0], 1.0) is None
    with pytest.raises(ValueError, match="period"):
        drift([1.0, 2.0], 0.0)


def test_lateness_on_a_cron_grid_is_past_the_whole_second() -> None:
    assert lateness_on_grid([1000.004, 1001.25, 1002.0], 1.0) == [4.0, 250.0, 0.0]


def test_lateness_on_a_grid_with_an_origin() -> None:
    assert lateness_on_grid([10.5 + 2.01, 10.5 + 4.0], 2.0, origin_s=10.5) == pytest.approx([10.0, 0.0])


def test_lateness_by_count_does_not_wrap_a_period_behind() -> None:
    # The third fire comes 1.2 s after its due moment: on a grid it would read as 200 ms.
    assert lateness_by_count([50.002, 51.003, 53.2], 1.0, 50.0) == pytest.approx([2.0, 3.0, 1200.0])
    assert lateness_on_grid([53.2], 1.0, 50.0) == pytest.approx([200.0])


def test_drift_is_a_slope_so_one_late_endpoint_barely_moves_it() -> None:
    fires = [float(k) for k in range(601)]
    fires[-1] += 0.030  # the last fire 30 ms late: end-to-end would read 0.05 ms per tick
    d = drift(fires, 1.0)
    assert d is not None
    assert abs(d["per_tick_ms"]) < 0.001


def test_a_stalled_tick_delivered_with_the_next_is_not_drift() -> None:
    # Measured on a job @every 1s: one gap of 2 s then one of 0 s (a tick held, then both sent).
    fires = [float(k) for k in range(600)]
    fires[300] = 301.0
    d = drift(fires, 1.0)
    assert d is not None
    assert d["ticks"] == 599 and abs(d["per_tick_ms"]) < 0.01
