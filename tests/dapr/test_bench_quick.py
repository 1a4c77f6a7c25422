"""Smoke test: every benchmark's quick profile on real Dapr, through the CLI.

Figures are printed, never judged: no speed is asserted. What is asserted is that each
benchmark ran, rendered its section and plots, and that nothing Dapr delivered was lost on the
way to the null sink or the recorder (a harness fault, not a speed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness.bench.runner import BENCHMARKS
from harness.paths import REPO_ROOT
from harness.reports.bench import SECTIONS


def test_quick_profile_of_every_benchmark(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "harness", "bench", "--quick", "--out", str(tmp_path)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=540, check=False)
    print(proc.stdout[-6000:])  # the figures, for the log
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads((tmp_path / "bench.json").read_text())["benchmarks"]
    assert set(data) == set(BENCHMARKS)
    doc = (tmp_path / "bench.md").read_text()
    for title, _ in SECTIONS.values():
        assert f"## {title}" in doc
    for plot in ("triggering", "replicas", "stored-jobs", "recurring"):
        assert (tmp_path / "plots" / f"bench-{plot}.png").stat().st_size > 0
    for size in data["triggering"]["figures"]["sizes"].values():
        assert size["null-sink"]["lost"] == 0 and size["recording-app"]["lost"] == 0
    assert data["recorder"]["figures"]["lost_records"] == 0
    assert all(c["lost"] == 0 for c in data["replicas"]["figures"]["cells"].values())
