"""Precision without drift: cron specs for absolute lateness, ``@every 1s`` for drift.

One cluster per trial (3 replicas, recording app) runs, side by side for ``precision_ticks``
seconds: a job and a cron binding on ``* * * * * *`` (lateness past each whole second), and a
job and a cron binding on ``@every 1s`` (drift from consecutive gaps; see timing.py). The job's
``@every`` gets an RFC3339 dueTime on a whole second, so its grid is known and its lateness on
that grid shows whether it stays there. Trials run at the same time, each with its own control
plane, so that three 600-tick windows take ten minutes, not thirty.
"""

from __future__ import annotations

import math
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from harness.bench.common import BenchSettings, Say, bench_cluster, rfc3339
from harness.bench.stats import percentile, spread
from harness.bench.timing import drift, lateness_by_count, lateness_on_grid
from harness.cluster.runtime import DaprRuntime
from harness.cluster.wait import wait_until
from harness.record.history import Trigger, load_history
from harness.scenario.model import BindingSpec

__all__ = ["bench_precision", "precision_figures"]

REPLICAS = 3
CRON = "* * * * * *"
EVERY = "@every 1s"
PERIOD_S = 1.0
NAMES = {"cron": "prec-cron", "every": "drift-every"}


def _lateness(walls: list[float], origin: float) -> dict[str, Any]:
    late = lateness_on_grid(walls, PERIOD_S, origin)
    return {"fires": len(late), "p50": percentile(late, 50), "p99": percentile(late, 99),
            "max": max(late) if late else None}


def precision_figures(triggers: list[Trigger], every_due: float) -> dict[str, Any]:
    """One trial's figures from the triggers its apps recorded (pure)."""
    def walls(mechanism: str, name: str, replica: int | None = None) -> list[float]:
        return sorted(t.wall for t in triggers if t.mechanism == mechanism and t.name == name
                      and (replica is None or t.replica == replica))

    job_every = walls("job", NAMES["every"])
    replicas = sorted({t.replica for t in triggers})
    binding_drift = [d for r in replicas if (d := drift(walls("binding", NAMES["every"], r), PERIOD_S))]
    grid = lateness_by_count(job_every, PERIOD_S, every_due)
    edge = max(1, min(10, len(grid) // 2))
    return {
        "cron_job": _lateness(walls("job", NAMES["cron"]), 0.0),
        "cron_binding": _lateness(walls("binding", NAMES["cron"]), 0.0),
        "every_job_drift": drift(job_every, PERIOD_S),
        "every_job_grid_first_ms": statistics.median(grid[:edge]) if grid else None,
        "every_job_grid_last_ms": statistics.median(grid[-edge:]) if grid else None,
        "every_binding_drift": binding_drift,
    }


def _trial(runtime: DaprRuntime, s: BenchSettings, trial: int) -> dict[str, Any]:
    bindings = [BindingSpec(name=NAMES["cron"], schedule=CRON),
                BindingSpec(name=NAMES["every"], schedule=EVERY)]
    cluster = bench_cluster(runtime, f"bench-precision-{trial}", replicas=REPLICAS, bindings=bindings)
    with cluster:
        due = math.floor(time.time()) + 2.0
        for name, body in ((NAMES["cron"], {"schedule": CRON}),
                           (NAMES["every"], {"schedule": EVERY, "dueTime": rfc3339(due)})):
            status = httpx.post(f"{cluster.dapr_url}/v1.0/jobs/{name}", json=body, timeout=10).status_code
            if status != 204:
                raise RuntimeError(f"creating job {name} answered {status}")
        end = due + s.precision_ticks + 0.5
        history: Path = cluster.run.history
        wait_until(lambda: time.time() >= end, timeout_s=end - time.time() + 5,
                   what=f"{s.precision_ticks} ticks", interval_s=0.5)
    figures = precision_figures(list(load_history(history).triggers), due)
    figures["run_id"] = cluster.run.run_id
    return figures


def bench_precision(runtime: DaprRuntime, s: BenchSettings, say: Say) -> dict[str, Any]:
    with ThreadPoolExecutor(max_workers=s.trials) as pool:
        rows = list(pool.map(lambda t: _trial(runtime, s, t), range(s.trials)))
    for i, row in enumerate(rows):
        say(f"precision trial {i + 1}: cron job p99 {row['cron_job']['p99']} ms, cron binding p99 "
            f"{row['cron_binding']['p99']} ms, @every drift job "
            f"{(row['every_job_drift'] or {}).get('per_tick_ms')} ms/tick, binding "
            f"{[d['per_tick_ms'] for d in row['every_binding_drift']]} ms/tick")
    out: dict[str, Any] = {"replicas": REPLICAS, "ticks": s.precision_ticks, "trials": rows}
    for key in ("cron_job", "cron_binding"):
        out[key] = {q: spread([r[key][q] for r in rows]) for q in ("p50", "p99", "max")}
        out[key]["fires"] = sum(r[key]["fires"] for r in rows)
    out["every_job"] = {
        "per_tick_ms": spread([(r["every_job_drift"] or {}).get("per_tick_ms") for r in rows]),
        "per_day_s": spread([(r["every_job_drift"] or {}).get("per_day_s") for r in rows]),
        "grid_first_ms": spread([r["every_job_grid_first_ms"] for r in rows]),
        "grid_last_ms": spread([r["every_job_grid_last_ms"] for r in rows])}
    per_replica = [d for r in rows for d in r["every_binding_drift"]]
    out["every_binding"] = {"per_tick_ms": spread([d["per_tick_ms"] for d in per_replica]),
                            "per_day_s": spread([d["per_day_s"] for d in per_replica]),
                            "total_ms": spread([d["total_ms"] for d in per_replica]),
                            "streams": len(per_replica)}
    return out
