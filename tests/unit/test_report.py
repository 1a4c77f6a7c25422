"""Reports from fake runs: the table, latest-per-scenario, written files and evidence (no Dapr)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from fakeruns import T0, comparison_history, comparison_scenario, fake_run

from harness.reports.comparison import (
    app_cell,
    fault_spans,
    headline_table,
    mechanism_table,
    render_comparison,
    write_reports,
)
from harness.record.history import load_history
from harness.scenario.model import FaultSpec
from harness.summary import latest_per_scenario, load_summaries

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
COMPARISON_ID = "0001-20261128-194634-comparison-f2e5"
SWEEP_ID = "0002-20261128-195210-sweep-a1b2"
KILL = FaultSpec(kind="kill_daprd", at_s=8, duration_s=4, replica=1)


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    runs = tmp_path / "runs"
    fake_run(runs, COMPARISON_ID, comparison_scenario(), comparison_history(3),
             "2026-11-28T19:46:34Z")
    fake_run(runs, SWEEP_ID, comparison_scenario("sweep[replicas=2]", 2, (KILL,)),
             comparison_history(2, fault=True, skip_tick=6), "2026-11-28T19:52:10Z",
             mismatches=["daprd_job_success 10 != history_triggers 11"])
    (runs / "20261128-000000-crashed-0000").mkdir()  # no summary.json: skipped
    return runs


def table_rows(table: str) -> list[list[str]]:
    lines = table.splitlines()
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]


def test_load_summaries_sorted_and_skips_dirs_without_summary(runs_dir: Path) -> None:
    assert [s.run_id for s in load_summaries(runs_dir)] == [COMPARISON_ID, SWEEP_ID]
    assert load_summaries(runs_dir / "missing") == []


def test_table_has_one_row_per_mechanism_with_version_replicas_schedule_window(runs_dir: Path) -> None:
    table = mechanism_table(load_summaries(runs_dir))
    header, rows = table.splitlines()[0], table_rows(table)
    assert len(rows) == 4
    for column in ("Dapr", "replicas", "schedule", "window (s)", "attempts", "deliveries",
                   "retries", "before/after window", "unexplained", "drift (ms/tick)",
                   "verdict", "commit", "run id"):
        assert column in header
    job, binding, sweep_job, _ = rows
    col = {name.strip(): i for i, name in enumerate(header.strip("|").split("|"))}
    assert job[:7] == ["comparison", "1.18.3", "job", "tick", "3", "@every 2s", "24"]
    assert job[col["ticks"]] == "12" and job[col["attempts"]] == "13"  # one failed attempt
    assert job[col["deliveries"]] == "12" and job[col["per replica"]] == "5/4/4"
    assert job[col["lateness p50 (ms)"]] == "30" and job[col["verdict"]] == "pass"
    assert binding[col["triggers/tick"]] == "3.0" and binding[col["per replica"]] == "25/25/25"
    assert binding[col["lateness p50 (ms)"]] == "-" and binding[col["drift (ms/tick)"]] == "0"
    assert sweep_job[0] == "sweep[replicas=2]" and sweep_job[col["lost"]] == "1"
    assert SWEEP_ID in sweep_job[-1] and sweep_job[col["verdict"]] == "fail"
    assert sweep_job[col["commit"]] == "9a5873d"


def test_latest_per_scenario_picks_newest(runs_dir: Path) -> None:
    newer = "0003-20261129-080000-comparison-9999"
    fake_run(runs_dir, newer, comparison_scenario(), comparison_history(3), "2026-11-29T08:00:00Z")
    latest = latest_per_scenario(load_summaries(runs_dir))
    assert {s.scenario: s.run_id for s in latest} == {"comparison": newer,
                                                      "sweep[replicas=2]": SWEEP_ID}


def test_runs_of_a_dirty_tree_are_not_cited_unless_allowed(runs_dir: Path, tmp_path: Path) -> None:
    dirty = "0003-20261129-080000-comparison-dddd"
    fake_run(runs_dir, dirty, comparison_scenario(), comparison_history(3), "2026-11-29T08:00:00Z",
             dirty=True)
    clean = latest_per_scenario(load_summaries(runs_dir), clean_only=True)
    assert {s.run_id for s in clean} == {COMPARISON_ID, SWEEP_ID}
    write_reports(runs_dir, tmp_path / "strict")
    assert dirty not in (tmp_path / "strict" / "comparison.md").read_text()
    write_reports(runs_dir, tmp_path / "loose", allow_dirty=True)
    doc = (tmp_path / "loose" / "comparison.md").read_text()
    assert dirty in doc and "9a5873d (dirty)" in doc


def test_render_comparison_has_provenance_caption_and_mismatches(runs_dir: Path) -> None:
    doc = render_comparison(load_summaries(runs_dir), title="Test report")
    assert doc.startswith("# Test report\n")
    assert "python -m harness report" in doc and "do not edit by hand" in doc
    for text in ("runtime 1.18.3", "scheduler 1.18.3", "project build", "daprd built from Go modules",
                 "9a5873d", "testbox", "2026-11-28T19:46:34Z", "exactly once", "per-replica view",
                 "grace"):
        assert text.lower() in doc.lower(), text
    assert "Dapr 1.18.3" in doc.split("| scenario")[0].splitlines()[-2]  # caption right above
    assert f"![timeline](plots/{COMPARISON_ID}-timeline.png)" in doc
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
        history = gzip.decompress((out / "evidence" / f"{run_id}.history.jsonl.gz").read_bytes())
        assert history == (runs_dir / run_id / "history.jsonl").read_bytes()
        assert (out / "evidence" / f"{run_id}.scenario.json").exists()
        assert f"(evidence/{run_id}.json)" in doc


def test_fault_runs_are_left_to_faults_md_by_default(runs_dir: Path, tmp_path: Path) -> None:
    write_reports(runs_dir, tmp_path / "report")
    doc = (tmp_path / "report" / "comparison.md").read_text()
    assert COMPARISON_ID in doc and SWEEP_ID not in doc  # the sweep fixture has a fault


def test_write_reports_without_runs_raises_with_hint(tmp_path: Path) -> None:
    empty = tmp_path / "runs"
    (empty / "half-run").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"no runs of a clean tree .* under .*harness run"):
        write_reports(empty, tmp_path / "out")


def test_headline_table_is_compact_and_says_what_it_measured(runs_dir: Path) -> None:
    summary = load_summaries(runs_dir)[0]
    text = headline_table(summary, evidence_link=False)
    caption, _, table = text.partition("\n\n")
    assert "Dapr 1.18.3" in caption and "3 replicas" in caption and "24 s" in caption
    assert "9a5873d" in caption and "evidence" not in caption
    assert len(table.splitlines()[0].split("|")) - 2 == 14  # 14 columns, not the wide table
    assert "app p50/p99 (ms)" in table.splitlines()[0]  # the app's own time beside lateness


def test_the_app_cell_shows_the_apps_own_time_or_a_dash(runs_dir: Path) -> None:
    entry = load_summaries(runs_dir)[0].mechanisms[0]
    assert app_cell(entry) == "-"  # a history without app_ms
    entry.app_ms = {"p50": 0.2134, "p90": 0.5, "p99": 1.87, "max": 9.0}
    assert app_cell(entry) == "0.21/1.9"


def test_fault_spans_pair_start_and_end(runs_dir: Path) -> None:
    history = load_history(runs_dir / SWEEP_ID / "history.jsonl")
    assert fault_spans(history) == [("kill_daprd", "replica-1", T0 + 8, T0 + 12)]
