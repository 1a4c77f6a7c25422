"""Benchmarks on real Dapr: scheduling throughput, triggering throughput, precision, cost.

Each benchmark runs ``trials`` times and reports the median with min and max. Nothing here is a
test: figures are printed and written to results/bench.json, rendered by bench_report.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from harness.cluster.controlplane import Cluster
from harness.run.history import load_history
from harness.bench.loadgen import run_calls, run_load
from harness.run import actors, workflow_app
from harness.run.tasks import sdk_job
from harness.paths import REPO_ROOT, RUNS_DIR
from harness.cluster.process import ManagedProcess, stop_all
from harness.cluster.ports import PortReservation
from harness.run.rundir import new_run_dir
from harness.runner import harness_commit, machine, run_scenario
from harness.cluster.runtime import DaprRuntime
from harness.scenario.model import BindingSpec, Expectation, JobSpec, Scenario, TaskSpec
from harness.cluster.wait import wait_until

__all__ = ["BENCHMARKS", "BenchSettings", "run_benchmarks"]

BENCH_RUNS = RUNS_DIR / "bench"  # one level down: `report` does not take these for scenarios


@dataclass(frozen=True)
class BenchSettings:
    trials: int = 3
    scheduling_seconds: float = 10.0
    scheduling_rate: float = 1000.0  # Dapr's perf test offers 1,000 creations/s
    concurrency: int = 50  # Dapr's triggering perf test uses 50 workers
    trigger_counts: tuple[int, ...] = (1000, 5000, 20000)
    precision_ticks: int = 300
    replica_counts: tuple[int, ...] = (1, 3, 5, 10)
    cold_setup: bool = False  # also time a build from empty Go caches (minutes)
    registration_count: int = 500  # reminders, workflow starts and SDK jobs per trial


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median with min and max, the form every figure is reported in."""
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3), "n": len(values)}


def _cluster(runtime: DaprRuntime, label: str, replicas: int = 3) -> Cluster:
    return Cluster(runtime, new_run_dir(label, base=BENCH_RUNS), replicas=replicas)


def _jobs_url(cluster: Cluster, i: int, name: str) -> str:
    return f"{cluster.replicas[i % len(cluster.replicas)].dapr_url}/v1.0/jobs/{name}"


# -- 1. scheduling ------------------------------------------------------------------------------
def bench_scheduling(runtime: DaprRuntime, s: BenchSettings, say: Callable[[str], None]) -> dict[str, Any]:
    trials: dict[str, list[dict[str, Any]]] = {"fixed_rate": [], "full_speed": []}
    for trial in range(s.trials):
        with _cluster(runtime, f"bench-scheduling-{trial}") as cluster:
            for mode, rate in (("fixed_rate", s.scheduling_rate), ("full_speed", None)):
                count = int(s.scheduling_rate * s.scheduling_seconds) if rate else 10**7
                result = run_load(
                    lambda i, m=mode: ("POST", _jobs_url(cluster, i, f"{m}-{i}"), {"dueTime": "1h"}),
                    count=count, concurrency=s.concurrency, rate=rate,
                    max_s=s.scheduling_seconds)
                trials[mode].append(result.to_dict())
                say(f"scheduling {mode} trial {trial + 1}: {result.accepted_per_s:.0f} accepted/s")
    return {mode: _summarise_load(rows) for mode, rows in trials.items()}


def _summarise_load(rows: list[dict[str, Any]]) -> dict[str, Any]:
    errors: Counter[str] = Counter()
    for row in rows:
        errors.update(row["errors_by_status"])
    return {
        "offered_rate": rows[0]["offered_rate"], "concurrency": rows[0]["concurrency"],
        "seconds": rows[0]["duration_s"],
        "accepted_per_s": spread([r["accepted_per_s"] for r in rows]),
        "latency_p50_ms": spread([r["latency_ms"]["p50"] for r in rows if r["latency_ms"]]),
        "latency_p99_ms": spread([r["latency_ms"]["p99"] for r in rows if r["latency_ms"]]),
        "errors_by_status": dict(errors), "trials": rows,
    }


