"""The nemesis and the multi-member scheduler on real Dapr: each fault does what it says, is
undone, and is recorded (fault_start, fault_end, fault_recovered)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from harness.cluster.controlplane import JOB_STREAMS_PER_SIDECAR, Cluster
from harness.record.history import load_history
from harness.drive.nemesis import Nemesis
from harness.record.rundir import RunDir, new_run_dir
from harness.cluster.runtime import DaprRuntime, locate_runtime
from harness.scenario.model import FaultSpec
from harness.cluster.wait import wait_until


@pytest.fixture(scope="module")
def runtime() -> DaprRuntime:
    return locate_runtime()


@pytest.fixture
def run(tmp_path: Path) -> RunDir:
    return new_run_dir("nemesis-test", base=tmp_path)


def carry_out(cluster: Cluster, fault: FaultSpec, between: Any = None) -> Nemesis:
    """Every action of the fault in order (``between`` runs after the start), then the
    recovery watch is given time to see the cluster whole again."""
    nemesis = Nemesis(cluster, [fault])
    actions = nemesis.actions()
    actions[0].act()
    if between is not None:
        between()
    for action in actions[1:]:
        action.act()
    return nemesis


def events(run: RunDir, name: str) -> list[dict[str, Any]]:
    return [e.attrs for e in load_history(run.history).events_named(name)]


def wait_recovered(run: RunDir, timeout_s: float = 30.0) -> dict[str, Any]:
    return wait_until(lambda: events(run, "fault_recovered"), timeout_s=timeout_s,
                      what="a fault_recovered event")[0]


def test_kill_daprd_restarts_the_sidecar_and_it_reconnects(runtime: DaprRuntime, run: RunDir) -> None:
    with Cluster(runtime, run, replicas=2) as cluster:
        replica = cluster.replica(1)
        old_pid = replica.daprd.pid

        def killed() -> None:
            assert not replica.daprd.alive()

        nemesis = carry_out(cluster, FaultSpec(kind="kill_daprd", at_s=0, duration_s=1, replica=1), killed)
        recovered = wait_recovered(run)
        nemesis.close()
        assert replica.daprd.alive() and replica.daprd.pid != old_pid
        assert cluster.sidecar_streams() == 2 * JOB_STREAMS_PER_SIDECAR
    assert events(run, "fault_start") == [{"fault": "kill_daprd", "target": "replica-1",
                                           "replica": 1}]
    assert events(run, "fault_end") == events(run, "fault_start")
    assert recovered["fault"] == "kill_daprd" and recovered["seconds"] >= 0
    assert events(run, "fault_unrecovered") == [] and nemesis.errors == []


def test_pause_stops_both_processes_until_resumed(runtime: DaprRuntime, run: RunDir) -> None:
    with Cluster(runtime, run, replicas=1) as cluster:
        replica = cluster.replica(0)
        fault = FaultSpec(kind="pause_replica", at_s=0, duration_s=1, replica=0)

        def statuses() -> set[str]:
            return {psutil.Process(p.pid).status() for p in replica.processes}

        def paused() -> None:
            # SIGSTOP is delivered asynchronously: wait for the kernel to show it.
            wait_until(lambda: statuses() == {psutil.STATUS_STOPPED}, timeout_s=5,
                       what="both processes stopped")

        carry_out(cluster, fault, paused).close()
        assert psutil.STATUS_STOPPED not in statuses()
        assert httpx.get(f"{replica.dapr_url}/v1.0/healthz").status_code == 204


def test_app_failing_and_app_down_act_on_the_app_only(runtime: DaprRuntime, run: RunDir) -> None:
    with Cluster(runtime, run, replicas=1) as cluster:
        replica = cluster.replica(0)
        job_url = f"http://127.0.0.1:{replica.app_port}/job/probe"

        def failing() -> None:
            assert httpx.post(job_url, json={}).status_code == 500

        carry_out(cluster, FaultSpec(kind="app_failing", at_s=0, duration_s=1, replica=0),
                  failing).close()
        assert httpx.post(job_url, json={}).status_code == 200

        def down() -> None:
            assert not replica.app.alive() and replica.daprd.alive()

        carry_out(cluster, FaultSpec(kind="app_down", at_s=0, duration_s=1, replica=0),
                  down).close()
        assert replica.app.alive()
    assert [e["fault"] for e in events(run, "fault_end")] == ["app_failing", "app_down"]


def test_scale_out_then_in_names_the_new_replica(runtime: DaprRuntime, run: RunDir) -> None:
    with Cluster(runtime, run, replicas=1) as cluster:
        carry_out(cluster, FaultSpec(kind="scale_out", at_s=0)).close()
        assert [r.index for r in cluster.replicas] == [0, 1]
        cluster.wait_sidecars_connected(2)
        carry_out(cluster, FaultSpec(kind="scale_in", at_s=0, replica=1)).close()
        assert [r.index for r in cluster.replicas] == [0]
        cluster.wait_sidecars_connected(1)
    assert [e["target"] for e in events(run, "fault_start")] == ["replica-1", "replica-1"]


def test_stopped_scheduler_restarts_on_its_data_dir_and_sidecars_return(
        runtime: DaprRuntime, run: RunDir) -> None:
    with Cluster(runtime, run, replicas=2) as cluster:
        url = f"{cluster.dapr_url}/v1.0/jobs/kept"
        assert httpx.post(url, json={"schedule": "@every 1h"}).status_code == 204

        def stopped() -> None:
            assert not cluster.scheduler.process.alive()

        nemesis = carry_out(cluster, FaultSpec(kind="stop_scheduler", at_s=0, duration_s=1),
                            stopped)
        recovered = wait_recovered(run)
        nemesis.close()
        assert cluster.sidecars_connected(2)
        assert httpx.get(url).json()["schedule"] == "@every 1h"
    assert recovered["target"] == "scheduler" and recovered["member"] == 0


def test_three_scheduler_members_each_count_every_sidecar(runtime: DaprRuntime, run: RunDir) -> None:
    with Cluster(runtime, run, replicas=2, schedulers=3) as cluster:
        assert len(cluster.schedulers) == 3
        addresses = cluster.scheduler_addresses.split(",")
        assert addresses == [s.address for s in cluster.schedulers] and len(set(addresses)) == 3
        daprd_args = " ".join(cluster.replica(0).daprd.argv)
        assert f"--scheduler-host-address={cluster.scheduler_addresses}" in daprd_args
        initial = [a for a in cluster.schedulers[0].process.argv if "initial-cluster" in a]
        assert initial and initial[0].count("=http://") == 3
        # every daprd opens its streams to every member, so each member counts them all
        assert [cluster.sidecar_streams(i) for i in range(3)] == [2 * JOB_STREAMS_PER_SIDECAR] * 3
        url = f"{cluster.dapr_url}/v1.0/jobs/kept"
        assert httpx.post(url, json={"schedule": "@every 1h"}).status_code == 204

        def member_down() -> None:
            assert not cluster.schedulers[2].process.alive()
            assert cluster.sidecars_connected(2)  # the two running members still count both

        nemesis = carry_out(cluster, FaultSpec(kind="kill_scheduler", at_s=0, duration_s=1, member=2),
                            member_down)
        # the restarted member counts no sidecar until the killed process's lease (20 s) expires
        recovered = wait_recovered(run, timeout_s=60)
        nemesis.close()
        assert cluster.sidecar_streams(2) == 2 * JOB_STREAMS_PER_SIDECAR
        assert httpx.get(url, timeout=30).json()["schedule"] == "@every 1h"
    assert recovered["target"] == "scheduler-2" and recovered["member"] == 2
    assert sorted(p.name for p in run.logs.glob("scheduler-*.log")) == [
        "scheduler-0.log", "scheduler-1.log", "scheduler-2.log"]
