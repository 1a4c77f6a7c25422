"""Each new fault kind on real Dapr really happens, and is undone: one cluster of 2 replicas and
3 Scheduler members (every daprd's Scheduler links through its own proxies, the members under
the run's kernel table), six jobs `@every 1s`, the faults one after another.

What shows each fault happened: a partitioned replica gets no job trigger and its daprd logs
its streams closing; latency shows in the triggers' lateness; a blackholed member stops
getting acks (it logs triggers it never hears back about); reset connections break the streams
over and over; a member cut from the others loses its etcd peers; a split leaves each member
only the streams of its side; a bandwidth cap slows the Jobs API calls; no quorum stops every
trigger; rollouts replace every member process or every replica. After each fault no cut, no
toxic and no disabled proxy is left; after the cluster, no table and no proxy of the run.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.cluster import netcut
from harness.cluster.controlplane import JOB_STREAMS_PER_SIDECAR, Cluster
from harness.cluster.reaper import tagged_processes
from harness.cluster.runtime import locate_runtime
from harness.cluster.triggerlog import parse_trigger_lines
from harness.cluster.wait import wait_until
from harness.drive.nemesis import Nemesis
from harness.record.history import Trigger, load_history
from harness.record.rundir import new_run_dir
from harness.scenario.model import FaultSpec

JOBS = [f"net-{i}" for i in range(6)]
STREAMS = JOB_STREAMS_PER_SIDECAR


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    run = new_run_dir("network-faults", base=tmp_path_factory.mktemp("runs"))
    cluster = Cluster(locate_runtime(), run, replicas=2, schedulers=3, member_cuts=True,
                      trigger_log=True, proxied_links=frozenset({"scheduler"}))
    with cluster:
        for name in JOBS:
            response = httpx.post(f"{cluster.dapr_url}/v1.0/jobs/{name}", timeout=10,
                                  json={"schedule": "@every 1s", "data": {"job": name}})
            assert response.status_code == 204, response.text
        cluster.created = time.time()  # type: ignore[attr-defined]
        wait_until(lambda: len(_jobs(cluster, cluster.created)) >= 12, timeout_s=30,  # type: ignore[attr-defined]
                   what="the jobs triggering")
        yield cluster
    assert tagged_processes([run.run_id]) == []
    assert netcut.run_tables([run.run_id]) == []
    assert [t for t in netcut.marked_tables() if t.run_id == run.run_id] == []


def _jobs(cluster: Cluster, since: float, until: float | None = None,
          replica: int | None = None) -> list[Trigger]:
    return [t for t in load_history(cluster.run.history).triggers if t.mechanism == "job"
            and since < t.wall and (until is None or t.wall < until)
            and (replica is None or t.replica == replica)]


def _log_since(path: Path, offset: int) -> str:
    return path.read_bytes()[offset:].decode(errors="replace")


def _size(path: Path) -> int:
    return path.stat().st_size


def _whole(cluster: Cluster) -> None:
    """The fault left nothing: no cut, no toxic, no disabled proxy; every sidecar connected."""
    assert cluster.table is not None and cluster.table.active == frozenset()
    for name, proxy in cluster.proxies.state().items():
        assert proxy["enabled"] and proxy["toxics"] == [], (name, proxy)
    cluster.wait_sidecars_connected(len(cluster.replicas), timeout_s=60)


def _fault(cluster: Cluster, during: Callable[[float], Any], **spec: Any) -> Any:
    """Start the fault, run ``during(start_wall)``, end it, check the cluster whole again."""
    nemesis = Nemesis(cluster, [FaultSpec(at_s=0, duration_s=30, **spec)])
    start, end = nemesis.actions()
    begun = time.time()
    start.act()
    try:
        seen = during(begun)
    finally:
        end.act()
        nemesis.close()
    assert nemesis.errors == []
    _whole(cluster)
    return seen


def test_a_partitioned_replica_gets_no_job_trigger_and_logs_its_streams_closed(
        cluster: Cluster) -> None:
    daprd = cluster.replica(1).daprd
    offset = _size(daprd.log_path)

    def during(begun: float) -> None:
        settled = begun + 0.5  # a trigger already on the wire may still land
        wait_until(lambda: len(_jobs(cluster, settled, replica=0)) >= 12, timeout_s=20,
                   what="replica 0 taking every job")
        assert _jobs(cluster, settled, replica=1) == []
        assert [cluster.sidecar_streams(m) for m in range(3)] == [STREAMS] * 3  # replica 0's
        assert "Scheduler stream disconnected" in _log_since(daprd.log_path, offset)

    _fault(cluster, during, kind="partition_replica", replica=1)
    ended = time.time()
    wait_until(lambda: _jobs(cluster, ended, replica=1), timeout_s=20,
               what="replica 1 triggered again")


def test_latency_on_the_scheduler_links_shows_in_lateness(cluster: Cluster) -> None:
    """Each job's triggers come on its own 1 s grid; the link's delay shifts them off it."""
    last = {t.name: t.wall for t in _jobs(cluster, time.time() - 3)}  # each job's latest

    def shift(trigger: Trigger) -> float:
        """How far past its own grid a trigger came (-0.5..0.5 s around the grid)."""
        return (trigger.wall - last[trigger.name] + 0.5) % 1.0 - 0.5

    def during(begun: float) -> list[float]:
        settled = begun + 1.5
        wait_until(lambda: len(_jobs(cluster, settled)) >= 12, timeout_s=20,
                   what="triggers through the slow links")
        return [shift(t) for t in _jobs(cluster, settled) if t.name in last]

    shifts = _fault(cluster, during, kind="latency", latency_ms=400, jitter_ms=0)
    assert 0.3 <= statistics.median(shifts) <= 0.5, shifts
    ended = time.time()
    wait_until(lambda: len(_jobs(cluster, ended + 1)) >= 6, timeout_s=20, what="fast triggers")
    assert abs(statistics.median(shift(t) for t in _jobs(cluster, ended + 1))) < 0.1


def _busiest_member(cluster: Cluster, since: float) -> int:
    counts = []
    for scheduler in cluster.schedulers:
        lines = scheduler.process.log_path.read_text(errors="replace").splitlines()
        counts.append(sum(1 for r in parse_trigger_lines(lines, 0) if float(r["wall"]) > since))
    return counts.index(max(counts))


def test_a_blackholed_member_stops_getting_acks(cluster: Cluster) -> None:
    member = _busiest_member(cluster, time.time() - 3)
    log = cluster.schedulers[member].process.log_path

    def unanswered(begun: float) -> list[dict[str, object]]:
        now = time.time()
        records = parse_trigger_lines(log.read_text(errors="replace").splitlines(), member)
        return [r for r in records if begun + 0.5 < float(r["wall"]) < now - 2
                and r["result"] is None]

    def during(begun: float) -> None:
        wait_until(lambda: unanswered(begun), timeout_s=20,
                   what=f"member {member} sending a trigger nobody acks for 2 s")

    _fault(cluster, during, kind="blackhole", member=member)


def test_reset_connections_break_the_streams_over_and_over(cluster: Cluster) -> None:
    daprd = cluster.replica(0).daprd
    offset = _size(daprd.log_path)

    def during(begun: float) -> None:
        wait_until(lambda: _log_since(daprd.log_path, offset).count(
            "Failed to watch scheduler jobs, retrying") >= 3, timeout_s=20,
                   what="replica 0's streams reset again and again")
        assert "Scheduler stream disconnected" in _log_since(daprd.log_path, offset)
        assert _jobs(cluster, begun + 0.5, replica=0) == []

    _fault(cluster, during, kind="reset_peer", replica=0)


def test_a_member_cut_from_the_others_loses_its_etcd_peers(cluster: Cluster) -> None:
    log = cluster.schedulers[2].process.log_path
    offset = _size(log)

    def during(begun: float) -> None:
        # Cut off, its raft node can reach no quorum: it campaigns (pre-vote) again and again.
        wait_until(lambda: "pre-candidate" in _log_since(log, offset), timeout_s=30,
                   what="member 2's etcd campaigning without its peers")
        assert cluster.table is not None and len(cluster.table.active) == 4
        assert [cluster.sidecar_streams(m) for m in range(3)] == [2 * STREAMS] * 3  # daprd: all

    _fault(cluster, during, kind="partition_member", member=2)


def test_a_split_leaves_each_member_only_the_streams_of_its_side(cluster: Cluster) -> None:
    def during(begun: float) -> None:
        wait_until(lambda: [cluster.sidecar_streams(m) for m in range(3)] == [STREAMS] * 3,
                   timeout_s=20, what="each member holding one sidecar's streams")
        assert cluster.table is not None and cluster.table.active == {(0, 2), (1, 2), (2, 0), (2, 1)}

    _fault(cluster, during, kind="partition",
           sides=(("scheduler-0", "scheduler-1", "replica-0"), ("scheduler-2", "replica-1")))


def test_a_bandwidth_cap_slows_the_jobs_api(cluster: Cluster) -> None:
    body = {"dueTime": "1h", "data": {"pad": "x" * 8000}}

    def create(name: str) -> float:
        started = time.monotonic()
        response = httpx.post(f"{cluster.dapr_url}/v1.0/jobs/{name}", json=body, timeout=60)
        assert response.status_code == 204, response.text
        httpx.delete(f"{cluster.dapr_url}/v1.0/jobs/{name}", timeout=60)
        return time.monotonic() - started

    fast = create("pad-before")
    slow = _fault(cluster, lambda begun: create("pad-during"), kind="bandwidth", rate_kb_s=2)
    assert fast < 1.0 and slow >= 2.0, (fast, slow)  # 8 kB at 2 kB/s


def test_without_a_quorum_no_job_is_triggered(cluster: Cluster) -> None:
    log = cluster.schedulers[0].process.log_path
    offset = _size(log)

    def during(begun: float) -> None:
        assert not any(s.process.alive() for s in cluster.schedulers[1:])
        settled = time.time() + 0.5
        # Member 0 campaigns without a quorum; three campaigns take over 2 s (1 s election
        # timeout), in which every job falls due at least once.
        wait_until(lambda: _log_since(log, offset).count("is starting a new election") >= 3,
                   timeout_s=30, what="member 0 campaigning without a quorum")
        assert time.time() - settled > 1.5 and _jobs(cluster, settled) == []

    _fault(cluster, during, kind="lose_majority")
    ended = time.time()
    wait_until(lambda: len({t.name for t in _jobs(cluster, ended)}) == len(JOBS), timeout_s=60,
               what="every job triggered again")


def test_a_rolling_restart_replaces_every_member_in_turn(cluster: Cluster) -> None:
    before = [s.process.pid for s in cluster.schedulers]
    nemesis = Nemesis(cluster, [FaultSpec(kind="rolling_restart_scheduler", at_s=0)])
    (action,) = nemesis.actions()
    action.act()
    nemesis.close()
    assert nemesis.errors == []
    after = [s.process.pid for s in cluster.schedulers]
    assert all(a != b for a, b in zip(before, after, strict=True))
    restarted = [e.attrs["member"] for e in load_history(cluster.run.history)
                 .events_named("member_restarted")]
    assert restarted == [2, 1, 0]
    _whole(cluster)
    ended = time.time()
    wait_until(lambda: len({t.name for t in _jobs(cluster, ended)}) == len(JOBS), timeout_s=60,
               what="every job triggered again")


def test_a_rolling_update_replaces_every_replica_one_at_a_time(cluster: Cluster) -> None:
    old = [r.index for r in cluster.replicas]
    nemesis = Nemesis(cluster, [FaultSpec(kind="rolling_update_app", at_s=0)])
    (action,) = nemesis.actions()
    action.act()
    nemesis.close()
    assert nemesis.errors == []
    new = [r.index for r in cluster.replicas]
    assert len(new) == len(old) and not set(new) & set(old)
    history = load_history(cluster.run.history)
    order = [(e.event, e.attrs["replica"]) for e in history.events
             if e.event in ("replica_ready", "replica_stopped") and e.attrs["replica"] in old + new]
    assert order[-4:] == [("replica_ready", new[0]), ("replica_stopped", old[0]),
                          ("replica_ready", new[1]), ("replica_stopped", old[1])]
    _whole(cluster)
    ended = time.time()
    wait_until(lambda: {t.replica for t in _jobs(cluster, ended)} == set(new), timeout_s=30,
               what="the new replicas triggered")
