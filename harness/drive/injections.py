"""What each fault kind does: one entry per kind of the catalog (harness/scenario/faults.py).

An entry takes the cluster and the fault (its target resolved: a ``follow`` fault's replica is
known by then) and returns its ``Steps``: what to do when the fault starts, and what undoes it
(None: nothing, e.g. a replica added stays). Each entry's docstring says both. A fault without
a duration is undone right after it starts (a kill followed by a restart). The registry covers
exactly the catalog's kinds (checked at import).

Network faults act through the cluster's proxies (``cluster.proxies``: a disabled proxy is a
partition, a toxic a bad link) and its kernel table of member cuts (``cluster.table``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from harness.cluster.controlplane import Cluster
from harness.cluster.netcut import KernelTable, pairs_between
from harness.cluster.process import stop_all
from harness.cluster.replicas import Replica
from harness.cluster.services import DaprService
from harness.cluster.toxiproxy import STREAMS, LinkProxies, Proxy
from harness.scenario.faults import FAULTS
from harness.scenario.mechanisms import mechanisms_where
from harness.scenario.model import FaultSpec

__all__ = ["FAILING_STATUS", "INJECTIONS", "SLOW_DELAY_MS", "Steps", "describe", "steps_for"]

SLOW_DELAY_MS = 5_000
FAILING_STATUS = 500
# Triggers whose answer the HTTP app's rules steer (app_failing / app_slow); the workflow
# activity and the gRPC app's job-sdk handler are not steered by these faults.
_HTTP_APP_MECHANISMS = sorted(mechanisms_where(over_http=True))


@dataclass(frozen=True)
class Steps:
    begin: Callable[[], None]
    end: Callable[[], None] | None = None


Injection = Callable[[Cluster, FaultSpec], Steps]
INJECTIONS: dict[str, Injection] = {}


def _kind(*kinds: str) -> Callable[[Injection], Injection]:
    def register(injection: Injection) -> Injection:
        for kind in kinds:
            if kind in INJECTIONS:
                raise ValueError(f"two injections for {kind}")
            INJECTIONS[kind] = injection
        return injection
    return register


def steps_for(cluster: Cluster, fault: FaultSpec) -> Steps:
    return INJECTIONS[fault.kind](cluster, fault)


def describe(kind: str) -> str:
    """What a kind does when it starts and when it ends (its entry's docstring)."""
    return " ".join((INJECTIONS[kind].__doc__ or "").split())


# --- replicas ---------------------------------------------------------------------------------


def _replica(cluster: Cluster, fault: FaultSpec) -> Replica:
    return cluster.replica(fault.replica or 0)


def _restarted(start: Callable[[], None], replica: Replica) -> Callable[[], None]:
    def restart() -> None:
        start()
        replica.wait_ready()
    return restart


@_kind("kill_daprd")
def _kill_daprd(cluster: Cluster, fault: FaultSpec) -> Steps:
    """Begins: SIGKILL the replica's daprd. Ends: restart it and wait until it is healthy."""
    replica = _replica(cluster, fault)
    return Steps(replica.daprd.kill, _restarted(replica.daprd.start, replica))


@_kind("kill_app")
def _kill_app(cluster: Cluster, fault: FaultSpec) -> Steps:
    """Begins: SIGKILL the replica's app. Ends: restart it and wait until it is healthy."""
    replica = _replica(cluster, fault)
    return Steps(replica.app.kill, _restarted(replica.app.start, replica))


@_kind("app_down")
def _app_down(cluster: Cluster, fault: FaultSpec) -> Steps:
    """Begins: stop the app gracefully (its daprd stays up). Ends: restart the app."""
    replica = _replica(cluster, fault)
    return Steps(replica.app.stop, _restarted(replica.app.start, replica))


@_kind("pause_replica")
def _pause_replica(cluster: Cluster, fault: FaultSpec) -> Steps:
    """Begins: SIGSTOP the app and its daprd. Ends: SIGCONT both, wait until healthy."""
    replica = _replica(cluster, fault)

    def pause() -> None:
        for process in replica.workers:
            process.pause()

    def resume() -> None:
        for process in replica.workers:
            process.resume()
        replica.wait_ready()

    return Steps(pause, resume)


def _set_handlers(replica: Replica, rules: list[dict[str, object]]) -> None:
    response = httpx.put(f"http://127.0.0.1:{replica.app_port}/_harness/handlers", json=rules,
                         headers=replica.app_headers, timeout=5.0)
    response.raise_for_status()


@_kind("app_failing", "app_slow")
def _app_answers(cluster: Cluster, fault: FaultSpec) -> Steps:
    """Begins: the app answers every trigger with 500 (app_failing) or after 5 s (app_slow).
    Ends: the scenario's handlers again."""
    replica = _replica(cluster, fault)
    rule: dict[str, object] = {"mechanism": "job", "name": "*"}
    rule |= {"status": FAILING_STATUS} if fault.kind == "app_failing" else {"delay_ms": SLOW_DELAY_MS}
    rules = [{**rule, "mechanism": m} for m in _HTTP_APP_MECHANISMS]
    return Steps(lambda: _set_handlers(replica, rules),
                 lambda: _set_handlers(replica, list(cluster.app_handlers)))


@_kind("scale_out")
def _scale_out(cluster: Cluster, fault: FaultSpec) -> Steps:
    """Begins: add a replica (the next free index). Ends: nothing, the replica stays."""
    return Steps(lambda: cluster.add_replica() and None)


@_kind("scale_in")
def _scale_in(cluster: Cluster, fault: FaultSpec) -> Steps:
    """Begins: stop the replica. Ends: nothing, it stays gone."""
    replica = _replica(cluster, fault)
    return Steps(lambda: cluster.remove_replica(replica.index))


@_kind("rolling_update_app")
def _rolling_update_app(cluster: Cluster, fault: FaultSpec) -> Steps:
    """Begins: a Deployment rollout with maxSurge 1 and maxUnavailable 0: for each HTTP replica
    running when it starts, a new replica is started and waited for (healthy), then the old
    one is stopped gracefully. Ends: nothing, the new replicas stay."""
    def roll() -> None:
        for old in [r for r in cluster.replicas if r.group.protocol == "http"]:
            cluster.add_replica()
            cluster.remove_replica(old.index)
    return Steps(roll)


# --- the Scheduler and Redis ------------------------------------------------------------------


def _member(cluster: Cluster, fault: FaultSpec) -> DaprService:
    return cluster.schedulers[fault.member or 0]


@_kind("kill_scheduler")
def _kill_scheduler(cluster: Cluster, fault: FaultSpec) -> Steps:
    """Begins: SIGKILL a Scheduler member. Ends: restart it on the same data dir and ports."""
    member = _member(cluster, fault)
    return Steps(member.process.kill, member.restart)


@_kind("stop_scheduler")
def _stop_scheduler(cluster: Cluster, fault: FaultSpec) -> Steps:
    """Begins: stop a Scheduler member gracefully (SIGINT). Ends: restart it."""
    member = _member(cluster, fault)
    return Steps(member.process.stop, member.restart)


@_kind("lose_majority")
def _lose_majority(cluster: Cluster, fault: FaultSpec) -> Steps:
    """Begins: stop a majority of the Scheduler members gracefully, the last ones (2 of 3:
    members 1 and 2), so the one left has no quorum. Ends: start them again, then wait until
    each is healthy."""
    lost = cluster.schedulers[len(cluster.schedulers) // 2:]

    def restore() -> None:
        for member in lost:
            member.start()
        for member in lost:
            member.wait_ready()

    return Steps(lambda: stop_all([m.process for m in lost]), restore)


@_kind("rolling_restart_scheduler")
def _rolling_restart_scheduler(cluster: Cluster, fault: FaultSpec) -> Steps:
    """Begins: a StatefulSet rollout: each Scheduler member in turn, last first, is stopped
    gracefully, started again on its data dir and ports, and waited for until healthy before
    the next (``member_restarted`` events, attr ``seconds``). Ends: nothing more."""
    def roll() -> None:
        for index in reversed(range(len(cluster.schedulers))):
            started = time.monotonic()
            cluster.schedulers[index].restart()
            cluster.history.event("member_restarted", member=index,
                                  seconds=round(time.monotonic() - started, 3))
    return Steps(roll)


@_kind("restart_redis")
def _restart_redis(cluster: Cluster, fault: FaultSpec) -> Steps:
    """Begins: SIGKILL the run's Redis. Ends: start it again on its port and data dir."""
    redis = cluster.redis
    if redis is None:
        raise ValueError("restart_redis in a run without Redis")
    return Steps(redis.process.kill, redis.restart)


# --- the network ------------------------------------------------------------------------------


def _proxies(cluster: Cluster) -> LinkProxies:
    if cluster.proxies.process is None:
        raise ValueError("no proxies in this run (its faults named no proxied link)")
    return cluster.proxies


def _cuts(cluster: Cluster) -> KernelTable:
    if cluster.table is None:
        raise ValueError("no kernel table in this run (no member-cutting fault in its options)")
    return cluster.table


def _disabled(proxies: LinkProxies, chosen: Sequence[Proxy]) -> Steps:
    if not chosen:
        raise ValueError("no proxied link matches the fault")
    return Steps(lambda: proxies.set_enabled(chosen, False),
                 lambda: proxies.set_enabled(chosen, True))


@_kind("partition_replica")
def _partition_replica(cluster: Cluster, fault: FaultSpec) -> Steps:
    """Begins: the replica's daprd cut from every Scheduler member: its proxies to them
    disabled (open streams closed, new connections refused); its app, placement and Redis
    links stay. Ends: the proxies enabled again (daprd reconnects by itself)."""
    proxies = _proxies(cluster)
    return _disabled(proxies, proxies.select("scheduler", [f"replica-{fault.replica or 0}"]))


@_kind("partition_member")
def _partition_member(cluster: Cluster, fault: FaultSpec) -> Steps:
    """Begins: the member cut from every other member in the kernel (nftables drops what
    each sends the other), a minority; every daprd still reaches all members. Ends: the cut
    removed."""
    cuts = _cuts(cluster)
    member = fault.member or 0
    others = [m for m in range(len(cluster.schedulers)) if m != member]
    pairs = pairs_between([[member], others])
    return Steps(lambda: cuts.cut(pairs), lambda: cuts.heal(pairs))


def _side_of(sides: Sequence[Sequence[str]]) -> dict[str, int]:
    return {node: i for i, side in enumerate(sides) for node in side}


@_kind("partition")
def _partition(cluster: Cluster, fault: FaultSpec) -> Steps:
    """Begins: every link between nodes on different sides cut: member to member in the
    kernel, daprd to member by disabling its proxy (one_way: only what the first side sends
    the second, by nftables one way and a Toxiproxy ``timeout`` toxic (0: data dropped) on
    that stream of the proxy). Nodes on no side keep every link. Ends: every cut undone."""
    assert fault.sides is not None
    side = _side_of(fault.sides)
    member_sides = [[int(n.split("-")[1]) for n in s if n.startswith("scheduler-")]
                    for s in fault.sides]
    pairs = pairs_between(member_sides, fault.one_way)
    crossing = [p for p in cluster.proxies.select("scheduler")
                if p.client in side and p.peer in side and side[p.client] != side[p.peer]]
    if fault.one_way:  # the replica sends on upstream, the member on downstream
        crossing = [p for p in crossing if (side[p.client], side[p.peer]) in {(0, 1), (1, 0)}]
    cuts = _cuts(cluster) if pairs else None
    proxies = _proxies(cluster) if crossing else None
    name = f"partition-{int(fault.at_s * 1000)}"

    def begin() -> None:
        if cuts is not None:
            cuts.cut(pairs)
        if proxies is None:
            return
        if not fault.one_way:
            proxies.set_enabled(crossing, False)
        for proxy in crossing if fault.one_way else []:
            stream = "upstream" if side[proxy.client] == 0 else "downstream"
            proxies.add_toxic([proxy], name, "timeout", {"timeout": 0}, [stream])

    def end() -> None:
        if cuts is not None:
            cuts.heal(pairs)
        if proxies is None:
            return
        if not fault.one_way:
            proxies.set_enabled(crossing, True)
        for proxy in crossing if fault.one_way else []:
            stream = "upstream" if side[proxy.client] == 0 else "downstream"
            proxies.remove_toxic([proxy], name, [stream])

    return Steps(begin, end)


def _link_proxies(cluster: Cluster, fault: FaultSpec) -> tuple[LinkProxies, list[Proxy]]:
    """The proxies a link fault acts on: its link, from its replica (all when none), to its
    member (all when none; Scheduler links only)."""
    proxies = _proxies(cluster)
    clients = None if fault.replica is None else [f"replica-{fault.replica}"]
    peers = None if fault.member is None else [f"scheduler-{fault.member}"]
    chosen = proxies.select(fault.link or "scheduler", clients, peers)
    if not chosen:
        raise ValueError(f"no proxied {fault.link or 'scheduler'} link matches the fault")
    return proxies, chosen


def _toxic(cluster: Cluster, fault: FaultSpec, kind: str, attributes: dict[str, int]) -> Steps:
    proxies, chosen = _link_proxies(cluster, fault)
    name = f"{fault.kind}-{int(fault.at_s * 1000)}"
    return Steps(lambda: proxies.add_toxic(chosen, name, kind, attributes, STREAMS),
                 lambda: proxies.remove_toxic(chosen, name, STREAMS))


@_kind("latency")
def _latency(cluster: Cluster, fault: FaultSpec) -> Steps:
    """Begins: a Toxiproxy ``latency`` toxic (``latency_ms``, +/- ``jitter_ms``) both ways
    on the chosen links (``link``, ``replica``, ``member``; default every daprd's link to every
    member). Ends: the toxic removed."""
    return _toxic(cluster, fault, "latency",
                  {"latency": fault.latency_ms or 0, "jitter": fault.jitter_ms or 0})


@_kind("reset_peer")
def _reset_peer(cluster: Cluster, fault: FaultSpec) -> Steps:
    """Begins: a Toxiproxy ``reset_peer`` toxic (timeout 0) on the chosen links: every
    connection, open or new, is reset (TCP RST) at once, for as long as the fault lasts.
    Ends: the toxic removed."""
    return _toxic(cluster, fault, "reset_peer", {"timeout": 0})


@_kind("blackhole")
def _blackhole(cluster: Cluster, fault: FaultSpec) -> Steps:
    """Begins: a Toxiproxy ``timeout`` toxic with timeout 0 both ways on the chosen links: the
    proxy accepts and holds every connection and passes nothing, never closing it (a
    blackhole: no error, no answer). Ends: the toxic removed; data flows again."""
    return _toxic(cluster, fault, "timeout", {"timeout": 0})


@_kind("bandwidth")
def _bandwidth(cluster: Cluster, fault: FaultSpec) -> Steps:
    """Begins: a Toxiproxy ``bandwidth`` toxic (``rate_kb_s`` KB/s) both ways on the chosen
    links. Ends: the toxic removed."""
    return _toxic(cluster, fault, "bandwidth", {"rate": fault.rate_kb_s or 1})


assert set(INJECTIONS) == set(FAULTS), (
    f"injections and the fault catalog disagree: {sorted(set(INJECTIONS) ^ set(FAULTS))}")
