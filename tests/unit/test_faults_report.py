"""results/faults.md from fault runs: selection of runs, sums, bounds, rates, verdicts, files."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from fakeruns import comparison_history, comparison_scenario, fake_run, mechanism_result

from harness.check import CheckerResult
from harness.reports.faults import fault_rows, latest_fault_runs, render_faults, write_faults_report
from harness.scenario.model import FaultSpec
from harness.summary import DaprInfo, Provenance, RunSummary

KILL = {"kind": "kill_scheduler", "target": "scheduler", "replica": None, "member": 1,
        "start_s": 5.0, "end_s": 5.1, "duration_s": 0.1}


def phases(ticks: int, lost: int = 0, duplicated: int = 0, replayed: int = 0) -> dict[str, Any]:
    return {"before": {"ticks": 3, "delivered": 3, "lost": 0, "duplicated": 0, "replayed": 0},
            "during": {"ticks": 2, "delivered": 2 - lost, "lost": lost, "duplicated": 0,
                       "replayed": 0},
            "recovering": {"ticks": ticks - 5, "delivered": ticks - 5, "lost": 0,
                           "duplicated": duplicated, "replayed": replayed}}


def summary(run_id: str, scenario: str, started: str, mechanisms: list[Any], *,
            recovery_s: float | None = 23.1, promise: str = "pass", kind: str = "fault") -> RunSummary:
    return RunSummary(
        run_id=run_id, scenario=scenario, kind=kind, description=f"What {scenario} does.",
        started_at=started, dapr=DaprInfo(runtime="1.18.3", daprd="1.18.3"),
        provenance=Provenance(commit="abc1234"), replicas=3, schedulers=1, window_s=36.0,
        grace_s=6.0, passed=promise == "pass",
        checkers=[CheckerResult("promises", promise, [] if promise == "pass" else ["a: 1 tick(s) lost"])],  # type: ignore[arg-type]
        faults=[{**KILL, "recovery_s": recovery_s}], mechanisms=mechanisms)


def kill_runs() -> list[RunSummary]:
    return [
        summary("r1", "fault-kill-scheduler", "2026-11-28T20:00:00Z", [
            mechanism_result("job", "a", ticks=17, late=11, replayed=11, phases=phases(17, replayed=11),
                             lateness_ms={"p50": 4.0, "max": 22111.5}),
            mechanism_result("job", "b", ticks=17, duplicated=(1, 1), phases=phases(17, duplicated=1)),
            mechanism_result("binding", "c", ticks=51, schedule="*/2 * * * * *",
                             lost_by_replica={0: 0, 1: 0, 2: 0}, phases=phases(51))]),
        summary("r2", "fault-kill-scheduler", "2026-11-28T21:00:00Z", [
            mechanism_result("job", "a", ticks=16, lost=(0, 1), phases=phases(16, lost=1),
                             lateness_ms={"p50": 4.0, "max": 900.0}),
            mechanism_result("job", "b", ticks=16, phases=phases(16)),
            mechanism_result("binding", "c", ticks=48, lost=(2, 2), schedule="*/2 * * * * *",
                             lost_by_replica={0: 0, 1: 2, 2: 0}, phases=phases(48, lost=2))],
                recovery_s=20.4, promise="ambiguous"),
    ]


def test_latest_fault_runs_keeps_the_newest_k_fault_runs_of_a_clean_tree() -> None:
    old = summary("r0", "fault-kill-scheduler", "2026-11-28T19:00:00Z", [])
    plain = summary("p1", "comparison", "2026-11-28T22:00:00Z", [], kind="comparison")
    claim = summary("c1", "claims-restart", "2026-11-28T22:00:00Z", [], kind="claims")
    dirty = summary("d1", "fault-kill-scheduler", "2026-11-28T23:00:00Z", [])
    dirty.provenance = Provenance(commit="abc1234", dirty=True)
    chosen = latest_fault_runs([kill_runs()[1], plain, old, claim, dirty, kill_runs()[0]], trials=2)
    assert list(chosen) == ["fault-kill-scheduler"]
    assert [s.run_id for s in chosen["fault-kill-scheduler"]] == ["r1", "r2"]
    assert [s.run_id for s in latest_fault_runs(kill_runs(), 1)["fault-kill-scheduler"]] == ["r2"]
    with pytest.raises(ValueError, match="trials must be >= 1"):
        latest_fault_runs(kill_runs(), 0)


def test_rows_sum_every_job_over_trials_with_both_bounds() -> None:
    job, binding = fault_rows({"fault-kill-scheduler": kill_runs()})
    assert (job.mechanism, job.trials, job.ticks) == ("job", 2, 17 + 17 + 16 + 16)
    assert (str(job.lost), str(job.duplicated), job.late, job.replayed) == ("0-1", "1", 11, 11)
    assert job.max_lateness_ms == 22111.5 and (job.stalled, job.tasks) == (1, 4)
    assert job.duplicated_rate.per_thousand() == "15.2 [0.4-81.6]"
    assert job.lost_rate.per_thousand() == "0.0-15.2 [0.0-81.6]"  # both readings, one interval
    assert job.verdict == "ambiguous (1/2)" and job.missed_once == ["r1", "r2"]
    assert job.recovery_s == [23.1, 20.4]
    assert job.phases["recovering"]["replayed"] == 11
    assert (binding.ticks, str(binding.lost), binding.lost_by_replica[1]) == (99, "2", 2)


def _row(text: str, first: str, mechanism: str) -> list[str]:
    line = next(line for line in text.splitlines()
                if line.startswith(f"| {first} |") and f"| {mechanism} |" in line)
    return [c.strip() for c in line.strip("|").split(" | ")]


def test_render_opens_with_the_matrix_then_worst_case_then_details() -> None:
    text = render_faults({"fault-kill-scheduler": kill_runs()}, generated_at="2026-11-28 22:00 UTC")
    assert "_Generated by `python3 -m harness faults` on 2026-11-28 22:00 UTC" in text
    assert "Cited runs: 2 run(s) of fault-kill-scheduler." in text
    assert text.index("## Matrix") < text.index("## Worst case") < text.index("## Per scenario")
    matrix = next(line for line in text.splitlines() if line.startswith("| fault-kill-scheduler |"))
    assert "ambiguous (1/2)<br>lost 0-1 of 66: 0.0-15.2 [0.0-81.6]<br>dup 1: 15.2 [0.4-81.6]" in matrix
    assert "Context (same for every row): Dapr 1.18.3 · replicas 3" in text
    worst = _row(text, "job", "duplicated")
    at = worst.index("duplicated")
    assert worst[at + 1:at + 3] == ["fault-kill-scheduler: 1 of 66", "15.2 [0.4-81.6]"]
    assert "Dapr's promise" in worst[-1] and "once per tick in 0 of 2" in worst[-1]


def test_detail_rows_name_their_own_runs_fault_as_asked_and_carried_out() -> None:
    runs = kill_runs()
    runs[1].faults = [runs[1].faults[0].model_copy(update={"member": 2, "asked_known": True,
                                                          "asked_at_s": 5.0})]
    text = render_faults({"fault-kill-scheduler": runs}, generated_at="now")
    first, second = (_row(text, f"[{r}](evidence/{r}.json)", "job") for r in ("r1", "r2"))
    assert "kill_scheduler member 1 @5s: asked ?, held 0.10 s" in first
    assert "kill_scheduler member 2 @5s: asked: undone at once, held 0.10 s" in second
    total = _row(text, "all 2", "job")
    assert "each run's, above" in total and total[4:7] == ["66", "0-1", "1"]
    assert "`r2` promises: a: 1 tick(s) lost" in text
    assert "Every checker valid in 1 of 2 run(s)" in text


def test_render_refuses_when_no_fault_runs() -> None:
    with pytest.raises(ValueError, match="no runs of a fault scenario"):
        render_faults({})


def test_write_copies_cited_evidence_and_writes_the_document(tmp_path: Path) -> None:
    runs_dir, out = tmp_path / "runs", tmp_path / "results"
    kill = FaultSpec(kind="kill_daprd", at_s=8, duration_s=4, replica=1)
    for run_id, started in (("r1", "2026-11-28T20:00:00Z"), ("r2", "2026-11-28T21:00:00Z")):
        fake_run(runs_dir, run_id, comparison_scenario("fault-kill-daprd", 3, (kill,)),
                 comparison_history(3, fault=True), started)
    written = write_faults_report(runs_dir, out, trials=1)
    assert written[0] == out / "faults.md"
    assert (out / "evidence" / "r2.json").is_file() and not (out / "evidence" / "r1.json").exists()
    assert (out / "evidence" / "r2.history.jsonl.gz").is_file()
    assert (out / "plots" / "r2-timeline.png").is_file()
    text = (out / "faults.md").read_text()
    assert "[r2](evidence/r2.json)" in text
    assert "kill_daprd r1 @8s: asked 4 s, held 4.00 s" in text  # the scenario's ask, measured


def test_the_report_renders_again_from_the_evidence_alone(tmp_path: Path) -> None:
    runs_dir, out = tmp_path / "runs", tmp_path / "results"
    kill = FaultSpec(kind="kill_daprd", at_s=8, duration_s=4, replica=1)
    fake_run(runs_dir, "r1", comparison_scenario("fault-kill-daprd", 3, (kill,)),
             comparison_history(3, fault=True), "2026-11-28T20:00:00Z")
    write_faults_report(runs_dir, out, trials=1)
    first = (out / "faults.md").read_text()
    shutil.rmtree(runs_dir)
    write_faults_report(out / "evidence", out, trials=1)
    assert _without_date((out / "faults.md").read_text()) == _without_date(first)


def _without_date(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith("_Generated"))
