"""How cost grows: with replicas and scheduler members, with stored jobs, with recurring jobs."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import psutil

from harness.bench.common import BenchSettings, Say, bench_cluster, cluster_sampler, rfc3339
from harness.bench.cpu import limiting_side
from harness.bench.native import run_native_load
from harness.bench.stats import percentile, spread
from harness.bench.throughput import CORES, deliver_due_jobs
from harness.bench.timing import lateness_by_count
from harness.cluster.runtime import DaprRuntime
from harness.cluster.wait import wait_until
from harness.record.history import load_history

__all__ = ["bench_recurring", "bench_replicas", "bench_stored_jobs"]


# -- triggers/s against replicas and scheduler members (null sink: Dapr's side only) -------------
def bench_replicas(runtime: DaprRuntime, s: BenchSettings, say: Say) -> dict[str, Any]:
    out: dict[str, Any] = {"jobs": s.sweep_jobs, "cells": {}}
    for members in s.sweep_members:
        for replicas in s.sweep_replicas:
            rows = []
            for trial in range(s.trials):
                with bench_cluster(runtime, f"bench-replicas-{members}x{replicas}-{trial}",
                                   replicas=replicas, null_sink=True, schedulers=members) as cluster:
                    rows.append(deliver_due_jobs(cluster, s.sweep_jobs, s, null_sink=True))
            out["cells"][f"{members}x{replicas}"] = {
                "members": members, "replicas": replicas,
                "triggers_per_s": spread([r["triggers_per_s"] for r in rows]),
                "lost": sum(max(0, r["created"] - r["triggers"]) for r in rows),
                "limited_by": [r["limited_by"] for r in rows], "trials": rows}
            say(f"replicas sweep {members} scheduler(s) x {replicas} replica(s): "
                f"{out['cells'][f'{members}x{replicas}']['triggers_per_s']} triggers/s")
    return out


# -- scheduler RSS, etcd size and creation rate as stored jobs grow -------------------------------
def _stored_trial(runtime: DaprRuntime, s: BenchSettings, trial: int) -> list[dict[str, Any]]:
    rows = []
    with bench_cluster(runtime, f"bench-stored-{trial}", replicas=1, null_sink=True) as cluster:
        scheduler = psutil.Process(cluster.scheduler.process.pid)
        url = [f"{cluster.dapr_url}/v1.0/jobs/s{{i}}"]
        stored = 0
        for level in s.stored_jobs:
            sampler = cluster_sampler(cluster)
            sampler.start()
            load = run_native_load(url, count=level - stored, concurrency=s.concurrency,
                                   max_s=600, body='{"dueTime": "24h"}', start=stored)
            cpu = sampler.stop(extra={"loadgen": load.cpu_s})
            stored += load.accepted
            rows.append({"level": level, "stored": stored,
                         "creations_per_s": round(load.accepted_per_s, 1),
                         "scheduler_rss_mib": round(scheduler.memory_info().rss / 2**20, 1),
                         "etcd_db_mib": cluster.etcd_db_mib(), "errors": load.to_dict()["errors_by_status"],
                         "cpu_pct": cpu, "limited_by": limiting_side(cpu, CORES)})
    return rows


def bench_stored_jobs(runtime: DaprRuntime, s: BenchSettings, say: Say) -> dict[str, Any]:
    trials = []
    for trial in range(s.trials):
        trials.append(_stored_trial(runtime, s, trial))
        say(f"stored jobs trial {trial + 1}: " + "; ".join(
            f"{r['stored']} jobs: {r['creations_per_s']}/s, scheduler {r['scheduler_rss_mib']} MiB, "
            f"etcd {r['etcd_db_mib']} MiB" for r in trials[-1]))
    levels = {}
    for i, level in enumerate(s.stored_jobs):
        rows = [t[i] for t in trials]
        levels[str(level)] = {k: spread([r[k] for r in rows])
                              for k in ("creations_per_s", "scheduler_rss_mib", "etcd_db_mib")}
        levels[str(level)]["limited_by"] = [r["limited_by"] for r in rows]
    return {"levels": levels, "trials": trials}


# -- lateness as the number of recurring jobs grows -----------------------------------------------
PERIOD_S = 1.0


def _recurring_trial(runtime: DaprRuntime, s: BenchSettings, jobs: int, trial: int) -> dict[str, Any]:
    with bench_cluster(runtime, f"bench-recurring-{jobs}-{trial}") as cluster:
        due = math.floor(time.time() + 3.0 + jobs / 400)
        created = run_native_load([f"{r.dapr_url}/v1.0/jobs/e{{i}}" for r in cluster.replicas],
                                  count=jobs, concurrency=s.concurrency, max_s=max(1.0, due - time.time()),
                                  body=f'{{"schedule": "@every 1s", "dueTime": "{rfc3339(due)}"}}')
        end = due + s.recurring_window_s
        wait_until(lambda: time.time() >= due, timeout_s=due - time.time() + 5, what="due", interval_s=0.01)
        sampler = cluster_sampler(cluster).start()
        # One period of grace, so the window's last ticks are recorded even when late.
        wait_until(lambda: time.time() >= end + PERIOD_S, timeout_s=end - time.time() + 6, what="window",
                   interval_s=0.2)
        cpu = sampler.stop()
        history: Path = cluster.run.history
    per_job: dict[str, list[float]] = {}
    for t in load_history(history).triggers:
        if t.mechanism == "job" and t.wall >= due:
            per_job.setdefault(t.name, []).append(t.wall)
    ticks = int(s.recurring_window_s / PERIOD_S)  # due, due + 1 s, ... before the window ends
    late = [ms for fires in per_job.values()
            for ms in lateness_by_count(sorted(fires)[:ticks], PERIOD_S, float(due))]
    walls = [w for fires in per_job.values() for w in sorted(fires)[:ticks]]
    expected = created.accepted * ticks
    return {"jobs": jobs, "created": created.accepted, "triggers": len(walls), "expected": expected,
            "p50": percentile(late, 50), "p99": percentile(late, 99), "max": max(late) if late else None,
            "cpu_pct": cpu, "limited_by": limiting_side(cpu, CORES)}


def bench_recurring(runtime: DaprRuntime, s: BenchSettings, say: Say) -> dict[str, Any]:
    out: dict[str, Any] = {"replicas": 3, "window_s": s.recurring_window_s, "sizes": {}}
    for jobs in s.recurring_jobs:
        rows = [_recurring_trial(runtime, s, jobs, t) for t in range(s.trials)]
        out["sizes"][str(jobs)] = {q: spread([r[q] for r in rows]) for q in ("p50", "p99", "max")}
        out["sizes"][str(jobs)] |= {"triggers": sum(r["triggers"] for r in rows),
                                    "expected": sum(r["expected"] for r in rows),
                                    "limited_by": [r["limited_by"] for r in rows], "trials": rows}
        say(f"recurring {jobs} jobs @every 1s: lateness p99 {out['sizes'][str(jobs)]['p99']} ms")
    return out
