"""The control plane on real Dapr: versions, a smoke run, fault primitives, and no leaks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from harness.cluster.controlplane import JOB_STREAMS_PER_SIDECAR, Cluster
from harness.record.history import load_history
from harness.paths import REPO_ROOT
from harness.cluster.ports import port_is_free
from harness.cluster.process import ManagedProcess
from harness.cluster.reaper import reap, tagged_processes
from harness.record.rundir import RunDir, new_run_dir
from harness.cluster.runtime import DaprRuntime, binary_version, locate_runtime, logged_version
from harness.cluster.versions import DAPR_RUNTIME_VERSION
from harness.cluster.wait import wait_until


@pytest.fixture(scope="module")
def runtime() -> DaprRuntime:
    return locate_runtime()  # fails loudly (DaprMissingError) when Dapr was not set up


@pytest.fixture
def run(tmp_path: Path) -> RunDir:
    return new_run_dir("controlplane-test", base=tmp_path)


def assert_nothing_left(run_id: str, ports: list[int]) -> None:
    assert tagged_processes([run_id]) == []
    held = [port for port in ports if not port_is_free(port)]
    assert held == [], f"ports still held after teardown: {held}"


def test_binaries_report_the_pinned_version(runtime: DaprRuntime, run: RunDir) -> None:
    assert binary_version(runtime.binary("daprd")) == DAPR_RUNTIME_VERSION
    # scheduler and placement have no --version flag: they log their version at start.
    with Cluster(runtime, run, replicas=1):
        pass
    assert logged_version(run.log("scheduler")) == DAPR_RUNTIME_VERSION
    assert logged_version(run.log("placement")) == DAPR_RUNTIME_VERSION


def test_one_time_job_reaches_exactly_one_of_three_replicas(runtime: DaprRuntime, run: RunDir) -> None:
    data = {"action": "cleanup-completed-todos", "retention_days": 30, "nested": {"k": [1, 2]}}
    with Cluster(runtime, run, replicas=3) as cluster:
        sent = time.time()
        response = httpx.post(f"{cluster.dapr_url}/v1.0/jobs/smoke", json={"dueTime": "2s", "data": data})
        assert response.status_code == 204, response.text
        first = wait_until(lambda: load_history(run.history).received("job", "smoke"),
                           timeout_s=15, what="the job's first trigger")[0]
        # Quiet period: the observation that no replica gets the job a second time.
        time.sleep(max(0.0, first.wall + 5.0 - time.time()))
        triggers = load_history(run.history).received("job", "smoke")
    assert len(triggers) == 1, triggers
    assert triggers[0].payload == data
    assert triggers[0].wall >= sent + 2.0, "delivered before its due time"


def test_kill_and_restart_a_replica_sidecar(runtime: DaprRuntime, run: RunDir) -> None:
    with Cluster(runtime, run, replicas=2) as cluster:
        replica = cluster.replica(1)
        replica.daprd.kill()
        assert not replica.daprd.alive()
        cluster.wait_sidecars_connected(1)
        replica.daprd.start()
        replica.wait_ready()
        cluster.wait_sidecars_connected(2)


def test_pause_and_resume_a_replica(runtime: DaprRuntime, run: RunDir) -> None:
    with Cluster(runtime, run, replicas=1) as cluster:
        replica = cluster.replica(0)
        for process in replica.processes:
            process.pause()
        wait_until(lambda: {psutil.Process(p.pid).status() for p in replica.processes}
                   == {psutil.STATUS_STOPPED}, timeout_s=5, what="both processes stopped")
        for process in replica.processes:
            process.resume()
        replica.wait_ready()


def test_scheduler_restart_keeps_jobs_on_its_data_dir(runtime: DaprRuntime, run: RunDir) -> None:
    with Cluster(runtime, run, replicas=1) as cluster:
        url = f"{cluster.dapr_url}/v1.0/jobs/kept"
        assert httpx.post(url, json={"schedule": "@every 1h"}).status_code == 204
        cluster.scheduler.process.kill()
        assert not cluster.scheduler.process.alive()
        cluster.scheduler.restart()
        # A killed scheduler's successor waits out its 20 s leadership lease first.
        cluster.wait_sidecars_connected(1, timeout_s=60)
        got = httpx.get(url)
    assert got.status_code == 200, got.text
    assert got.json()["schedule"] == "@every 1h"


def test_scale_out_and_in(runtime: DaprRuntime, run: RunDir) -> None:
    with Cluster(runtime, run, replicas=1) as cluster:
        added = cluster.add_replica()
        cluster.wait_sidecars_connected(2)
        cluster.remove_replica(added.index)
        cluster.wait_sidecars_connected(1)
        assert not added.daprd.alive() and not added.app.alive()


def test_passing_run_leaves_nothing(runtime: DaprRuntime, run: RunDir) -> None:
    with Cluster(runtime, run, replicas=3) as cluster:
        assert cluster.sidecar_streams() == 3 * JOB_STREAMS_PER_SIDECAR
        ports = cluster.owned_ports()
        assert tagged_processes([run.run_id])
    assert_nothing_left(run.run_id, ports)


def test_failing_run_leaves_nothing(runtime: DaprRuntime, run: RunDir) -> None:
    cluster = Cluster(runtime, run, replicas=2)
    with pytest.raises(RuntimeError, match="scenario failed"):
        with cluster:
            raise RuntimeError("scenario failed on purpose")
    assert_nothing_left(run.run_id, cluster.owned_ports())


def test_scenario_interrupted_with_sigint_leaves_nothing(tmp_path: Path) -> None:
    """Ctrl-C in the middle of `python -m harness run`: everything it started is ended."""
    env = {**os.environ, "DAPR_HARNESS_RUNS": str(tmp_path)}
    child = subprocess.Popen([sys.executable, "-m", "harness", "run", "comparison"], cwd=REPO_ROOT,
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        table_path = wait_until(lambda: next(tmp_path.glob("*/processes.json"), None),
                                timeout_s=60, what="the run's cluster up")
        wait_until(lambda: load_history(table_path.parent / "history.jsonl").first_event("window_start"),
                   timeout_s=30, what="the observation window open")
        table = json.loads(table_path.read_text())
        assert tagged_processes([table["run_id"]])
        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=30) == 130
    finally:
        if child.poll() is None:
            child.kill()
    assert_nothing_left(table["run_id"], table["ports"])


def test_reaper_finds_processes_by_run_tag_and_ends_them(tmp_path: Path) -> None:
    proc = ManagedProcess("tagged", [sys.executable, "-c", "import time; time.sleep(600)"],
                          run_id="crashed-run-test", log_path=tmp_path / "tagged.log")
    proc.start()
    try:
        found = wait_until(lambda: tagged_processes(["crashed-run-test"]), timeout_s=5,
                           what="the tagged process")
        assert [(p.pid, p.owner, p.orphaned) for p in found] == [(proc.pid, os.getpid(), False)]
        reaped = reap(["crashed-run-test"])
        assert [p.pid for p in reaped] == [proc.pid]
        wait_until(lambda: not proc.alive(), timeout_s=10, what="orphan ended")
    finally:
        proc.stop()
