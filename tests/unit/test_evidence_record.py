"""What the evidence command keeps beside the evidence: replaced runs (then and now, why), and
``recheck`` comparing every figure a report prints."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import stored
from fakeruns import comparison_history, comparison_scenario, fake_run

from harness.recheck import recheck_run
from harness.reports.evidence_log import load_replacements
from harness.reports.faults import render_faults, write_faults_report
from harness.scenario.model import FaultSpec
from harness.summary import load_summaries
from harness.trials import record_replacements

KILL = FaultSpec(kind="kill_daprd", at_s=8, duration_s=4, replica=1)


def evidence_with_two_runs(tmp_path: Path) -> Path:
    runs, results = tmp_path / "runs", tmp_path / "results"
    for run_id, started in (("0001-old", "2026-11-28T20:00:00Z"), ("0002-new", "2026-11-28T21:00:00Z")):
        fake_run(runs, run_id, comparison_scenario("fault-kill-daprd", 3, (KILL,)),
                 comparison_history(3, fault=True), started)
    write_faults_report(runs, results, trials=2)
    stored_old = results / "evidence" / "0001-old.json"
    data = json.loads(stored_old.read_text())
    data["verdict"] = "fail"  # as an older checker judged it
    stored_old.write_text(json.dumps(data))
    return results


def test_a_replaced_run_is_moved_and_listed_with_its_verdict_then_and_now(tmp_path: Path) -> None:
    results = evidence_with_two_runs(tmp_path)
    record_replacements(results, ["0001-old"], "checker fix; re-run")
    (entry,) = load_replacements(results)
    assert (entry.replaced, entry.verdict_then, entry.replaced_by) == ("0001-old", "fail", ["0002-new"])
    assert (results / "evidence" / "replaced" / "0001-old.history.jsonl.gz").is_file()
    assert not (results / "evidence" / "0001-old.json").exists()
    runs = {"fault-kill-daprd": load_summaries(results / "evidence")}
    text = render_faults(runs, results_dir=results)
    line = next(line for line in text.splitlines() if "0001-old" in line and line.startswith("|"))
    assert "| fail | pass |" in line and "checker fix; re-run" in line and "0002-new" in line


def test_runs_replaced_together_never_stand_for_each_other(tmp_path: Path) -> None:
    results = evidence_with_two_runs(tmp_path)
    fake_run(tmp_path / "runs", "0003-newest", comparison_scenario("fault-kill-daprd", 3, (KILL,)),
             comparison_history(3, fault=True), "2026-11-28T22:00:00Z")
    write_faults_report(tmp_path / "runs", results, trials=3)
    record_replacements(results, ["0001-old", "0002-new"], "re-run")
    assert [r.replaced_by for r in load_replacements(results)] == [["0003-newest"]] * 2


def test_a_replacement_needs_a_reason_and_a_newer_run(tmp_path: Path) -> None:
    results = evidence_with_two_runs(tmp_path)
    with pytest.raises(ValueError, match="needs a reason"):
        record_replacements(results, ["0001-old"], " ")
    with pytest.raises(ValueError, match="no newer cited run"):
        record_replacements(results, ["0002-new"], "why")


def test_the_committed_replacements_are_disclosed_in_faults_md_and_the_adr() -> None:
    replaced = {r.replaced for r in load_replacements(stored.RESULTS)}
    for name in ("faults.md", "adr-jobs-api-or-cron-binding.md"):
        text = (stored.RESULTS / name).read_text()
        assert all(run in text for run in replaced), name
        assert "## Replaced runs" in text


def test_recheck_compares_lateness_phases_and_recovery_too(tmp_path: Path) -> None:
    run = "0021-20261129-114750-fault-kill-scheduler-9c18"
    for suffix in (".json", ".scenario.json", ".history.jsonl.gz"):
        shutil.copy(stored.EVIDENCE / f"{run}{suffix}", tmp_path / f"{run}{suffix}")
    assert recheck_run(tmp_path, run).differences == []
    path = tmp_path / f"{run}.json"
    data = json.loads(path.read_text())
    data["mechanisms"][0]["lateness_ms"]["max"] += 1
    data["mechanisms"][0]["phases"]["before"]["ticks"] += 1
    data["faults"][0]["recovery_s"] += 1
    path.write_text(json.dumps(data))
    found = "\n".join(recheck_run(tmp_path, run).differences)
    assert "lateness_ms" in found and "phases" in found and "recovery_s" in found
