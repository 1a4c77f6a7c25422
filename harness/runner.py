"""Runs one scenario on real Dapr: start the cluster, drive it, observe, check, write results.

The order is the experiment's: scenario -> cluster -> driver and nemesis on the timeline ->
history -> checkers -> summary. Recording goes on for a grace period after the window (see
``harness.scenario.timing.grace_period``) so that every judged tick's late deliveries and retries are in
the history; the checkers report every trigger, inside the window or not.
"""

from __future__ import annotations

import hashlib
import json
import platform
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psutil

from harness.check import (
    JOB_FAILURE_METRIC,
    JOB_SUCCESS_METRIC,
    SCHEDULER_TRIGGERED_METRIC,
    CheckerResult,
    CheckReport,
    check_run,
    cross_check,
)
from harness.cluster.build import find_cli
from harness.scenario.timing import grace_period
from harness.cluster.controlplane import Cluster, started_cluster
from harness.cluster.replicas import HTTP_GROUP
from harness.cluster.launch import LaunchChoice, choose_launcher
from harness.cluster.metrics import metric_total
from harness.cluster.preflight import check_runs_dir
from harness.cluster.reaper import reap_orphans
from harness.cluster.runtime import DaprRuntime, locate_runtime, logged_version
from harness.cluster.versions import jobs_api_for
from harness.paths import REPO_ROOT
from harness.drive.driver import JobsClient, install_bindings
from harness.record.history import HistoryWriter, load_history
from harness.drive.nemesis import Nemesis
from harness.record.rundir import RunDir, new_run_dir, runs_base
from harness.drive.tasks import TaskDriver, install_task_bindings
from harness.scenario.model import LoadSet, Scenario
from harness.summary import DaprInfo, Provenance, RunSummary, assemble_summary

__all__ = ["RunResult", "harness_commit", "machine", "provenance", "run_scenario"]

PROGRESS_EVERY_S = 5.0


@dataclass
class RunResult:
    run: RunDir
    scenario: Scenario
    check: CheckReport
    summary: RunSummary
    driver_errors: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.summary.passed


@dataclass(frozen=True)
class _Step:
    at_s: float
    label: str
    act: Callable[[], None]


def _git(*args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          check=False)
    return proc.stdout if proc.returncode == 0 else ""


def harness_commit() -> str | None:
    return _git("rev-parse", "--short", "HEAD").strip() or None


def provenance() -> Provenance:
    """The commit and, when the tree has changes (results/ aside), a hash of them."""
    changes = _git("status", "--porcelain", "--untracked-files=all", "--", ".", ":!results")
    if not changes.strip():
        return Provenance(commit=harness_commit())
    diff = _git("diff", "HEAD", "--", ".", ":!results").encode()
    untracked = [line[3:] for line in changes.splitlines() if line.startswith("??")]
    digest = hashlib.sha256(diff)
    for name in sorted(untracked):
        path = REPO_ROOT / name
        digest.update(name.encode() + (path.read_bytes() if path.is_file() else b""))
    return Provenance(commit=harness_commit(), dirty=True, diff_sha256=digest.hexdigest())


def machine() -> dict[str, Any]:
    return {
        "hostname": socket.gethostname(),
        "cpus": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "platform": platform.platform(),
    }


def _print_line(message: str) -> None:
    print(message, flush=True)


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

    return [_Step(job.at_s, f"create job {job.name}", create(job)) for job in scenario.listed_jobs]


def _load_steps(scenario: Scenario, cluster: Cluster, jobs: JobsClient, tasks: TaskDriver,
                errors: list[str]) -> list[_Step]:
    """Each load set's members, created at once through every HTTP replica's sidecar."""
    urls = [r.dapr_url for r in cluster.group_replicas(HTTP_GROUP)]

    def create(load: LoadSet) -> Callable[[], None]:
        def act() -> None:
            members = load.members()
            if load.mechanism == "job":
                errors.extend(jobs.schedule_many(members, urls, load.concurrency))  # type: ignore[arg-type]
            else:
                errors.extend(tasks.register_reminders(members, urls, load.concurrency))  # type: ignore[arg-type]
        return act
    return [_Step(load.at_s, f"create {load.count} {load.mechanism}s {load.name}", create(load))
            for load in scenario.load]


