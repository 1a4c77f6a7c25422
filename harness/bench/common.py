"""What the benchmarks share: their settings, a cluster with either app, CPU per process kind."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harness.bench.cpu import CpuSampler
from harness.bench.native import sink_argv
from harness.cluster.controlplane import Cluster
from harness.cluster.runtime import DaprRuntime
from harness.paths import RUNS_DIR
from harness.drive.driver import install_bindings
from harness.record.history import HistoryWriter
from harness.record.rundir import new_run_dir
from harness.scenario.model import BindingSpec

__all__ = ["BENCH_RUNS", "BenchSettings", "Say", "bench_cluster", "cluster_sampler", "count_triggers",
           "rfc3339", "sink_counts"]

BENCH_RUNS = RUNS_DIR / "bench"  # one level down: `report` does not take these for scenarios
Say = Callable[[str], None]


@dataclass(frozen=True)
class BenchSettings:
    """Sizes of every benchmark; ``quick()`` is the smoke-test profile (a few minutes)."""

    trials: int = 3
    concurrency: int = 50  # Dapr's perf tests use 50 workers
    scheduling_rate: float = 1000.0  # Dapr's scheduling perf test offers 1,000 creations/s
    scheduling_seconds: float = 10.0
    trigger_counts: tuple[int, ...] = (5000, 20000)
    recorder_seconds: float = 10.0
    precision_ticks: int = 600
    sweep_replicas: tuple[int, ...] = (1, 3, 5, 10)
    sweep_members: tuple[int, ...] = (1, 3)
    sweep_jobs: int = 5000
    stored_jobs: tuple[int, ...] = (1000, 10000, 50000)
    recurring_jobs: tuple[int, ...] = (10, 100, 1000)
    recurring_window_s: float = 20.0
    cost_replicas: tuple[int, ...] = (1, 3, 5, 10)
    registration_count: int = 500  # reminders, workflow starts and SDK jobs per trial
    cold_setup: bool = False  # also time a build from empty Go caches (minutes)
    profile: str = "full"

    @classmethod
    def quick(cls, trials: int = 1, cold_setup: bool = False) -> BenchSettings:
        return cls(trials=trials, scheduling_seconds=2.0, trigger_counts=(300,),
                   recorder_seconds=2.0, precision_ticks=8, sweep_replicas=(1, 2),
                   sweep_members=(1,), sweep_jobs=200, stored_jobs=(100, 300),
                   recurring_jobs=(5, 20), recurring_window_s=4.0, cost_replicas=(1,),
                   registration_count=50,
                   cold_setup=cold_setup, profile="quick")


def bench_cluster(runtime: DaprRuntime, label: str, *, replicas: int = 3, null_sink: bool = False,
                  schedulers: int = 1, bindings: Sequence[BindingSpec] = ()) -> Cluster:
    """A cluster whose replicas run the recording sample app, or the null sink."""
    run = new_run_dir(label, base=BENCH_RUNS)
    with HistoryWriter(run.history) as history:  # components must exist before daprd starts
        routes = install_bindings(bindings, run, history)
    return Cluster(runtime, run, replicas=replicas, schedulers=schedulers, binding_routes=routes,
                   app_command=sink_argv if null_sink else None, log_level="warn")


def cluster_sampler(cluster: Cluster, **extra_pids: list[int]) -> CpuSampler:
    """CPU per kind of process of a cluster (and of any extra pids, e.g. the load generator)."""
    pids: dict[str, list[int]] = {"placement": [cluster.placement.process.pid],
                                  "scheduler": [s.process.pid for s in cluster.schedulers],
                                  "daprd": [r.daprd.pid for r in cluster.replicas],
                                  "app": [r.app.pid for r in cluster.replicas]}
    return CpuSampler({**pids, **extra_pids})


def sink_counts(cluster: Cluster) -> dict[str, Any]:
    """Requests the null sinks counted, summed, with the first and last arrival (s)."""
    rows = [httpx.get(f"http://127.0.0.1:{r.app_port}/_count", timeout=5.0).json()
            for r in cluster.replicas]
    firsts = [r["first_ns"] / 1e9 for r in rows if r["count"]]
    lasts = [r["last_ns"] / 1e9 for r in rows if r["count"]]
    return {"count": sum(r["count"] for r in rows), "per_replica": [r["count"] for r in rows],
            "first": min(firsts) if firsts else None, "last": max(lasts) if lasts else None}


def count_triggers(history: Path) -> int:
    """Trigger records in a history, without parsing every line."""
    with history.open() as fh:
        return sum(1 for line in fh if '"kind":"trigger"' in line)


def rfc3339(wall: float) -> str:
    """A UTC RFC3339 timestamp with milliseconds, as the Jobs API's dueTime accepts."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall)) + f".{int(wall % 1 * 1000):03d}Z"
