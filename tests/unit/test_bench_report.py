"""bench.md rendering on a recorded bench.json (from a real `bench --quick` run)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from harness.reports.bench import (SECTIONS, TARGETS, fig, headline_lines, limited_by,
                                   peak_trigger_rate, recording_ratio, render_bench,
                                   write_bench_report)

SAMPLE = Path(__file__).parent / "data" / "bench_sample.json"


def _sample() -> dict[str, Any]:
    return json.loads(SAMPLE.read_text())


def test_fig_is_median_min_max_and_n() -> None:
    assert fig({"median": 2.0, "min": 1.0, "max": 3.5, "n": 3}) == "2 [1-3.5] (n=3)"
    assert fig(None) == "-"


def test_limited_by_names_the_most_frequent_side() -> None:
    sides = ["daprd (150% of a core)", "machine CPU (97% of 2 cores)", "daprd (160% of a core)"]
    assert limited_by(sides) == "daprd (150% of a core) (2/3 trials)"
    assert limited_by(["app (99% of a core)"]) == "app (99% of a core)"
    assert limited_by([]) == "-"


def test_every_section_is_stamped_and_beside_its_target() -> None:
    doc = render_bench(_sample())
    for name, (title, _) in SECTIONS.items():
        assert (f"## {title}" in doc) is (name in _sample()["benchmarks"]), name
    assert f"{TARGETS['scheduling']:g}" in doc and f"{TARGETS['triggering']:g}" in doc
    assert "Dapr 1.18.3" in doc and "do not edit by hand" in doc and "load average" in doc


def test_ratio_is_measured_over_target() -> None:
    data = _sample()
    doc = render_bench(data)
    for client in data["benchmarks"]["scheduling"]["figures"]["clients"].values():
        assert f"{client['accepted_per_s']['median'] / TARGETS['scheduling']:.2f}x" in doc


def test_recording_ratio_and_recorder_need_come_from_the_figures() -> None:
    data = _sample()
    bench = data["benchmarks"]
    doc = render_bench(data)
    for n, sizes in bench["triggering"]["figures"]["sizes"].items():
        ratio = round(sizes["recording-app"]["triggers_per_s"]["median"]
                      / sizes["null-sink"]["triggers_per_s"]["median"], 3)
        assert recording_ratio(sizes) == ratio
        assert f"- {n} jobs: recording app / null sink = **{ratio}x** (target at least 0.6x" in doc
    peak = peak_trigger_rate(bench)
    assert peak is not None and f"{peak:g}/s; target at least 1x" in doc


def test_the_recorder_is_compared_with_the_delivery_of_its_own_run() -> None:
    data = _sample()
    bench = data["benchmarks"]
    bench["recorder"]["invocation"] = bench["triggering"]["invocation"] = "run-a"
    bench["replicas"]["invocation"] = "run-b"  # faster, but another run: not the yardstick
    for cell in bench["replicas"]["figures"]["cells"].values():
        for trial in cell["trials"]:
            trial["triggers_per_s"] = 99999.0
    doc = render_bench(data)
    same_run = peak_trigger_rate({"triggering": bench["triggering"]})
    assert f"Dapr achieved in the same run ({same_run:g}/s" in doc and "99999" not in doc.split("## 3.")[1].split("## 4.")[0]


def test_headline_lines_cite_every_client_and_the_drift() -> None:
    lines = "\n".join(headline_lines(_sample()["benchmarks"]))
    for client in ("native-http", "python-http", "sdk-grpc"):
        assert client in lines
    assert "drift per tick" in lines


def test_write_bench_report_writes_markdown_and_plots(tmp_path: Path) -> None:
    shutil.copy(SAMPLE, tmp_path / "bench.json")
    paths = write_bench_report(tmp_path / "bench.json", tmp_path)
    assert [p.name for p in paths] == ["bench.md", "bench-triggering.png", "bench-replicas.png",
                                       "bench-stored-jobs.png", "bench-recurring.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths[1:])


def test_registration_and_checker_sections() -> None:
    data = _sample()
    stamp = {k: v for k, v in data["benchmarks"]["scheduling"].items() if k != "figures"}
    spread = {"median": 60.0, "min": 50.0, "max": 70.0, "n": 3}
    data["benchmarks"]["registration"] = {**stamp, "figures": {"reminder": {
        "accepted_per_s": spread, "latency_p50_ms": None, "latency_p99_ms": None,
        "errors_by_status": {"500": 2}}}}
    data["benchmarks"]["checker"] = {**stamp, "figures": {
        "check_20000_triggers_s": spread, "recheck": {"runs": 4, "seconds": 1.5, "differences": 0}}}
    doc = render_bench(data)
    assert "| reminder " in doc and "0.10x" in doc and "500 2" in doc
    assert "recheck: 4 cited runs in 1.5 s, 0 difference(s)." in doc and " 20000 | 60 [50-70]" in doc
