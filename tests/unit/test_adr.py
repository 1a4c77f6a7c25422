"""The decision record (MADR) on fake runs checked by the real checkers (no Dapr)."""

from __future__ import annotations

from pathlib import Path

from fakeruns import comparison_history, comparison_scenario, fake_run

from harness.reports.adr import render_adr
from harness.summary import RunSummary


def comparison(tmp_path: Path, **kwargs: int) -> RunSummary:
    return fake_run(tmp_path / "runs", "0001-comparison", comparison_scenario(),
                    comparison_history(3, **kwargs), "2026-11-28T19:46:34Z")


def test_numbers_and_run_ids_come_from_the_runs(tmp_path: Path) -> None:
    run = comparison(tmp_path)
    doc = render_adr([run], {}, tmp_path / "no-bench.json")
    for heading in ("## Context and problem statement", "## Decision drivers",
                    "## Considered options", "## Decision outcome", "### Consequences",
                    "## Pros and cons of the options"):
        assert heading in doc
    assert "0001-comparison" in doc and "over 12 ticks (12 exactly once" in doc
    assert "Chosen option: **Jobs API**" in doc and "at-least-once" in doc
    assert "No benchmark yet" in doc and "no fault runs yet" in doc
    assert "Scheduler service (embedded etcd)" in doc and "9a5873d" in doc


def test_no_recommendation_when_the_job_lost_a_tick(tmp_path: Path) -> None:
    doc = render_adr([comparison(tmp_path, skip_tick=5)], {}, tmp_path / "none.json")
    assert "does not support choosing the Jobs API" in doc
