"""compare and run lookup on recorded summaries (no Dapr)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.reports.compare import UnknownRun, compare_runs, find_summary
from harness.run.rundir import new_run_dir


def summary(run_id: str, triggers: int, version: str = "1.18.3") -> dict[str, Any]:
    entry = {"mechanism": "job", "name": "tick", "ticks_expected": 10, "triggers": triggers,
             "triggers_per_tick": triggers / 10, "exactly_once_ticks": 10, "duplicated_ticks": 0,
             "lost_ticks": 0, "early_triggers": 0, "verdict": "pass",
             "lateness_ms": {"p50": 4.0, "p99": 5.0, "max": 5.0}}
    return {"run_id": run_id, "scenario": "comparison", "dapr": {"runtime": version},
            "harness_commit": "abc", "replicas": 3, "window_s": 24.0, "passed": True,
            "mechanisms": [entry]}


def test_compare_lists_only_what_differs() -> None:
    text = compare_runs(summary("0001-a", 10), summary("0002-b", 12, version="1.18.4"))
    assert "1.18.3" in text and "1.18.4" in text
    assert "| job tick    | triggers" in text and "+2" in text
    assert "lateness p50" not in text  # equal in both runs


def test_compare_of_identical_figures_says_so() -> None:
    assert "No figure differs." in compare_runs(summary("0001-a", 10), summary("0002-b", 10))


def test_find_summary_by_number_and_unknown(tmp_path: Path) -> None:
    runs, evidence = tmp_path / "runs", tmp_path / "evidence"
    (runs / "0007-x").mkdir(parents=True)
    (runs / "0007-x" / "summary.json").write_text(json.dumps(summary("0007-x", 1)))
    evidence.mkdir()
    (evidence / "0008-y.json").write_text(json.dumps(summary("0008-y", 2)))
    assert find_summary(runs, evidence, "0007")["run_id"] == "0007-x"
    assert find_summary(runs, evidence, "0008-y")["run_id"] == "0008-y"
    with pytest.raises(UnknownRun, match="unknown run id '0009'"):
        find_summary(runs, evidence, "0009")


def test_runs_are_numbered_in_start_order(tmp_path: Path) -> None:
    ids = [new_run_dir("t", base=tmp_path).run_id for _ in range(3)]
    assert [i[:4] for i in ids] == ["0001", "0002", "0003"]
    assert all((tmp_path / i / "commands.sh").exists() for i in ids)
