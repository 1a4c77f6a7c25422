"""compare and run lookup on recorded summaries (no Dapr)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakeruns import mechanism_result

from harness.reports.compare import UnknownRun, compare_runs, find_summary
from harness.record.rundir import new_run_dir
from harness.summary import DaprInfo, Provenance, RunSummary


def summary(run_id: str, attempts: int, version: str = "1.18.3") -> RunSummary:
    return RunSummary(run_id=run_id, scenario="comparison", dapr=DaprInfo(runtime=version),
                      provenance=Provenance(commit="abc"), replicas=3, window_s=24.0,
                      passed=True, mechanisms=[mechanism_result(attempts=attempts)])


def test_compare_lists_only_what_differs() -> None:
    text = compare_runs(summary("0001-a", 10), summary("0002-b", 12, version="1.18.4"))
    assert "1.18.3" in text and "1.18.4" in text
    assert "| job tick    | attempts" in text and "+2" in text
    assert "lateness p50" not in text  # equal in both runs


def test_compare_of_identical_figures_says_so() -> None:
    assert "No figure differs." in compare_runs(summary("0001-a", 10), summary("0002-b", 10))


def test_find_summary_by_number_and_unknown(tmp_path: Path) -> None:
    runs, evidence = tmp_path / "runs", tmp_path / "evidence"
    (runs / "0007-x").mkdir(parents=True)
    summary("0007-x", 1).write(runs / "0007-x" / "summary.json")
    evidence.mkdir()
    summary("0008-y", 2).write(evidence / "0008-y.json")
    (evidence / "0008-y.scenario.json").write_text("{}")  # beside a summary, not a run
    assert find_summary(runs, evidence, "0007").run_id == "0007-x"
    assert find_summary(runs, evidence, "0008-y").run_id == "0008-y"
    with pytest.raises(UnknownRun, match="unknown run id '0009'"):
        find_summary(runs, evidence, "0009")


def test_runs_are_numbered_in_start_order(tmp_path: Path) -> None:
    ids = [new_run_dir("t", base=tmp_path).run_id for _ in range(3)]
    assert [i[:4] for i in ids] == ["0001", "0002", "0003"]
    assert all((tmp_path / i / "commands.sh").exists() for i in ids)
