"""The version matrix: the same scenarios on several Dapr versions, one run each; and the
field reports: each field scenario on every version its report applies to, K trials each.

Each version is built (or found) first; a version that does not build is recorded with the
reason and skipped. Versions run one after the other (every scenario of one version, then the
next). The records (results/versions.json, results/field.json) name every run, and
harness/reports/versions.py and harness/reports/field.py render results/versions.md and
results/field-reports.md from them and the runs' summaries.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.cluster.build import BuildError, ensure_runtime
from harness.cluster.runtime import DaprMissingError, DaprRuntime
from harness.cluster.versions import SERVED_DAPR_VERSIONS, version_key
from harness.cluster.wait import DeadlineExceeded
from harness.reports.field import observe
from harness.runner import harness_commit, run_scenario
from harness.scenario.model import Scenario
from harness.summary import RunSummary

__all__ = ["DEFAULT_FAULTS", "DEFAULT_VERSIONS", "MATRIX_SCENARIOS", "build_versions",
           "run_matrix"]

DEFAULT_VERSIONS = SERVED_DAPR_VERSIONS
# Beside every claim scenario: the headline comparison and every mechanism side by side.
MATRIX_SCENARIOS = ("comparison", "mechanisms")
# Faults whose outcome depends on the scheduler and the sidecar's reconnection, the parts that
# changed most between versions (etcd embedding, job streams, leadership).
DEFAULT_FAULTS = ("fault-kill-daprd", "fault-kill-scheduler")


def _manifest(runtime: DaprRuntime) -> dict[str, Any]:
    path = runtime.root / "build-manifest.json"
    return json.loads(path.read_text()) if path.exists() else {}


def build_versions(versions: Sequence[str],
                   say: Callable[[str], None]) -> tuple[dict[str, DaprRuntime], list[dict[str, Any]]]:
    """Each version's runtime (built if needed) and a record per version, built or not."""
    runtimes: dict[str, DaprRuntime] = {}
    records: list[dict[str, Any]] = []
    for version in versions:
        say(f"Dapr {version}: build or find")
        try:
            runtime = ensure_runtime(version)
        except (BuildError, DaprMissingError) as exc:
            reason = " ".join(str(exc).split())[:600]
            say(f"Dapr {version} did not build: {reason}")
            records.append({"version": version, "built": False, "error": reason})
            continue
        runtimes[version] = runtime
        records.append({"version": version, "built": True, "error": None,
                        "source": runtime.source, "manifest": _manifest(runtime)})
    return runtimes, records


def _run_once(scenario: Scenario, runtime: DaprRuntime, version: str, *,
              say: Callable[[str], None], launcher: str | None,
              runs_dir: Path | None) -> RunSummary:
    """The run's summary; a run whose cluster could not start (e.g. a port taken by another process
    between its reservation and the bind) is tried once more, then the error is raised."""
    for attempt in (1, 2):
        try:
            result = run_scenario(scenario, runtime, progress=say, runs_dir=runs_dir,
                                  launcher=launcher, dapr_version=version)
            return result.summary
        except DeadlineExceeded as exc:
            if attempt == 2:
                raise
            say(f"{scenario.name} on {version}: could not start ({exc}); trying once more")
    raise AssertionError("unreachable")


def run_matrix(scenarios: Sequence[Scenario], versions: Sequence[str], *, out: Path,
               say: Callable[[str], None], launcher: str | None = None,
               runs_dir: Path | None = None, field: Sequence[Scenario] = (),
               trials: int = 1) -> list[Path]:
    """Run every scenario on every version that builds (and each ``field`` scenario ``trials``
    times, or as often as its report asks, on every version its report applies to); each record is written after each run (so
    an interrupted matrix keeps what it ran); the records' paths."""
    runtimes, records = build_versions(versions, say)
    paths = {"matrix": out / "versions.json", "field": out / "field.json"}
    written = {kind: paths[kind] for kind, chosen in (("matrix", scenarios), ("field", field))
               if chosen}
    for kind, path in written.items():
        _write(path, _merged(path, records, {}), scenarios if kind == "matrix" else field,
               launcher)
    for version, runtime in runtimes.items():
        run = dict(runtime=runtime, version=version, say=say, launcher=launcher,
                   runs_dir=runs_dir)
        for scenario in scenarios:
            run_ids = _trials(scenario, 1, **run)
            if run_ids:
                _write(paths["matrix"], _merged(paths["matrix"], [], {
                    version: {scenario.name: run_ids[0]}}), scenarios, launcher)
        for scenario in field:
            if scenario.report is None or version not in scenario.report.versions:
                continue
            run_ids = _trials(scenario, max(trials, scenario.report.trials), **run)
            _write(paths["field"], _merged(paths["field"], [], {version: {
                scenario.name: run_ids}}), field, launcher)
    return list(written.values())


def _trials(scenario: Scenario, trials: int, *, runtime: DaprRuntime, version: str,
            say: Callable[[str], None], launcher: str | None,
            runs_dir: Path | None) -> list[str]:
    """The ids of ``trials`` runs of ``scenario`` (runs that did not start are left out); a
    field scenario's observation is said after each run."""
    run_ids = []
    for _ in range(trials):
        try:
            summary = _run_once(scenario, runtime, version, say=say, launcher=launcher,
                                runs_dir=runs_dir)
        except DeadlineExceeded as exc:
            say(f"{scenario.name} on {version}: did not start: {exc}")
            continue
        run_ids.append(summary.run_id)
        if scenario.report is not None:
            seen = observe(scenario.report, summary)
            say(f"{scenario.name} on {version}: {seen.outcome} (the report says "
                f"{scenario.report.expected.get(version)}): {'; '.join(seen.figures)}")
    return run_ids


def _write(path: Path, record: dict[str, Any], scenarios: Sequence[Scenario],
           launcher: str | None) -> None:
    record |= {"generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "harness_commit": harness_commit(), "launcher": launcher,
               "scenarios": sorted({*record.get("scenarios", []), *(s.name for s in scenarios)})}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2))


def _merged(path: Path, records: list[dict[str, Any]],
            runs: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The earlier record with this invocation's versions and runs written over it, so the
    matrix can be filled one version at a time."""
    old: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    by_version = {r["version"]: r for r in old.get("versions", [])}
    by_version |= {r["version"]: r for r in records}
    all_runs: dict[str, dict[str, str]] = old.get("runs", {})
    for version, named in runs.items():
        all_runs.setdefault(version, {}).update(named)
    ordered = sorted({*by_version, *all_runs}, key=version_key)
    return {**old, "versions": [by_version[v] for v in ordered if v in by_version],
            "runs": {v: all_runs[v] for v in ordered if v in all_runs}}