# -- 2. triggering ------------------------------------------------------------------------------
def _trigger_once(runtime: DaprRuntime, n: int, s: BenchSettings, label: str) -> dict[str, Any]:
    with _cluster(runtime, label) as cluster:
        # Due far enough ahead that every job exists before the first is due (~500 creations/s
        # were measured here), so the figure is delivery, not creation.
        due = time.time() + 5.0 + n / 300
        due_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(due)) + f".{int(due % 1 * 1000):03d}Z"
        created = run_load(lambda i: ("POST", _jobs_url(cluster, i, f"t{i}"), {"dueTime": due_text}),
                           count=n, concurrency=s.concurrency, max_s=600)
        created_at = time.time()
        history_path = cluster.run.history
        wait_until(lambda: _job_triggers(history_path) >= created.accepted,
                   timeout_s=due - time.time() + 120 + n / 100, what=f"{n} triggers", interval_s=0.5)
    history = load_history(history_path)
    walls = sorted(t.wall for t in history.triggers if t.mechanism == "job")
    per_job = Counter(t.name for t in history.triggers if t.mechanism == "job")
    span = walls[-1] - walls[0] if len(walls) > 1 else 0.0
    return {
        "n": n, "created": created.accepted, "created_before_due": created_at < due,
        "first_to_last_s": round(span, 3), "triggers": len(walls),
        "triggers_per_s": round(len(walls) / span, 1) if span else None,
        "first_after_due_ms": round((walls[0] - due) * 1000, 1) if walls else None,
        "duplicated_jobs": sum(1 for c in per_job.values() if c > 1),
        "missing_jobs": created.accepted - len(per_job),
        "per_replica": dict(Counter(str(t.replica) for t in history.triggers)),
    }


def _job_triggers(history_path: Path) -> int:
    return sum(1 for line in history_path.open() if '"kind":"trigger"' in line)


def bench_triggering(runtime: DaprRuntime, s: BenchSettings, say: Callable[[str], None]) -> dict[str, Any]:
    out = {}
    for n in s.trigger_counts:
        rows = []
        for trial in range(s.trials):
            rows.append(_trigger_once(runtime, n, s, f"bench-trigger-{n}-{trial}"))
            say(f"triggering n={n} trial {trial + 1}: {rows[-1]['triggers_per_s']} triggers/s, "
                f"{rows[-1]['duplicated_jobs']} duplicated, {rows[-1]['missing_jobs']} missing")
        out[str(n)] = {
            "triggers_per_s": spread([r["triggers_per_s"] or 0.0 for r in rows]),
            "first_to_last_s": spread([r["first_to_last_s"] for r in rows]),
            "duplicated_jobs": sum(r["duplicated_jobs"] for r in rows),
            "missing_jobs": sum(r["missing_jobs"] for r in rows), "trials": rows,
        }
    return out


# -- 3. precision -------------------------------------------------------------------------------
def bench_precision(runtime: DaprRuntime, s: BenchSettings, say: Callable[[str], None]) -> dict[str, Any]:
    scenario = Scenario(
        name="bench-precision", source=Path(__file__), replicas=3,
        window_s=s.precision_ticks + 5.0,
        jobs=(JobSpec(name="precision-job", schedule="@every 1s"),),
        bindings=(BindingSpec(name="precision-cron", schedule="@every 1s"),),
        expect={"job": Expectation(delivery="at_least_once", min_ticks=s.precision_ticks),
                "binding": Expectation(delivery="once_per_replica", min_ticks=s.precision_ticks)},
    )
    rows: dict[str, list[dict[str, Any]]] = {"job": [], "binding": []}
    for trial in range(s.trials):
        result = run_scenario(scenario, runtime, runs_dir=BENCH_RUNS)
        for entry in result.summary["mechanisms"]:
            rows[entry["mechanism"]].append({
                "run_id": result.run.run_id, "ticks": entry["ticks_expected"],
                "lost": entry["lost_ticks"], "duplicated": entry["duplicated_ticks"],
                "early": entry["early_triggers"], **entry["lateness_ms"]})
        say(f"precision trial {trial + 1}: " + ", ".join(
            f"{m} p99 {r[-1]['p99']} ms" for m, r in rows.items()))
    return {mechanism: {key: spread([r[key] for r in trials if r[key] is not None])
                        for key in ("p50", "p90", "p99", "max")} | {"trials": trials}
            for mechanism, trials in rows.items()}


