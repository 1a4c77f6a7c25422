"""The decision record on a recorded comparison summary (no Dapr)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from harness.reports.adr import render_adr

COMPARISON = json.loads((Path(__file__).parent / "data" / "summary_comparison.json").read_text())


def test_numbers_and_run_ids_come_from_the_summary(tmp_path: Path) -> None:
    doc = render_adr([COMPARISON], tmp_path / "no-bench.json")
    job = next(e for e in COMPARISON["mechanisms"] if e["mechanism"] == "job")
    assert COMPARISON["run_id"] in doc
    assert f"had {job['ticks_expected']} ticks" in doc
    assert "Use the **Jobs API**" in doc
    assert "No benchmark yet" in doc and "No fault runs yet" in doc


def test_no_recommendation_when_the_job_was_not_exactly_once(tmp_path: Path) -> None:
    broken = copy.deepcopy(COMPARISON)
    for entry in broken["mechanisms"]:
        if entry["mechanism"] == "job":
            entry["exactly_once_ticks"] -= 1
    assert "does not support the claim" in render_adr([broken], tmp_path / "none.json")
