"""A network-fault run whose runner is SIGKILLed in the middle of a partition leaves nothing
behind within 2 s: no Toxiproxy server, no nftables table, no marker (a run that ends normally
is checked by test_network_faults.py, after its cluster stops)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.cluster import netcut
from harness.cluster.reaper import tagged_processes
from harness.cluster.wait import wait_until
from harness.paths import REPO_ROOT
from harness.record.history import load_history

DEATH_DEADLINE_S = 2.0
# Both tools at once: member 2 and replica 1 split from the rest (kernel cut and proxies).
NETWORK_SCENARIO = """
replicas: 2
schedulers: 3
window_s: 30
jobs: [{name: j, schedule: "@every 1s", data: {a: 1}}]
faults:
  - {kind: partition, at_s: 2, duration_s: 20,
     sides: [[scheduler-2, replica-1], [scheduler-0, scheduler-1, replica-0]]}
"""


def _left(run_id: str) -> list[str]:
    """What of the run is still there: tagged processes, tables, markers."""
    left = [f"pid {p.pid}: {p.cmdline[:80]}" for p in tagged_processes([run_id])]
    left += [f"table {t.name}" for t in netcut.run_tables([run_id])]
    left += [f"marker {t.name}" for t in netcut.marked_tables() if t.run_id == run_id]
    return left


def _run(tmp_path: Path) -> subprocess.Popen[bytes]:
    scenario = tmp_path / "network-cleanup.yaml"
    scenario.write_text(NETWORK_SCENARIO)
    env = {**os.environ, "DAPR_HARNESS_RUNS": str(tmp_path / "runs")}
    return subprocess.Popen([sys.executable, "-m", "harness", "run", str(scenario)],
                            cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def test_a_sigkilled_runner_mid_partition_leaves_no_proxy_and_no_table(tmp_path: Path) -> None:
    child = _run(tmp_path)
    try:
        table_path = wait_until(lambda: next((tmp_path / "runs").glob("*/processes.json"), None),
                                timeout_s=120, what="the run's cluster up")
        history = table_path.parent / "history.jsonl"
        wait_until(lambda: load_history(history).first_event("fault_start"), timeout_s=60,
                   what="the partition begun")
        run_id = json.loads(table_path.read_text())["run_id"]
        assert any("toxiproxy" in p.cmdline for p in tagged_processes([run_id]))
        assert [t.run_id for t in netcut.run_tables([run_id])] == [run_id]
        child.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        child.wait(timeout=5)
        wait_until(lambda: not _left(run_id), timeout_s=DEATH_DEADLINE_S + 1,
                   what=f"nothing of {run_id} left", interval_s=0.05)
        assert time.monotonic() - killed_at <= DEATH_DEADLINE_S + 0.5
    finally:
        if child.poll() is None:
            child.kill()
