"""Reports from fake runs: the table, latest-per-scenario, written files and evidence (no Dapr)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from harness.run.history import Event, HistoryWriter, Trigger, load_history
from harness.reports.comparison import (
    fault_spans,
    latest_per_scenario,
    load_summaries,
    mechanism_table,
    render_comparison,
    write_reports,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
T0 = 1_795_000_000.0  # window_start wall time of the fake runs
COMPARISON_ID = "20261128-194634-comparison-f2e5"
SWEEP_ID = "20261128-195210-sweep-a1b2"
DAPR = {"runtime": "1.18.3", "daprd": "1.18.3", "scheduler": "1.18.3", "placement": "1.18.3",
        "cli": None, "source": "project build", "adaptations": ["daprd built from Go modules"]}


def mechanism(kind: str, name: str, schedule: str, per_replica: dict[str, int], *,
              lateness: dict[str, float | None], verdict: str = "pass",
              mismatches: list[str] | None = None) -> dict[str, Any]:
    triggers = sum(per_replica.values())
    ticks = 12 if kind == "job" else 24
    return {
        "mechanism": kind, "name": name, "replicas": len(per_replica), "schedule": schedule,
        "window_s": 24.0, "ticks_expected": ticks, "triggers": triggers,
        "triggers_per_tick": round(triggers / ticks, 4), "per_replica": per_replica,
        "exactly_once_ticks": ticks if kind == "job" else 0,
        "duplicated_ticks": 0 if kind == "job" else ticks, "lost_ticks": 0, "early_triggers": 0,
        "per_replica_view": {"ticks_expected": ticks * len(per_replica), "once": triggers,
                             "duplicated": 0, "lost": 0},
        "lateness_ms": lateness, "phase_estimated": kind == "binding",
        "delivery_expected": "exactly_once" if kind == "job" else "once_per_replica",
        "verdict": verdict, "reasons": [] if verdict == "pass" else ["lost 1 ticks, allowed 0"],
        "metrics": {"history_triggers": triggers, "daprd_job_success": float(triggers),
                    "scheduler_jobs_triggered": float(triggers), "mismatches": mismatches or []},
    }


def summary(run_id: str, scenario: str, started_at: str, replicas: int,
            mechanisms: list[dict[str, Any]], faults: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "run_id": run_id, "scenario": scenario, "scenario_file": f"scenarios/{scenario}.yaml",
        "description": f"fake {scenario} run", "started_at": started_at,
        "finished_at": started_at.replace(":34Z", ":59Z").replace(":10Z", ":39Z"),
        "duration_s": 31.2, "dapr": DAPR, "harness_commit": "9a5873d",
        "machine": {"hostname": "testbox", "cpus": 2, "memory_gib": 23.4, "platform": "Linux-6.1-x86_64"},
        "replicas": replicas, "window_s": 24.0, "passed": True,
        "timings": {"startup_s": 1.0, "window_s": 24.0, "teardown_s": 0.3},
        "mechanisms": mechanisms, "faults": faults or [],
    }


def write_history(path: Path, replicas: int, *, fault: bool) -> None:
    """Job `tick` every 2s on one replica (30 ms late), binding `cron-tick` every 1s on every
    replica (phase 0.2 s), one failed and one refused trigger, optionally one fault."""
    with HistoryWriter(path) as writer:
        def event(what: str, wall: float, **attrs: Any) -> None:
            writer.append(Event(event=what, wall=wall, mono=wall - T0, attrs=attrs))

        def trigger(kind: str, name: str, replica: int, wall: float, **extra: Any) -> None:
            writer.append(Trigger(mechanism=kind, name=name, replica=replica, pid=1000 + replica,
                                  wall=wall, mono=wall - T0, **extra))

        for r in range(replicas):
            event("replica_ready", T0 - 3 + r * 0.1, replica=r)
        event("job_created", T0 - 1.5, name="tick", spec={"schedule": "@every 2s"},
              sent_wall=T0 - 1.5, status=204)
        event("binding_installed", T0 - 4, name="cron-tick", schedule="@every 1s")
        event("window_start", T0)
        for k in range(12):
            trigger("job", "tick", k % replicas, T0 - 2 + 2 * (k + 1) + 0.03)
        for k in range(24):
            for r in range(replicas):
                trigger("binding", "cron-tick", r, T0 + k + 0.2 + 0.01 * r)
        trigger("binding", "cron-tick", 0, T0 + 5.5, status=500, outcome="failed")
        trigger("job", "tick", 1, T0 + 7.1, status=401, outcome="refused")
        if fault:
            event("fault_start", T0 + 8, fault="kill_replica", target="replica-1")
            event("fault_end", T0 + 12, fault="kill_replica", target="replica-1")
        event("window_end", T0 + 24)


def make_run(runs_dir: Path, data: dict[str, Any], *, fault: bool = False) -> Path:
    run_dir = runs_dir / data["run_id"]
    run_dir.mkdir(parents=True)
    (run_dir / "summary.json").write_text(json.dumps(data, indent=2))
    write_history(run_dir / "history.jsonl", data["replicas"], fault=fault)
    return run_dir


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    runs = tmp_path / "runs"
    make_run(runs, summary(COMPARISON_ID, "comparison", "2026-11-28T19:46:34Z", 3, [
        mechanism("job", "tick", "@every 2s", {"0": 4, "1": 4, "2": 4},
                  lateness={"p50": 31.4, "p90": 40.2, "p99": 55.9, "max": 61.7}),
        mechanism("binding", "cron-tick", "@every 1s", {"0": 24, "1": 24, "2": 24},
                  lateness={"p50": 2.6, "p90": 8.0, "p99": 11.2, "max": 12.0}),
    ]))
    make_run(runs, summary(SWEEP_ID, "sweep[replicas=2]", "2026-11-28T19:52:10Z", 2, [
        mechanism("job", "tick", "*/2 * * * * *", {"0": 6, "1": 5},
                  lateness={"p50": None, "p90": None, "p99": None, "max": None}, verdict="fail",
                  mismatches=["daprd_job_success 10 != history_triggers 11"]),
    ], faults=[{"kind": "kill_replica", "at_s": 8.0, "duration_s": 4.0, "replica": 1,
                "start_wall": T0 + 8, "end_wall": T0 + 12}]), fault=True)
    (runs / "20261128-000000-crashed-0000").mkdir()  # no summary.json: skipped
    return runs


def table_rows(table: str) -> list[list[str]]:
    lines = table.splitlines()
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]


def test_load_summaries_sorted_and_skips_dirs_without_summary(runs_dir: Path) -> None:
    assert [s["run_id"] for s in load_summaries(runs_dir)] == [COMPARISON_ID, SWEEP_ID]
    assert load_summaries(runs_dir / "missing") == []


def test_table_has_one_row_per_mechanism_with_version_replicas_schedule_window(runs_dir: Path) -> None:
    table = mechanism_table(load_summaries(runs_dir))
    header, rows = table.splitlines()[0], table_rows(table)
    assert len(rows) == 3
    for column in ("Dapr", "replicas", "schedule", "window (s)", "per replica", "verdict", "run id"):
        assert column in header
    job, binding, sweep = rows
    assert job[:7] == ["comparison", "1.18.3", "job", "tick", "3", "@every 2s", "24"]
    assert job[9] == "1.0" and job[10] == "4/4/4"
    assert job[16:19] == ["31", "56", "62"]
    assert binding[2] == "binding" and binding[9] == "3.0" and binding[10] == "24/24/24"
    assert sweep[0] == "sweep[replicas=2]" and sweep[5] == "*/2 * * * * *" and sweep[10] == "6/5"
    assert sweep[16:19] == ["-", "-", "-"]  # null lateness
    assert SWEEP_ID in sweep[-1] and sweep[-2] == "fail"


def test_latest_per_scenario_picks_newest(runs_dir: Path) -> None:
    newer = copy.deepcopy(load_summaries(runs_dir)[0])
    newer["run_id"], newer["started_at"] = "20261129-080000-comparison-9999", "2026-11-29T08:00:00Z"
    make_run(runs_dir, newer)
    latest = latest_per_scenario(load_summaries(runs_dir))
    assert {s["scenario"]: s["run_id"] for s in latest} == {
        "comparison": "20261129-080000-comparison-9999", "sweep[replicas=2]": SWEEP_ID}


def test_render_comparison_has_provenance_caption_and_mismatches(runs_dir: Path) -> None:
    doc = render_comparison(load_summaries(runs_dir), title="Test report")
    assert doc.startswith("# Test report\n")
    assert "python -m harness report" in doc and "do not edit by hand" in doc
    for text in ("runtime 1.18.3", "scheduler 1.18.3", "project build", "daprd built from Go modules",
                 "9a5873d", "testbox", "2026-11-28T19:46:34Z", "exactly once", "per-replica view"):
        assert text.lower() in doc.lower(), text
    assert "Dapr 1.18.3" in doc.split("| scenario")[0].splitlines()[-2]  # caption right above
    assert f"![timeline](plots/{COMPARISON_ID}-timeline.png)" in doc
    assert f"![timeline](plots/{SWEEP_ID}-timeline.png)" in doc
    assert "daprd_job_success 10 != history_triggers 11" in doc
    assert "lost 1 ticks, allowed 0" in doc


def test_write_reports_writes_markdown_pngs_and_evidence(runs_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    written = write_reports(runs_dir, out, run_ids=[COMPARISON_ID, SWEEP_ID])
    assert all(p.exists() for p in written)
    doc = (out / "comparison.md").read_text()
    assert "Jobs API vs cron binding across replicas" in doc
    pngs = sorted((out / "plots").glob("*.png"))
    assert {p.name for p in pngs} == {f"{COMPARISON_ID}-timeline.png", f"{SWEEP_ID}-timeline.png",
                                      "lateness.png"}
    for png in pngs:
        assert png.read_bytes().startswith(PNG_SIGNATURE)
    for run_id in (COMPARISON_ID, SWEEP_ID):
        evidence = out / "evidence" / f"{run_id}.json"
        original = runs_dir / run_id / "summary.json"
        assert json.loads(evidence.read_text()) == json.loads(original.read_text())
        assert f"(evidence/{run_id}.json)" in doc


def test_fault_runs_are_left_to_faults_md_by_default(runs_dir: Path, tmp_path: Path) -> None:
    write_reports(runs_dir, tmp_path / "report")
    doc = (tmp_path / "report" / "comparison.md").read_text()
    assert COMPARISON_ID in doc and SWEEP_ID not in doc  # the sweep fixture has a fault


def test_write_reports_without_runs_raises_with_hint(tmp_path: Path) -> None:
    empty = tmp_path / "runs"
    (empty / "half-run").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"no runs with a summary\.json under .*pytest scenarios/"):
        write_reports(empty, tmp_path / "out")


def test_fault_spans_pair_start_and_end(runs_dir: Path) -> None:
    cron = load_history(runs_dir / SWEEP_ID / "history.jsonl")
    assert fault_spans(cron) == [("kill_replica", "replica-1", T0 + 8, T0 + 12)]
