"""Setup time and the control plane's own cost (ready, teardown, RSS per process)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from harness.bench.common import BenchSettings, Say, bench_cluster
from harness.bench.stats import spread
from harness.cluster.controlplane import Cluster
from harness.cluster.runtime import DaprRuntime
from harness.paths import REPO_ROOT

__all__ = ["bench_cost", "bench_setup"]


def _rss_mib(cluster: Cluster) -> dict[str, float]:
    kinds: dict[str, list[float]] = {}
    for proc in cluster.processes():
        kind = proc.name.split("-")[-1] if proc.name.startswith("replica") else proc.name
        kinds.setdefault(kind, []).append(psutil.Process(proc.pid).memory_info().rss / 2**20)
    return {kind: round(statistics.median(v), 1) for kind, v in kinds.items()}


def bench_cost(runtime: DaprRuntime, s: BenchSettings, say: Say) -> dict[str, Any]:
    out = {}
    for n in s.cost_replicas:
        ready, down, rss = [], [], []
        for trial in range(s.trials):
            cluster = bench_cluster(runtime, f"bench-cost-{n}-{trial}", replicas=n)
            t0 = time.monotonic()
            with cluster:
                ready.append(time.monotonic() - t0)
                rss.append(_rss_mib(cluster))
                t1 = time.monotonic()
            down.append(time.monotonic() - t1)
        out[str(n)] = {"ready_s": spread(ready), "teardown_s": spread(down),
                       "rss_mib_per_process": {k: spread([r[k] for r in rss]) for k in rss[0]}}
        say(f"cost n={n}: ready {out[str(n)]['ready_s']['median']} s, "
            f"teardown {out[str(n)]['teardown_s']['median']} s")
    return out


def _timed_setup(env: dict[str, str]) -> float:
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "harness", "setup"], cwd=env.get("HARNESS_CWD", REPO_ROOT),
                          env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"setup failed: {proc.stderr[-500:]}")
    return time.monotonic() - t0


def _cold_setup_s() -> float:
    """Setup in a fresh clone with empty Go module and build caches and an empty build cache."""
    with tempfile.TemporaryDirectory(prefix="cold-setup-") as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(REPO_ROOT), str(clone)], check=True)
        env = {**os.environ, "GOMODCACHE": f"{tmp}/gomod", "GOCACHE": f"{tmp}/gocache",
               "DAPR_HARNESS_CACHE": f"{tmp}/cache", "HARNESS_CWD": str(clone)}
        seconds = _timed_setup(env)
        subprocess.run(["chmod", "-R", "u+w", tmp], check=False)  # module cache is read-only
        return seconds


def bench_setup(runtime: DaprRuntime, s: BenchSettings, say: Say) -> dict[str, Any]:
    warm = [_timed_setup(dict(os.environ)) for _ in range(s.trials)]
    say(f"setup warm: {statistics.median(warm):.1f} s")
    out: dict[str, Any] = {"warm_s": spread(warm)}
    if s.cold_setup:
        out["cold_s"] = spread([_cold_setup_s()])
        say(f"setup cold: {out['cold_s']['median']} s")
    return out
