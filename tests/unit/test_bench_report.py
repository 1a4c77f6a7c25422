"""bench.md rendering on a recorded bench.json (from a real `bench --quick --trials 1` run)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from harness.bench.runner import spread
from harness.reports.bench import TARGETS, render_bench, write_bench_report

SAMPLE = Path(__file__).parent / "data" / "bench_sample.json"


def test_spread_is_median_min_max() -> None:
    assert spread([3.0, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}


def test_every_section_shows_figures_beside_targets() -> None:
    doc = render_bench(json.loads(SAMPLE.read_text()))
    for title in ("Setup time", "1. Scheduling", "2. Triggering", "3. Precision",
                  "4. Control-plane cost", "5. The harness is not the bottleneck"):
        assert f"## {title}" in doc
    assert f"{TARGETS['scheduling']:g}" in doc and f"{TARGETS['triggering']:g}" in doc
    assert "Dapr 1.18.3" in doc and "do not edit by hand" in doc


def test_ratio_is_measured_over_target() -> None:
    data = json.loads(SAMPLE.read_text())
    accepted = data["benchmarks"]["scheduling"]["figures"]["full_speed"]["accepted_per_s"]["median"]
    assert f"{accepted / TARGETS['scheduling']:.2f}x" in render_bench(data)


def test_write_bench_report_writes_markdown_and_plot(tmp_path: Path) -> None:
    shutil.copy(SAMPLE, tmp_path / "bench.json")
    paths = write_bench_report(tmp_path / "bench.json", tmp_path)
    assert [p.name for p in paths] == ["bench.md", "bench-triggering.png"]
    assert paths[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
