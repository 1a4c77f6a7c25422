"""Runs one scenario on real Dapr: start the cluster, drive it, observe, check, write results."""

from __future__ import annotations

import json
import platform
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

from .checker import CheckResult, check
from .controlplane import Cluster
from .driver import JobsClient, install_bindings
from .history import HistoryWriter, load_history
from .metrics import metric_total
from .nemesis import fault_actions
from .paths import REPO_ROOT
from .rundir import RunDir, new_run_dir
from .runtime import DaprRuntime, locate_runtime, logged_version
from .scenario import Scenario

__all__ = ["RunResult", "run_scenario"]


@dataclass
class RunResult:
    run: RunDir
    scenario: Scenario
    check: CheckResult
    summary: dict[str, Any]
    driver_errors: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.check.passed and not self.driver_errors


@dataclass(frozen=True)
class _Step:
    at_s: float
    label: str
    act: Callable[[], None]


def harness_commit() -> str | None:
    proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                          capture_output=True, text=True, check=False)
    return proc.stdout.strip() or None


def machine() -> dict[str, Any]:
    return {
        "hostname": socket.gethostname(),
        "cpus": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "platform": platform.platform(),
    }


def _iso(wall: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall))


def _job_steps(scenario: Scenario, jobs: JobsClient, errors: list[str]) -> list[_Step]:
    def create(job: Any) -> Callable[[], None]:
        def act() -> None:
            response = jobs.schedule(job)
            if response.status_code != job.expect_status:
                errors.append(f"job {job.name!r}: create returned {response.status_code}, "
                              f"expected {job.expect_status}: {response.text[:300]}")
        return act

    return [_Step(job.at_s, f"create job {job.name}", create(job)) for job in scenario.jobs]


def _run_steps(steps: list[_Step], window_start: float) -> None:
    for step in sorted(steps, key=lambda s: s.at_s):
        _sleep_until(window_start + step.at_s)
        step.act()


def _sleep_until(monotonic_deadline: float) -> None:
    """Wait for a moment on the scenario's timeline (the timeline is the experiment itself)."""
    remaining = monotonic_deadline - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)


def _collect_metrics(cluster: Cluster) -> dict[str, float | None]:
    def total(scrape: Callable[[], dict[str, float]], name: str) -> float | None:
        try:
            return metric_total(scrape(), name)
        except Exception:  # a killed process has no metrics; the record says so with None
            return None

    daprd = [total(r.metrics, "dapr_component_job_success_count") for r in cluster.replicas]
    failures = [total(r.metrics, "dapr_component_job_failure_count") for r in cluster.replicas]
    return {
        "daprd_job_success": sum(v for v in daprd if v is not None) if any(v is not None for v in daprd) else None,
        "daprd_job_failure": sum(v for v in failures if v is not None) if any(v is not None for v in failures) else None,
        "scheduler_jobs_triggered": total(cluster.scheduler.metrics, "dapr_scheduler_jobs_triggered_total"),
    }


def _metrics_check(run: RunDir, metrics: dict[str, float | None]) -> dict[str, Any]:
    """The app's own count of delivered jobs against daprd's and the scheduler's counters."""
    history = load_history(run.history)
    ok = sum(1 for t in history.triggers if t.mechanism == "job" and t.outcome == "ok")
    mismatches = []
    daprd = metrics["daprd_job_success"]
    if daprd is not None and int(daprd) != ok:
        mismatches.append(f"app recorded {ok} successful job deliveries, daprd counted {int(daprd)}")
    return {"history_triggers": ok, **metrics, "mismatches": mismatches}


def run_scenario(scenario: Scenario, runtime: DaprRuntime | None = None,
                 progress: Callable[[str], None] | None = None) -> RunResult:
    runtime = runtime or locate_runtime()
    say = progress or (lambda _msg: None)
    run = new_run_dir(scenario.name)
    (run.root / "scenario.json").write_text(scenario.model_dump_json(indent=2))
    started = time.time()
    history = HistoryWriter(run.history)
    routes = install_bindings(scenario.bindings, run, history)
    cluster = Cluster(runtime, run, replicas=scenario.replicas, binding_routes=routes,
                      app_handlers=[h.model_dump() for h in scenario.app.handlers],
                      api_token=scenario.app.api_token)
    errors: list[str] = []
    timings: dict[str, float] = {}
    try:
        say(f"{scenario.name}: starting {scenario.replicas} replica(s)")
        t0 = time.monotonic()
        with cluster:
            timings["startup_s"] = round(time.monotonic() - t0, 3)
            jobs = JobsClient(cluster.dapr_url, history, run, api_token=scenario.app.api_token)
            steps = _job_steps(scenario, jobs, errors)
            steps += [_Step(a.at_s, a.label, a.act) for f in scenario.faults
                      for a in fault_actions(cluster, f)]
            window_start = time.monotonic()
            history.event("window_start", window_s=scenario.window_s)
            say(f"{scenario.name}: observing for {scenario.window_s:g}s")
            _run_steps(steps, window_start)
            _sleep_until(window_start + scenario.window_s)
            history.event("window_end")
            timings["window_s"] = round(time.monotonic() - window_start, 3)
            metrics = _collect_metrics(cluster)
            jobs.close()
            t1 = time.monotonic()
        timings["teardown_s"] = round(time.monotonic() - t1, 3)
    finally:
        history.close()
    result = check(load_history(run.history), scenario)
    summary = build_summary(run, scenario, runtime, result, timings, started,
                            _metrics_check(run, metrics), errors)
    run.summary.write_text(json.dumps(summary, indent=2))
    say(f"{scenario.name}: {'passed' if summary['passed'] else 'FAILED'} ({run.root})")
    return RunResult(run=run, scenario=scenario, check=result, summary=summary,
                     driver_errors=errors)


def dapr_versions(runtime: DaprRuntime, run: RunDir) -> dict[str, Any]:
    manifest = runtime.root / "build-manifest.json"
    adaptations = json.loads(manifest.read_text()).get("adaptations", []) if manifest.exists() else []
    return {
        "runtime": runtime.version, "daprd": runtime.version,
        "scheduler": logged_version(run.log("scheduler")),
        "placement": logged_version(run.log("placement")),
        "cli": None, "source": runtime.source, "adaptations": adaptations,
    }


def build_summary(run: RunDir, scenario: Scenario, runtime: DaprRuntime, result: CheckResult,
                  timings: dict[str, float], started: float, metrics: dict[str, Any],
                  errors: list[str]) -> dict[str, Any]:
    mechanisms = result.to_dict()["results"]
    for entry in mechanisms:
        entry["metrics"] = metrics if entry["mechanism"] == "job" else None
    return {
        "run_id": run.run_id, "scenario": scenario.name,
        "scenario_file": str(scenario.source.resolve().relative_to(REPO_ROOT))
        if scenario.source.resolve().is_relative_to(REPO_ROOT) else str(scenario.source),
        "description": scenario.description, "started_at": _iso(started),
        "finished_at": _iso(time.time()), "duration_s": round(time.time() - started, 3),
        "dapr": dapr_versions(runtime, run), "harness_commit": harness_commit(),
        "machine": machine(), "replicas": scenario.replicas, "window_s": scenario.window_s,
        "passed": result.passed and not errors, "driver_errors": errors, "timings": timings,
        "mechanisms": mechanisms, "metrics_check": metrics,
        "faults": [f.model_dump() for f in scenario.faults],
    }