# -- 4. control-plane cost ----------------------------------------------------------------------
def _rss_mib(cluster: Cluster) -> dict[str, float]:
    kinds: dict[str, list[float]] = {}
    for proc in cluster.processes():
        kind = proc.name.split("-")[-1] if proc.name.startswith("replica") else proc.name
        kinds.setdefault(kind, []).append(psutil.Process(proc.pid).memory_info().rss / 2**20)
    return {kind: round(statistics.median(v), 1) for kind, v in kinds.items()}


def bench_cost(runtime: DaprRuntime, s: BenchSettings, say: Callable[[str], None]) -> dict[str, Any]:
    out = {}
    for n in s.replica_counts:
        ready, down, rss = [], [], []
        for trial in range(s.trials):
            cluster = _cluster(runtime, f"bench-cost-{n}-{trial}", replicas=n)
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


# -- 5. the harness is not the bottleneck -------------------------------------------------------
RECORDER_APPS = 3  # as many app processes (and recorders on one history) as the cluster runs


def _apps_alone(label: str) -> tuple[list[ManagedProcess], list[int], Path]:
    """The sample app as the cluster runs it, without Dapr, to measure the app and recorder."""
    run = new_run_dir(label, base=BENCH_RUNS)
    ports = PortReservation(RECORDER_APPS)
    apps = [ManagedProcess(f"app-{i}", [sys.executable, "-m", "uvicorn", "harness.run.app:app",
                                        "--host", "127.0.0.1", "--port", str(port),
                                        "--log-level", "warning", "--no-access-log"],
                           run_id=run.run_id, log_path=run.log(f"app-{i}"), cwd=REPO_ROOT,
                           ports=ports if i == 0 else None,
                           env={"HARNESS_HISTORY": str(run.history), "HARNESS_REPLICA": str(i)})
            for i, port in enumerate(ports.ports)]
    return apps, list(ports.ports), run.history


def bench_recorder(runtime: DaprRuntime, s: BenchSettings, say: Callable[[str], None]) -> dict[str, Any]:
    rows = []
    for trial in range(s.trials):
        apps, ports, history = _apps_alone(f"bench-recorder-{trial}")
        try:
            for app in apps:
                app.start()
            wait_until(lambda: all(_up(p) for p in ports), timeout_s=30, what="apps healthy")
            result = run_load(
                lambda i: ("POST", f"http://127.0.0.1:{ports[i % len(ports)]}/job/r{i}", {"i": i}),
                count=10**7, concurrency=s.concurrency, max_s=10.0)
        finally:
            stop_all(apps)
        recorded = _job_triggers(history)
        rows.append({"requests_per_s": round(result.accepted_per_s, 1), "accepted": result.accepted,
                     "recorded": recorded, "lost_records": result.accepted - recorded})
        say(f"recorder trial {trial + 1}: {rows[-1]['requests_per_s']} req/s, "
            f"{rows[-1]['lost_records']} records lost")
    return {"apps": RECORDER_APPS, "requests_per_s": spread([r["requests_per_s"] for r in rows]),
            "lost_records": sum(r["lost_records"] for r in rows), "trials": rows}


def _up(port: int) -> bool:
    return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0).status_code == 200


# -- 0. setup ----------------------------------------------------------------------------------
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


def bench_setup(runtime: DaprRuntime, s: BenchSettings, say: Callable[[str], None]) -> dict[str, Any]:
    warm = [_timed_setup(dict(os.environ)) for _ in range(s.trials)]
    say(f"setup warm: {statistics.median(warm):.1f} s")
    out: dict[str, Any] = {"warm_s": spread(warm)}
    if s.cold_setup:
        out["cold_s"] = spread([_cold_setup_s()])
        say(f"setup cold: {out['cold_s']['median']} s")
    return out


