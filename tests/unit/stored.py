"""The committed evidence (results/evidence and versions.json), loaded as the reports load it."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from harness.reports.evidence_log import cited_summaries
from harness.reports.faults import latest_fault_runs
from harness.reports.findings import Evidence
from harness.reports.versions import load_matrix_runs
from harness.summary import RunSummary, latest_per_scenario

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "results"
EVIDENCE = RESULTS / "evidence"


@lru_cache(maxsize=1)
def cited() -> tuple[RunSummary, ...]:
    return tuple(cited_summaries(EVIDENCE, RESULTS))


def latest() -> list[RunSummary]:
    return latest_per_scenario([s for s in cited() if s.provenance.clean])


def fault_runs() -> dict[str, list[RunSummary]]:
    return latest_fault_runs(cited(), 100)


@lru_cache(maxsize=1)
def evidence() -> Evidence:
    return Evidence(latest(), fault_runs(), load_matrix_runs(RESULTS, EVIDENCE))
