"""The typed summary of one run: written by the runner, read by every report, in one place.

``summary.json`` in a run directory (and its copy under ``results/evidence/``) is a
``RunSummary``. This module also owns the two questions every report asks: which run is the
latest of a scenario, and how a cited run's summary and history are copied as evidence.
"""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.check import (
    CallResult,
    CheckerResult,
    CheckReport,
    JobExpectResult,
    MechanismResult,
    worst,
)
from harness.errors import UserError
from harness.scenario.model import Scenario

__all__ = [
    "SCHEMA_VERSION",
    "assemble_summary",
    "DaprInfo",
    "NoRuns",
    "Provenance",
    "RunSummary",
    "copy_evidence",
    "latest_per_scenario",
    "latest_runs",
    "load_summaries",
    "load_summary",
]

SCHEMA_VERSION = 2


class NoRuns(UserError, ValueError):
    """A report was asked for and no run it could cite exists (the message says how to make one)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", arbitrary_types_allowed=True)


class DaprInfo(_Model):
    runtime: str | None = None
    daprd: str | None = None
    scheduler: str | None = None
    placement: str | None = None
    cli: str | None = None
    source: str | None = None
    adaptations: list[Any] = Field(default_factory=list)
    # How the run's Dapr was started (harness.runner.launch_record).
    launcher: str = "daprd"
    launcher_note: str | None = None
    cli_path: str | None = None
    flag_adaptations: list[str] = Field(default_factory=list)
    jobs_api_default: str | None = None

    @property
    def version(self) -> str:
        return self.daprd or self.runtime or "?"


class Provenance(_Model):
    """The harness code a run ran: the commit, and whether the tree had changes on top."""

    commit: str | None = None
    dirty: bool = False
    diff_sha256: str | None = None  # of ``git diff HEAD`` plus untracked files, when dirty

    @property
    def clean(self) -> bool:
        return self.commit is not None and not self.dirty


class RunSummary(_Model):
    schema_version: int = SCHEMA_VERSION
    run_id: str
    scenario: str
    kind: str = "comparison"
    scenario_file: str = ""
    description: str = ""
    started_at: str = ""
    finished_at: str = ""
    duration_s: float = 0.0
    dapr: DaprInfo = DaprInfo()
    provenance: Provenance = Provenance()
    harness_commit: str | None = None  # = provenance.commit, for tools that read it flat
    machine: dict[str, Any] = Field(default_factory=dict)
    replicas: int = 0
    schedulers: int = 1
    window_s: float = 0.0
    grace_s: float = 0.0
    passed: bool = False
    verdict: str = "n/a"
    checkers: list[CheckerResult] = Field(default_factory=list)
    driver_errors: list[str] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict)
    mechanisms: list[MechanismResult] = Field(default_factory=list)
    metrics_check: dict[str, Any] = Field(default_factory=dict)
    faults: list[dict[str, Any]] = Field(default_factory=list)
    calls: list[CallResult] = Field(default_factory=list)
    expect_jobs: list[JobExpectResult] = Field(default_factory=list)
    job_triggers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    claims: list[dict[str, Any]] = Field(default_factory=list)

    def write(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2), encoding="utf-8")

    def age_key(self) -> tuple[str, str]:
        return self.started_at, self.run_id


def assemble_summary(report: CheckReport, scenario: Scenario, *, run_id: str,
                     extra_checkers: Sequence[CheckerResult] = (), **meta: Any) -> RunSummary:
    """The summary of a checked run: the report's results plus ``meta`` (started_at, dapr,
    provenance, machine, timings, metrics_check, driver_errors, ...)."""
    checkers = [*report.checkers, *extra_checkers]
    source = meta.get("provenance") or Provenance()
    return RunSummary(
        run_id=run_id, scenario=scenario.name, kind=scenario.kind,
        description=scenario.description, harness_commit=source.commit,
        replicas=scenario.replicas, schedulers=scenario.schedulers, window_s=scenario.window_s,
        grace_s=round(report.window.grace_s, 3), passed=all(c.valid for c in checkers),
        verdict=worst([c.verdict for c in checkers]), checkers=checkers,
        mechanisms=report.mechanisms,
        faults=[f.to_dict(report.window.start) for f in report.window.faults],
        calls=report.calls, expect_jobs=report.job_expectations,
        job_triggers=report.job_triggers, claims=[c.model_dump() for c in scenario.all_claims],
        **meta,
    )


def load_summary(path: Path) -> RunSummary:
    return RunSummary.model_validate_json(path.read_text(encoding="utf-8"))


def load_summaries(runs_dir: Path) -> list[RunSummary]:
    """Every ``<runs_dir>/*/summary.json``, sorted by run id; dirs without one are skipped."""
    if not runs_dir.is_dir():
        return []
    return sorted((load_summary(p) for p in runs_dir.glob("*/summary.json")),
                  key=lambda s: s.run_id)


def latest_runs(summaries: Iterable[RunSummary], scenario: str, count: int = 1,
                *, clean_only: bool = False) -> list[RunSummary]:
    """The ``count`` newest runs of ``scenario``, newest first (only runs of a clean tree when
    ``clean_only``)."""
    runs = [s for s in summaries if s.scenario == scenario
            and (s.provenance.clean or not clean_only)]
    return sorted(runs, key=RunSummary.age_key, reverse=True)[:count]


def latest_per_scenario(summaries: Iterable[RunSummary], *,
                        clean_only: bool = False) -> list[RunSummary]:
    """The newest run of every scenario, in scenario order."""
    summaries = list(summaries)
    names = sorted({s.scenario for s in summaries})
    return [run for name in names
            for run in latest_runs(summaries, name, clean_only=clean_only)]


def copy_evidence(runs_dir: Path, evidence_dir: Path, summaries: Sequence[RunSummary]) -> list[Path]:
    """Copy each cited run's summary (``<run_id>.json``), scenario (``<run_id>.scenario.json``)
    and compressed history (``<run_id>.history.jsonl.gz``) into ``evidence_dir``, so that
    ``python3 -m harness recheck`` can recompute its verdicts."""
    evidence_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for summary in summaries:
        target = evidence_dir / f"{summary.run_id}.json"
        summary.write(target)
        written.append(target)
        scenario = runs_dir / summary.run_id / "scenario.json"
        if scenario.exists():
            shutil.copyfile(scenario, evidence_dir / f"{summary.run_id}.scenario.json")
            written.append(evidence_dir / f"{summary.run_id}.scenario.json")
        history = runs_dir / summary.run_id / "history.jsonl"
        if history.exists():
            archived = evidence_dir / f"{summary.run_id}.history.jsonl.gz"
            with history.open("rb") as src, archived.open("wb") as raw, \
                    gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as dst:  # same bytes each time
                shutil.copyfileobj(src, dst)
            written.append(archived)
    return written
