"""What the evidence command decided, kept beside the evidence: how many trials each scenario got
and why (``results/trials.json``), and which cited runs were replaced and why
(``results/replacements.json``). Both are written by ``python3 -m harness evidence``, never by
hand; the reports read them to say how the evidence was gathered.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.summary import RunSummary, is_evidence_dir, load_summaries

__all__ = ["cited_summaries", "BoundCheck", "Replacement", "ScenarioTrials", "TRIALS_FILE", "REPLACEMENTS_FILE",
           "TrialsRecord", "load_replacements", "load_trials", "write_replacements",
           "write_trials"]

TRIALS_FILE = "trials.json"
REPLACEMENTS_FILE = "replacements.json"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BoundCheck(_Record):
    """One rate the plan asked to bound, after the trials that ran."""

    mechanism: str
    rate: Literal["lost", "duplicated"]
    count: int  # strict reading, summed over the trials
    ticks: int
    upper: float  # the 95 % upper limit of count / ticks
    target: float

    @property
    def held(self) -> bool:
        return self.ticks > 0 and self.upper <= self.target


class ScenarioTrials(_Record):
    """How many runs one scenario got, and why the harness stopped."""

    scenario: str
    trials: int
    min_trials: int
    max_trials: int
    upper_bound: float | None = None  # None: a fixed number of trials was asked
    stopped: Literal["fixed", "bound held", "cap reached"] = "fixed"
    checks: list[BoundCheck] = Field(default_factory=list)
    run_ids: list[str] = Field(default_factory=list)

    def sentence(self) -> str:
        if self.upper_bound is None:
            return f"{self.trials} run(s), as asked"
        target = f"{100 * self.upper_bound:g} %"
        worst = max(self.checks, key=lambda c: c.upper / c.target, default=None)
        where = ("" if worst is None else
                 f"; widest: {worst.mechanism} {worst.rate} {worst.count} of {worst.ticks}, at "
                 f"most {100 * worst.upper:.1f} %")
        if self.stopped == "bound held":
            return (f"{self.trials} run(s): every asked 95 % upper bound fell to {target} or "
                    f"below{where}")
        return (f"{self.trials} run(s): cap of {self.max_trials} reached before every 95 % "
                f"upper bound fell to {target}{where}")


class TrialsRecord(_Record):
    commit: str | None = None
    scenarios: list[ScenarioTrials] = Field(default_factory=list)

    def of(self, scenario: str) -> ScenarioTrials | None:
        return next((s for s in self.scenarios if s.scenario == scenario), None)


class Replacement(_Record):
    """A cited run that the evidence no longer cites, the runs that replaced it, and why."""

    replaced: str  # run id
    scenario: str
    verdict_then: str  # its verdict as it was cited
    replaced_by: list[str] = Field(default_factory=list)
    reason: str
    commit: str | None = None  # the commit whose evidence command made the replacement


def load_trials(results_dir: Path) -> TrialsRecord | None:
    path = results_dir / TRIALS_FILE
    return TrialsRecord.model_validate_json(path.read_text(encoding="utf-8")) if path.exists() else None


def write_trials(results_dir: Path, record: TrialsRecord) -> Path:
    path = results_dir / TRIALS_FILE
    path.write_text(record.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return path


def load_replacements(results_dir: Path) -> list[Replacement]:
    path = results_dir / REPLACEMENTS_FILE
    if not path.exists():
        return []
    return [Replacement.model_validate(r) for r in json.loads(path.read_text(encoding="utf-8"))]


def write_replacements(results_dir: Path, replacements: Sequence[Replacement]) -> Path:
    path = results_dir / REPLACEMENTS_FILE
    path.write_text(json.dumps([r.model_dump() for r in replacements], indent=2) + "\n",
                    encoding="utf-8")
    return path


def matrix_run_ids(results_dir: Path) -> set[str]:
    """The runs ``versions.json`` names (the version matrix's, cited by versions.md)."""
    path = results_dir / "versions.json"
    if not path.exists():
        return set()
    record = json.loads(path.read_text(encoding="utf-8"))
    return {run_id for named in record.get("runs", {}).values() for run_id in named.values()}


def cited_summaries(source_dir: Path, results_dir: Path) -> list[RunSummary]:
    """The runs the reports other than versions.md may cite from ``source_dir``: a runs
    directory as it is; the evidence directory without the version matrix's runs (they ran
    beside the evidence runs and are cited by versions.md only)."""
    loaded = load_summaries(source_dir)
    if not is_evidence_dir(source_dir):
        return loaded
    matrix = matrix_run_ids(results_dir)
    return [s for s in loaded if s.run_id not in matrix]