def _task_steps(scenario: Scenario, tasks: TaskDriver, errors: list[str]) -> list[_Step]:
    """job-sdk jobs, reminders and workflows started on the timeline (harness/drive/tasks.py)."""
    def start(task: Any) -> Callable[[], None]:
        def act() -> None:
            if problem := tasks.start(task):
                errors.append(problem)
        return act
    return [_Step(task.at_s, f"start {task.mechanism} {task.name}", start(task))
            for task in scenario.listed_tasks if not task.mechanism.startswith("binding-")]


def _call_steps(scenario: Scenario, jobs: JobsClient) -> list[_Step]:
    """The scenario's Jobs API probes; the checker judges their answers from the history."""
    def send(index: int) -> Callable[[], None]:
        def act() -> None:
            jobs.call(index, scenario.calls[index])
        return act
    return [_Step(call.at_s, f"{call.method} job {call.job}", send(i))
            for i, call in enumerate(scenario.calls)]


def _sleep_until(monotonic_deadline: float) -> None:
    """Wait for a moment on the scenario's timeline (the timeline is the experiment itself)."""
    remaining = monotonic_deadline - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)


def _metric_or_none(scrape: Callable[[], dict[str, float]], name: str) -> float | None:
    try:
        return metric_total(scrape(), name)
    except Exception:  # a killed process has no metrics; the record says so with None
        return None


def _summed(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _collect_metrics(cluster: Cluster) -> dict[str, float | None]:
    """Dapr's own counters at the end of the window (a restarted process restarts its counts)."""
    return {
        JOB_SUCCESS_METRIC: _summed([_metric_or_none(r.metrics, JOB_SUCCESS_METRIC)
                                     for r in cluster.replicas]),
        JOB_FAILURE_METRIC: _summed([_metric_or_none(r.metrics, JOB_FAILURE_METRIC)
                                     for r in cluster.replicas]),
        SCHEDULER_TRIGGERED_METRIC: _summed([_metric_or_none(s.metrics, SCHEDULER_TRIGGERED_METRIC)
                                             for s in cluster.schedulers]),
    }


def _metrics_check(run: RunDir, metrics: dict[str, float | None]) -> dict[str, Any]:
    """The app's own count of delivered jobs against daprd's and the scheduler's counters."""
    history = load_history(run.history)
    ok: dict[str, int] = {}
    for trigger in history.triggers:
        if trigger.mechanism == "job" and trigger.outcome == "ok":
            ok[trigger.name] = ok.get(trigger.name, 0) + 1
    present = {k: v for k, v in metrics.items() if v is not None}
    return {"history_triggers": sum(ok.values()), **metrics,
            "mismatches": cross_check(ok, present)}


def _metrics_checker(metrics: dict[str, Any]) -> CheckerResult:
    """Informational: a failing app legitimately makes Dapr's counters differ from the record,
    so mismatches are reported, not judged."""
    return CheckerResult("metrics", "n/a", list(metrics.get("mismatches") or []), metrics)


class _Progress:
    """Says what the run is doing: phase, triggers seen per mechanism, time left."""

    def __init__(self, scenario: Scenario, run: RunDir, say: Callable[[str], None]) -> None:
        self.scenario, self.run, self.say = scenario, run, say
        self.seen: Counter[str] = Counter()
        self.read_to = 0  # the history is read once, a little at each report (it may be large)

    def _read_new(self) -> None:
        with self.run.history.open("rb") as fh:
            fh.seek(self.read_to)
            data = fh.read()
        complete = data.rfind(b"\n") + 1
        self.read_to += complete
        for line in data[:complete].splitlines():
            record = orjson.loads(line)
            if record["kind"] == "trigger" and record["outcome"] != "refused":
                self.seen[record["mechanism"]] += 1

    def window(self, window_start: float) -> None:
        left = window_start + self.scenario.window_s - time.monotonic()
        self._read_new()
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.seen.items())) or "no triggers yet"
        self.say(f"{self.scenario.name}: observing, {counts}, {max(0.0, left):.0f}s left")


