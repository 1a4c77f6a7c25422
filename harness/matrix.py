"""The version matrix: the same scenarios on several Dapr versions, one run each.

Each version is built (or found) first; a version that does not build is recorded with the
reason and skipped. The record (results/versions.json) names every run, and
harness/reports/versions.py renders results/versions.md from it and the runs' summaries.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.cluster.build import BuildError, ensure_runtime
from harness.cluster.runtime import DaprMissingError, DaprRuntime
from harness.cluster.versions import version_key
from harness.cluster.wait import DeadlineExceeded
from harness.runner import harness_commit, run_scenario
from harness.scenario.model import Scenario

__all__ = ["DEFAULT_FAULTS", "DEFAULT_VERSIONS", "build_versions", "run_matrix"]

DEFAULT_VERSIONS = ("1.14.0", "1.16.0", "1.18.3")
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
              runs_dir: Path | None) -> str:
    """The run id; a run whose cluster could not start (e.g. a port taken by another process
    between its reservation and the bind) is tried once more, then the error is raised."""
    for attempt in (1, 2):
        try:
            result = run_scenario(scenario, runtime, progress=say, runs_dir=runs_dir,
                                  launcher=launcher, dapr_version=version)
            return result.summary.run_id
        except DeadlineExceeded as exc:
            if attempt == 2:
                raise
            say(f"{scenario.name} on {version}: could not start ({exc}); trying once more")
    raise AssertionError("unreachable")


def run_matrix(scenarios: Sequence[Scenario], versions: Sequence[str], *, out: Path,
               say: Callable[[str], None], launcher: str | None = None,
               runs_dir: Path | None = None) -> Path:
    """Run every scenario on every version that builds; the record is written after each run
    (so an interrupted matrix keeps what it ran); its path."""
    runtimes, records = build_versions(versions, say)
    path = out / "versions.json"
    _write(path, _merged(path, records, {}), scenarios, launcher)
    for version, runtime in runtimes.items():
        for scenario in scenarios:
            try:
                run_id = _run_once(scenario, runtime, version, say=say, launcher=launcher,
                                   runs_dir=runs_dir)
            except DeadlineExceeded as exc:
                say(f"{scenario.name} on {version}: did not start: {exc}")
                continue
            _write(path, _merged(path, [], {version: {scenario.name: run_id}}), scenarios,
                   launcher)
    return path


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