# -- 7. registration of the other mechanisms ---------------------------------------------------
def _registration_tasks() -> list[dict[str, Any]]:
    """What the apps must host: the reminder actor type, a workflow worker, SDK job handlers."""
    tasks = [TaskSpec(mechanism="reminder", name="bench-reminder", schedule="@every 1h"),
             TaskSpec(mechanism="workflow", name="bench-workflow", schedule="@every 1h")]
    return [t.model_dump() for t in tasks]


def _sdk_call(cluster: Cluster) -> Callable[[int], str]:
    """Create the i-th job through the SDK (one client per thread), returning its status."""
    import grpc
    from dapr.clients import DaprClient
    from dapr.conf import settings

    address, http_url = cluster.sdk_sidecar or ("", "")
    settings.DAPR_HTTP_ENDPOINT = http_url  # the SDK's health probe reads this setting
    local = threading.local()

    def call(i: int) -> str:
        if not hasattr(local, "client"):
            local.client = DaprClient(address=address)
        try:
            local.client.schedule_job(sdk_job(TaskSpec(mechanism="job-sdk", name=f"s{i}",
                                                       schedule="@every 1h")))
        except grpc.RpcError as exc:
            return str(exc.code().name)
        return "OK"
    return call


def bench_registration(runtime: DaprRuntime, s: BenchSettings,
                       say: Callable[[str], None]) -> dict[str, Any]:
    """How fast each mechanism beside the Jobs API over HTTP accepts new work, full speed with
    ``concurrency`` clients, ``registration_count`` each: actor reminders (one actor id each,
    so placement spreads them), workflow starts, and jobs created through the Python SDK
    (gRPC). 3 replicas of each app and the run's Redis."""
    rows: dict[str, list[dict[str, Any]]] = {"reminder": [], "workflow": [], "job-sdk": []}
    n, c = s.registration_count, s.concurrency
    for trial in range(s.trials):
        run = new_run_dir(f"bench-registration-{trial}", base=BENCH_RUNS)
        with Cluster(runtime, run, replicas=3, grpc_replicas=3, redis=True,
                     tasks=_registration_tasks()) as cluster:
            url = cluster.dapr_url
            loads = {
                "reminder": lambda: run_load(lambda i: ("POST", actors.reminder_url(url, "r", f"a{i}"),
                                                        actors.reminder_body("@every 1h", None)),
                                             count=n, concurrency=c),
                "workflow": lambda: run_load(lambda i: ("POST", workflow_app.start_url(url, f"w{i}"),
                                                        workflow_app.workflow_input(f"w{i}", 3600.0, None)),
                                             count=n, concurrency=c),
                "job-sdk": lambda: run_calls(_sdk_call(cluster), count=n, concurrency=c),
            }
            for mechanism, load in loads.items():
                rows[mechanism].append(load().to_dict())
                say(f"registration {mechanism} trial {trial + 1}: "
                    f"{rows[mechanism][-1]['accepted_per_s']} accepted/s")
    return {mechanism: _summarise_load(trials) for mechanism, trials in rows.items()}


BENCHMARKS: dict[str, Callable[[DaprRuntime, BenchSettings, Callable[[str], None]], dict[str, Any]]] = {
    "setup": bench_setup,
    "scheduling": bench_scheduling,
    "triggering": bench_triggering,
    "precision": bench_precision,
    "cost": bench_cost,
    "recorder": bench_recorder,
    "registration": bench_registration,
}


def run_benchmarks(runtime: DaprRuntime, names: Sequence[str], settings: BenchSettings,
                   out: Path, say: Callable[[str], None]) -> dict[str, Any]:
    """Run the named benchmarks; merge their figures into ``out`` (bench.json)."""
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise ValueError(f"unknown benchmark {unknown[0]!r}; known: {', '.join(BENCHMARKS)}")
    data: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {"benchmarks": {}}
    for name in names:
        say(f"benchmark {name}: {settings.trials} trial(s)")
        started = time.time()
        figures = BENCHMARKS[name](runtime, settings, say)
        data["benchmarks"][name] = {
            "figures": figures, "settings": asdict(settings),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "seconds": round(time.time() - started, 1), "dapr": runtime.version,
            "harness_commit": harness_commit(), "machine": machine(),
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=2, default=list))
    return data