def _observe(steps: list[_Step], window_start: float, window_s: float,
             progress: _Progress | None) -> None:
    """Carry out the timeline's steps, then wait out the window, reporting every few seconds."""
    timeline = sorted(steps, key=lambda s: s.at_s)
    if progress is not None:
        ticks = int(window_s // PROGRESS_EVERY_S)
        timeline += [_Step(PROGRESS_EVERY_S * (i + 1), "progress",
                           lambda: progress.window(window_start)) for i in range(ticks)]
        timeline.sort(key=lambda s: s.at_s)
    for step in timeline:
        _sleep_until(window_start + step.at_s)
        step.act()
    _sleep_until(window_start + window_s)


def _drive(cluster: Cluster, scenario: Scenario, run: RunDir, history: HistoryWriter,
           progress: _Progress | None) -> tuple[list[str], dict[str, float | None], float]:
    """The observation window: jobs created and faults injected on the scenario's timeline."""
    errors: list[str] = []
    jobs = JobsClient(cluster.dapr_url, history, run, api_token=scenario.dapr_api_token,
                      default_api=jobs_api_for(cluster.runtime.version))
    tasks = TaskDriver(cluster.dapr_url, cluster.sdk_sidecar, history, run,
                       api_token=scenario.dapr_api_token)
    try:
        steps = _job_steps(scenario, jobs, errors) + _call_steps(scenario, jobs)
        steps += _task_steps(scenario, tasks, errors)
        steps += _load_steps(scenario, cluster, jobs, tasks, errors)
        nemesis = Nemesis(cluster, scenario.faults)
        steps += [_Step(a.at_s, a.label, a.act) for a in nemesis.actions()]
        window_start = time.monotonic()
        history.event("window_start", window_s=scenario.window_s)
        try:
            _observe(steps, window_start, scenario.window_s, progress)
        finally:
            nemesis.close()
            errors += nemesis.errors
        history.event("window_end")
        grace = grace_period(scenario)
        _sleep_until(time.monotonic() + grace)  # late deliveries and retries of judged ticks
        history.event("recording_end", grace_s=grace)
        return errors, _collect_metrics(cluster), time.monotonic() - window_start
    finally:
        jobs.close()
        tasks.close()


def _runtime_for(scenario: Scenario, runtime: DaprRuntime | None,
                 dapr_version: str | None) -> DaprRuntime:
    """The Dapr asked for (argument, then the scenario's dapr_version), else the one given."""
    want = dapr_version or scenario.dapr_version
    if want and (runtime is None or runtime.version != want):
        return locate_runtime(want)
    return runtime or locate_runtime()


def run_scenario(scenario: Scenario, runtime: DaprRuntime | None = None,
                 progress: Callable[[str], None] | None = None,
                 runs_dir: Path | None = None, *, launcher: str | None = None,
                 dapr_version: str | None = None) -> RunResult:
    """Run one scenario on real Dapr; the history is on disk whatever happens."""
    runtime = _runtime_for(scenario, runtime, dapr_version)
    reap_orphans(progress or _print_line)  # what runs whose runner died left behind
    check_runs_dir(runs_base(runs_dir), scenario.schedulers)  # one clear line, nothing started
    launch = choose_launcher(launcher or scenario.launcher, find_cli)
    if launch.note and progress:
        progress(launch.note)
    run = new_run_dir(scenario.name, base=runs_dir)
    (run.root / "scenario.json").write_text(scenario.model_dump_json(indent=2))
    reporter = _Progress(scenario, run, progress) if progress else None
    started = time.time()
    with HistoryWriter(run.history) as history:
        routes = install_bindings(scenario.bindings, run, history)
        routes |= install_task_bindings(scenario.tasks, run, history)

        def make_cluster() -> Cluster:
            return Cluster(runtime, run, replicas=scenario.http_replicas, binding_routes=routes,
                           app_handlers=[h.model_dump(mode="json") for h in scenario.app.handlers],
                           api_token=scenario.app.api_token, schedulers=scenario.schedulers,
                           dapr_api_token=scenario.dapr_api_token,
                           grpc_replicas=scenario.grpc_replicas,
                           tasks=[t.model_dump(mode="json") for t in scenario.tasks],
                           redis=scenario.needs_redis, launcher=launch.launcher,
                           cli=launch.cli)
        if progress:
            progress(f"{scenario.name}: starting {scenario.replicas} replica(s) ({run.root})")
        t0 = time.monotonic()
        with started_cluster(make_cluster) as cluster:  # fresh ports if one was taken
            startup = time.monotonic() - t0
            flag_notes = cluster.flag_notes()
            errors, metrics, window = _drive(cluster, scenario, run, history, reporter)
            t1 = time.monotonic()
        timings = {"startup_s": round(startup, 3), "window_s": round(window, 3),
                   "teardown_s": round(time.monotonic() - t1, 3)}
    report = check_run(scenario, load_history(run.history))
    summary = build_summary(run, scenario, runtime, report, timings, started,
                            _metrics_check(run, metrics), errors)
    summary.dapr = summary.dapr.model_copy(
        update=launch_record(launch, flag_notes, runtime.version))
    summary.write(run.summary)
    if progress:
        progress(f"{scenario.name}: {'passed' if summary.passed else 'FAILED'} ({run.root})")
    return RunResult(run=run, scenario=scenario, check=report, summary=summary,
                     driver_errors=errors)


def dapr_versions(runtime: DaprRuntime, run: RunDir) -> DaprInfo:
    manifest = runtime.root / "build-manifest.json"
    adaptations = json.loads(manifest.read_text()).get("adaptations", []) if manifest.exists() else []
    return DaprInfo(
        runtime=runtime.version, daprd=runtime.version,
        scheduler=logged_version(run.log("scheduler")) or logged_version(run.log("scheduler-0")),
        placement=logged_version(run.log("placement")), cli=None, source=runtime.source,
        adaptations=adaptations,
    )


def _scenario_file(scenario: Scenario) -> str:
    source = scenario.source.resolve()
    return str(source.relative_to(REPO_ROOT)) if source.is_relative_to(REPO_ROOT) else str(source)


def launch_record(launch: LaunchChoice, flag_notes: list[str], version: str) -> dict[str, Any]:
    """How the run's Dapr was started: launcher, CLI, flags fitted to the version, Jobs API."""
    return {"launcher": launch.launcher, "launcher_note": launch.note,
            "cli": launch.cli_version if launch.launcher != "daprd" else None,
            "cli_path": str(launch.cli) if launch.cli and launch.launcher != "daprd" else None,
            "flag_adaptations": flag_notes, "jobs_api_default": jobs_api_for(version)}


def build_summary(run: RunDir, scenario: Scenario, runtime: DaprRuntime, report: CheckReport,
                  timings: dict[str, float], started: float, metrics: dict[str, Any],
                  errors: list[str]) -> RunSummary:
    extra = [_metrics_checker(metrics)]
    if errors:
        extra.append(CheckerResult("driver", "fail", list(errors)))
    return assemble_summary(
        report, scenario, run_id=run.run_id, extra_checkers=extra,
        scenario_file=_scenario_file(scenario), started_at=_iso(started),
        finished_at=_iso(time.time()), duration_s=round(time.time() - started, 3),
        dapr=dapr_versions(runtime, run), provenance=provenance(), machine=machine(),
        driver_errors=errors, timings=timings, metrics_check=metrics,
    )
