"""The decision record (MADR) on fake runs checked by the real checkers (no Dapr)."""

from __future__ import annotations

from pathlib import Path

from fakeruns import comparison_history, comparison_scenario, fake_run, mechanism_result

from harness.reports.adr import render_adr
from harness.reports.faults import fault_rows, mechanism_standing
from harness.scenario.model import FaultSpec
from harness.summary import RunSummary

KILL = FaultSpec(kind="kill_daprd", at_s=8, duration_s=4, replica=1)


def comparison(tmp_path: Path, **kwargs: int) -> RunSummary:
    return fake_run(tmp_path / "runs", "0001-comparison", comparison_scenario(),
                    comparison_history(3, **kwargs), "2026-11-28T19:46:34Z")


def fault_runs(tmp_path: Path) -> dict[str, list[RunSummary]]:
    return {"fault-kill-daprd": [fake_run(
        tmp_path / "runs", f"000{n}-fault", comparison_scenario("fault-kill-daprd", 3, (KILL,)),
        comparison_history(3, fault=True), f"2026-11-28T2{n}:00:00Z") for n in (2, 3)]}


def test_numbers_and_run_ids_come_from_the_runs(tmp_path: Path) -> None:
    run = comparison(tmp_path)
    doc = render_adr([run], fault_runs(tmp_path), tmp_path / "no-bench.json")
    for heading in ("## Context and problem statement", "## Decision drivers",
                    "## Considered options", "## Decision outcome", "### Consequences",
                    "## Pros and cons of the options"):
        assert heading in doc
    assert "0001-comparison" in doc
    assert "1.08 attempts and 1 deliveries per tick over 12 ticks; exactly once 12 of 12 (100 % [73.5-100])" in doc
    assert "Chosen option: **Jobs API**" in doc
    assert "under faults it lost 0 of 24 ticks (0 of 24 ticks lost: at most 14.2 % at 95 %)" in doc
    assert "No benchmark yet" in doc
    assert "Scheduler service (embedded etcd)" in doc and "9a5873d" in doc


def test_the_worst_case_and_the_pooled_rate_are_stated_apart(tmp_path: Path) -> None:
    doc = render_adr([comparison(tmp_path)], fault_runs(tmp_path), tmp_path / "none.json")
    line = next(line for line in doc.splitlines() if line.startswith("- Lost ticks per 1,000")
                and "of 24" in line)
    assert "worst case none counted; widest bound fault-kill-daprd (0 of 24), 0.0 (≤ 142)" in line
    assert "pooled over 1 fault scenarios 0 of 24, 0.0 (≤ 142)" in line


def test_no_recommendation_when_the_job_lost_a_tick(tmp_path: Path) -> None:
    doc = render_adr([comparison(tmp_path, skip_tick=5)], fault_runs(tmp_path),
                     tmp_path / "none.json")
    assert "does not support choosing the Jobs API" in doc
    assert "CHANGED: re-examine" in doc


def test_a_consequence_that_no_longer_holds_says_so(tmp_path: Path) -> None:
    doc = render_adr([comparison(tmp_path)], fault_runs(tmp_path), tmp_path / "none.json")
    duplicates = next(line for line in doc.splitlines() if "at-least-once" in line)
    assert duplicates.startswith("- **CHANGED: re-examine** (adr-consequence-duplicates: "
                                 "dup.count_high is 0, expected at least 1)")


def test_standing_comes_from_the_promises_and_the_once_per_tick_driver() -> None:
    def run(run_id: str, lost: int) -> RunSummary:
        from harness.check import CheckerResult
        return RunSummary(run_id=run_id, scenario="mechanisms-fault-kill-scheduler", kind="fault",
                          checkers=[CheckerResult("promises", "pass", [],
                                                  {"verdicts": {"workflow w": "pass"}})],
                          mechanisms=[mechanism_result("workflow", "w", ticks=20, lost=(lost, lost))])

    rows = fault_rows({"mechanisms-fault-kill-scheduler": [run("a", 12), run("b", 0)]})
    standing = mechanism_standing(rows, "workflow")
    assert standing.startswith("kept Dapr's promise in all 2 fault runs; once per tick in 1 of 2")
    assert "lost 12 and duplicated 0 of 40" in standing
