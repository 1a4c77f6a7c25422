"""Bad environments on the real command line and real Dapr: one line, nothing started; a port
stolen between reservation and exec is retried with fresh ports, then reported."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.bench.reliability import PortThief
from harness.cluster.controlplane import Cluster, started_cluster
from harness.cluster.preflight import MIN_FREE_ENV, PortTaken
from harness.cluster.reaper import tagged_processes
from harness.cluster.runtime import DaprRuntime, locate_runtime
from harness.paths import REPO_ROOT
from harness.record.history import load_history
from harness.record.rundir import new_run_dir


@pytest.fixture(scope="module")
def runtime() -> DaprRuntime:
    return locate_runtime()


@pytest.mark.parametrize(("env", "expected"), [
    ({"DAPR_HARNESS_RUNS": "/proc/self/runs"}, "error: runs directory /proc/self/runs cannot be created"),
    ({MIN_FREE_ENV: str(10**12)}, "error: only "),
])
def test_a_bad_environment_is_one_line_before_anything_starts(tmp_path: Path, env: dict[str, str],
                                                              expected: str) -> None:
    full = {**os.environ, "DAPR_HARNESS_RUNS": str(tmp_path / "runs"), **env}
    done = subprocess.run([sys.executable, "-m", "harness", "run", "comparison"], cwd=REPO_ROOT,
                          env=full, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [done.stderr.strip()] and done.stderr.startswith(expected)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").glob("0*"))


def _factory(runtime: DaprRuntime, run_root: Path, steal: Callable[[int], bool],
             thief: PortThief) -> Callable[[], Cluster]:
    run = new_run_dir("port-thief", base=run_root)
    made = [0]

    def make() -> Cluster:
        made[0] += 1
        cluster = Cluster(runtime, run, replicas=1)
        return thief.rig(cluster) if steal(made[0]) else cluster
    return make


def test_a_port_taken_before_exec_is_retried_with_fresh_ports(runtime: DaprRuntime,
                                                             tmp_path: Path) -> None:
    thief = PortThief()
    try:
        make = _factory(runtime, tmp_path, lambda attempt: attempt == 1, thief)
        with started_cluster(make) as cluster:
            assert cluster.placement.process.alive()
            history = load_history(cluster.run.history)
            run_id = cluster.run.run_id
        [retry] = history.events_named("cluster_retry")
        assert retry.attrs == {"attempt": 1, "port_taken_by": ["placement"]}
        assert tagged_processes([run_id]) == []
    finally:
        thief.close()


def test_a_port_taken_every_time_is_one_clear_error(runtime: DaprRuntime, tmp_path: Path) -> None:
    thief = PortThief()
    try:
        make = _factory(runtime, tmp_path, lambda attempt: True, thief)
        with pytest.raises(PortTaken, match=r"^a reserved port was taken by another program "
                           r"before placement could bind it, 3 times with fresh ports; see"):
            with started_cluster(make):
                pass
        assert len(thief.sockets) == 3
    finally:
        thief.close()
