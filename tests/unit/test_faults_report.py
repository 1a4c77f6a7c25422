"""results/faults.md from fault statistics: selection of runs, sums, rates, verdicts, files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.reports.faults import (
    fault_rows,
    latest_fault_runs,
    render_faults,
    write_faults_report,
)


def tally(ticks: int, lost: int = 0, duplicated: int = 0, late: int = 0,
          replayed: int = 0, max_lateness_ms: float | None = 5.0) -> dict[str, Any]:
    return {"ticks": ticks, "delivered": ticks - lost, "lost": lost, "duplicated": duplicated,
            "extra_triggers": duplicated, "late": late, "max_lateness_ms": max_lateness_ms,
            "replayed": replayed}


def mechanism(kind: str, name: str, *, ticks: int, lost: int = 0, duplicated: int = 0,
              late: int = 0, replayed: int = 0, max_lateness_ms: float = 5.0,
              lost_by_replica: dict[str, int] | None = None,
              bursts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    violated = lost > 0 if kind == "job" else False
    return {
        "mechanism": kind, "name": name,
        "schedule": "@every 2s" if kind == "job" else "*/2 * * * * *",
        **tally(ticks, lost, duplicated, late, replayed, max_lateness_ms),
        "failed_attempts": 0, "early": 0,
        "phases": {"before": tally(3), "during": tally(2, lost=lost),
                   "recovering": tally(ticks - 5, duplicated=duplicated, late=late,
                                       replayed=replayed, max_lateness_ms=max_lateness_ms)},
        "lost_by_replica": lost_by_replica if kind == "binding" else None,
        "lost_at_s": [], "bursts": bursts or [],
        "promise": "at-least-once" if kind == "job" else "per-replica, in memory",
        "verdict": "violated" if violated else "holds",
        "reasons": [f"{lost} tick(s) lost (at 8.0 s)"] if violated else [],
        "notes": [],
    }


def summary(run_id: str, scenario: str, started: str, mechanisms: list[dict[str, Any]],
            *, recovery_s: float | None = 23.1, passed: bool = True) -> dict[str, Any]:
    return {
        "run_id": run_id, "scenario": scenario, "description": f"What {scenario} does.",
        "started_at": started, "dapr": {"runtime": "1.18.3", "daprd": "1.18.3"},
        "harness_commit": "abc1234", "replicas": 3, "schedulers": 1, "window_s": 36.0,
        "passed": passed, "faults": [{"kind": "kill_scheduler", "at_s": 5.0, "duration_s": None, "replica": None, "member": 1}],
        "mechanisms": [],
        "fault_stats": {
            "faults": [{"kind": "kill_scheduler", "target": "scheduler", "start_s": 5.0,
                        "end_s": 5.1, "recovery_s": recovery_s}],
            "mechanisms": mechanisms,
        },
    }


BURST = {"replica": None, "at_s": 28.1, "triggers": 12, "ticks": 12, "replayed": 11,
         "span_ms": 38.0, "since_fault_end_s": 23.0}


def kill_runs() -> list[dict[str, Any]]:
    return [
        summary("r1", "fault-kill-scheduler", "2026-11-28T20:00:00Z", [
            mechanism("job", "a", ticks=17, late=11, replayed=11, max_lateness_ms=22111.5,
                      bursts=[BURST]),
            mechanism("job", "b", ticks=17, duplicated=1),
            mechanism("binding", "c", ticks=51, lost_by_replica={"0": 0, "1": 0, "2": 0})]),
        summary("r2", "fault-kill-scheduler", "2026-11-28T21:00:00Z", [
            mechanism("job", "a", ticks=16, lost=1, max_lateness_ms=900.0),
            mechanism("job", "b", ticks=16),
            mechanism("binding", "c", ticks=48, lost=2,
                      lost_by_replica={"0": 0, "1": 2, "2": 0})], recovery_s=20.4),
    ]


def test_latest_fault_runs_keeps_the_newest_k_with_fault_stats() -> None:
    old = summary("r0", "fault-kill-scheduler", "2026-11-28T19:00:00Z", [])
    plain = {**summary("p1", "comparison", "2026-11-28T22:00:00Z", []), "fault_stats": None}
    claim = summary("c1", "claims-restart", "2026-11-28T22:00:00Z", [])  # not the fault suite
    chosen = latest_fault_runs([kill_runs()[1], plain, old, claim, kill_runs()[0]], trials=2)
    assert list(chosen) == ["fault-kill-scheduler"]
    assert [s["run_id"] for s in chosen["fault-kill-scheduler"]] == ["r1", "r2"]
    assert [s["run_id"] for s in latest_fault_runs(kill_runs(), 1)["fault-kill-scheduler"]] == ["r2"]
    with pytest.raises(ValueError, match="trials must be >= 1"):
        latest_fault_runs(kill_runs(), 0)


def test_rows_sum_every_job_over_trials_and_judge_each_run() -> None:
    job, binding = fault_rows({"fault-kill-scheduler": kill_runs()})
    assert (job.mechanism, job.trials, job.ticks) == ("job", 2, 17 + 17 + 16 + 16)
    assert (job.lost, job.duplicated, job.late, job.replayed) == (1, 1, 11, 11)
    assert job.max_lateness_ms == 22111.5
    assert job.per_thousand(job.duplicated) == round(1000 / 66, 1) == 15.2
    assert job.verdict == "violated (1/2)" and job.violated_runs == ["r2"]
    assert job.recovery_s == [23.1, 20.4]
    assert job.phases["recovering"]["replayed"] == 11
    assert (binding.ticks, binding.lost, binding.lost_by_replica["1"]) == (99, 2, 2)
    assert binding.verdict == "holds (2/2)"


def test_render_has_provenance_table_and_details() -> None:
    text = render_faults({"fault-kill-scheduler": kill_runs()}, trials=2,
                         generated_at="2026-11-28 22:00 UTC")
    assert "_Generated by `python -m harness faults` on 2026-11-28 22:00 UTC" in text
    assert "do not edit by hand" in text
    for line in ("- Dapr: 1.18.3", "- Replicas: 3; scheduler members: 1",
                 "- Schedules: job `@every 2s`, binding `*/2 * * * * *`",
                 "- Observation windows: 36 s", "- Harness commit(s): abc1234",
                 "- Runs: 2 from 2026-11-28T20:00:00Z to 2026-11-28T21:00:00Z"):
        assert line in text
    job_row = next(line for line in text.splitlines()
                   if line.startswith("| fault-kill-scheduler") and "| job " in line)
    cells = [c.strip() for c in job_row.strip("|").split("|")]
    assert cells[3:12] == ["2", "66", "1", "1", "11", "11", "22,112", "15.2", "15.2"]
    assert cells[1] == "kill_scheduler member 1 @5s" and cells[13] == "20.4-23.1"
    assert cells[15] == "violated (1/2)"
    assert "[1](evidence/r1.json), [2](evidence/r2.json)" in job_row
    binding_row = next(line for line in text.splitlines() if "| binding " in line)
    cells = [c.strip() for c in binding_row.strip("|").split("|")]
    assert (cells[12], cells[15]) == ("r1: 2", "holds (2/2)")
    assert "11 owed ticks in 12 triggers within 38 ms, at 28.1 s (+23 s from the fault's end)" in text
    assert "`r2` a: 1 tick(s) lost (at 8.0 s)" in text
    assert "Scenario expectations met in 2 of 2 run(s)" in text


def test_render_refuses_when_no_fault_runs() -> None:
    with pytest.raises(ValueError, match="no runs with fault statistics"):
        render_faults({}, trials=2)


def test_write_copies_cited_evidence_and_writes_the_document(tmp_path: Path) -> None:
    runs_dir, out = tmp_path / "runs", tmp_path / "results"
    for s in kill_runs():
        (runs_dir / s["run_id"]).mkdir(parents=True)
        (runs_dir / s["run_id"] / "summary.json").write_text(json.dumps(s))
    written = write_faults_report(runs_dir, out, trials=1)
    assert written[0] == out / "faults.md"
    assert (out / "evidence" / "r2.json").is_file() and not (out / "evidence" / "r1.json").exists()
    assert json.loads((out / "evidence" / "r2.json").read_text())["run_id"] == "r2"
    assert (out / "plots" / "r2-timeline.png").is_file()
    assert "[1](evidence/r2.json)" in (out / "faults.md").read_text()
