"""results/reliability.md rendering from a hand-built reliability.json (no processes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.bench.reliability import hostile_cases
from harness.reports.reliability import render_reliability, write_reliability_report


def _doc() -> dict[str, Any]:
    runner = [{"signal": sig, "processes": 8, "left": 1 if sig == "SIGTERM" else 0,
               "ports_held": 0, "clean_s": 0.4, "exit_code": -9 if sig == "SIGKILL" else 130,
               "history_readable": True} for sig in ("SIGKILL", "SIGINT", "SIGTERM")]
    burst = [{"sent": 20000, "killed_after": 10000, "acknowledged": 10003, "recorded": 10010,
              "lost_acknowledged": 0, "recorded_unacknowledged": 7, "history_readable": True,
              "left": 0, "ports_held": 0}]
    malformed = [{"category": "YAML bomb", "cases": 4, "precise": 3, "loaded": 0,
                  "other": {"other: KeyError: 'x'": 1}, "slowest_ms": 2.0}]
    envs = [{"fault": "too little free disk", "trials": [
        {"outcome": "error: only 5 MiB free | x", "left": 0, "ports_held": 0}]}]
    return {"dapr": "1.18.3", "harness_commit": "abc1234", "tree": "clean",
            "machine": {"cpus": 2, "memory_gib": 24.0}, "generated_at": "2026-11-29T10:00:00Z",
            "settings": {"burst_triggers": 20000, "burst_concurrency": 50},
            "runner_scenario": {"name": "comparison", "replicas": 3, "window_s": 24.0,
                                "schedules": ["@every 2s"]},
            "runner_death": runner, "app_burst": burst, "malformed": malformed,
            "environments": envs, "sigkill_deadline_s": 2.0}


def test_every_table_names_version_commit_replicas_schedule_and_window() -> None:
    text = render_reliability(_doc())
    assert "Dapr 1.18.3, harness commit `abc1234` (clean tree)" in text
    assert "3 replicas, schedule @every 2s (a job and a cron binding), window 24 s" in text


def test_what_was_left_or_lost_is_shown_not_hidden() -> None:
    text = render_reliability(_doc())
    assert "| runner SIGTERM mid-window |        1 |                   8 |              1 |" in text
    assert "- YAML bomb: 1 x `other: KeyError: 'x'`" in text
    assert "error: only 5 MiB free \\| x" in text  # a pipe cannot break the table
    assert "|       1 |           20000 |           10000 |          10003 |      10010 |" in text


def test_write_reads_the_json_and_writes_the_markdown(tmp_path: Path) -> None:
    source = tmp_path / "reliability.json"
    source.write_text(json.dumps(_doc()))
    assert write_reliability_report(source, tmp_path) == [source, tmp_path / "reliability.md"]
    assert (tmp_path / "reliability.md").read_text().startswith("# Reliability of the harness")


def test_the_hostile_catalog_covers_each_category_the_issue_names() -> None:
    names = " ".join(hostile_cases())
    for word in ("bomb", "oversized", "UTF-8", "empty", "not a mapping", "duplicate", "URL",
                 "component", "token", "wrong type", "unknown key", "out-of-range"):
        assert word in names
