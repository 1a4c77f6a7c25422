"""Benchmarks on real Dapr, each runnable alone: ``python -m harness bench NAME``.

Each benchmark runs ``trials`` times and reports median [min-max]; nothing here is a test. The
figures are merged into results/bench.json (so one benchmark can be re-run alone), stamped with
the commit, the machine and the load other work put on it, and rendered by reports/bench.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psutil

from harness.bench.basics import bench_cost, bench_setup
from harness.bench.checker import bench_checker
from harness.bench.common import BenchSettings, Say
from harness.bench.growth import bench_recurring, bench_replicas, bench_stored_jobs
from harness.bench.precision import bench_precision
from harness.bench.registration import bench_registration
from harness.bench.throughput import bench_recorder, bench_scheduling, bench_triggering
from harness.cluster.runtime import DaprRuntime
from harness.runner import harness_commit, machine, provenance

__all__ = ["BENCHMARKS", "BenchSettings", "run_benchmarks"]

Benchmark = Callable[[DaprRuntime, BenchSettings, Say], dict[str, Any]]
BENCHMARKS: dict[str, Benchmark] = {
    "setup": bench_setup,
    "scheduling": bench_scheduling,
    "triggering": bench_triggering,
    "recorder": bench_recorder,
    "precision": bench_precision,
    "replicas": bench_replicas,
    "stored-jobs": bench_stored_jobs,
    "recurring": bench_recurring,
    "cost": bench_cost,
    "registration": bench_registration,
    "checker": bench_checker,
}


def _tree_state() -> str:
    """'clean' or 'dirty': figures from uncommitted code say so (results/ aside, as for runs)."""
    return "dirty" if provenance().dirty else "clean"


def run_benchmarks(runtime: DaprRuntime, names: Sequence[str], settings: BenchSettings,
                   out: Path, say: Say, note: str | None = None) -> dict[str, Any]:
    """Run the named benchmarks; merge their figures into ``out`` (bench.json).

    ``note`` is printed under each of these benchmarks' stamps (e.g. what else was running).
    """
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise ValueError(f"unknown benchmark {unknown[0]!r}; known: {', '.join(BENCHMARKS)}")
    data: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {"benchmarks": {}}
    # Which entries were measured together: the report compares figures of one invocation.
    invocation = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for name in names:
        say(f"benchmark {name}: {settings.trials} trial(s), {settings.profile} profile")
        started = time.time()
        load_before = psutil.getloadavg()
        figures = BENCHMARKS[name](runtime, settings, say)
        data["benchmarks"][name] = {
            "figures": figures, "settings": asdict(settings),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "seconds": round(time.time() - started, 1), "dapr": runtime.version,
            "harness_commit": harness_commit(), "tree": _tree_state(), "machine": machine(),
            "invocation": invocation,
            "load_avg_1m": [round(load_before[0], 2), round(psutil.getloadavg()[0], 2)],
            **({"note": note} if note else {}),
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=2, default=list))
    return data
