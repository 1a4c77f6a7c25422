"""The fault catalog: each kind the nemesis can inject, declared once, as data.

Read by the scenario validator (targets, durations, which fields a kind takes), the cluster
(which network tools a run needs), the nemesis (harness/drive/injections.py holds what each kind
does, one entry per kind here) and the checkers (which faults take a replica down, so a cron
binding may lose its ticks there).

Network faults act on *links*: each daprd's connection to each Scheduler member, to its app, to
placement and to Redis goes through a Toxiproxy proxy of its own in a run that has such a
fault (``tools`` says which kinds need which tool). Scheduler member to member (etcd peers,
which must all see the same peer URLs) is cut in the kernel with nftables. Nodes of a
``partition`` are named ``replica-N`` and ``scheduler-N``; replica-to-replica links (actor
calls between sidecars) are never cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

__all__ = ["FAULTS", "LINKS", "NETWORK_TOOLS", "PARAMS", "FaultKind", "FaultKindSpec", "Link",
           "fault_kinds", "kinds_with_param", "links_used", "tools_used"]

FaultKind = Literal[
    "kill_daprd", "kill_app", "pause_replica", "kill_scheduler", "stop_scheduler",
    "app_failing", "app_slow", "app_down", "scale_out", "scale_in", "restart_redis",
    "partition_replica", "partition_member", "partition", "lose_majority",
    "latency", "reset_peer", "blackhole", "bandwidth",
    "rolling_restart_scheduler", "rolling_update_app",
]
# The links of a daprd that a proxy can stand in: each has a per-client address.
Link = Literal["scheduler", "app", "placement", "redis"]
LINKS: tuple[str, ...] = get_args(Link)
NetworkTool = Literal["toxiproxy", "nftables"]
NETWORK_TOOLS: tuple[str, ...] = get_args(NetworkTool)
# The optional fields of a fault beyond kind, at_s and duration_s; each kind takes some.
PARAMS = ("replica", "member", "follow", "link", "latency_ms", "jitter_ms", "rate_kb_s",
          "sides", "one_way")

_REPLICA = frozenset({"replica", "follow"})
_LINK = frozenset({"link", "replica", "member"})
_NONE: frozenset[str] = frozenset()
_PROXY = frozenset({"toxiproxy"})


@dataclass(frozen=True)
class FaultKindSpec:
    target: Literal["replica", "scheduler", "cluster", "redis", "link"]
    needs_duration: bool  # no duration: undone at once (a kill is followed by a restart)
    takes_replica_down: bool  # the replica's sidecar or app cannot take triggers meanwhile
    params: frozenset[str] = _NONE  # which of PARAMS it takes
    required: frozenset[str] = _NONE  # which of those it cannot do without
    tools: frozenset[str] = _NONE  # network tools a run with this fault starts
    min_schedulers: int = 1  # Scheduler members it needs


FAULTS: dict[str, FaultKindSpec] = {
    "kill_daprd": FaultKindSpec("replica", False, True, _REPLICA),
    "kill_app": FaultKindSpec("replica", False, True, _REPLICA),
    "app_down": FaultKindSpec("replica", True, True, _REPLICA),
    "pause_replica": FaultKindSpec("replica", True, True, _REPLICA),
    "kill_scheduler": FaultKindSpec("scheduler", False, False, frozenset({"member"})),
    "stop_scheduler": FaultKindSpec("scheduler", True, False, frozenset({"member"})),
    "app_failing": FaultKindSpec("replica", True, True, _REPLICA),
    "app_slow": FaultKindSpec("replica", True, True, _REPLICA),
    "scale_out": FaultKindSpec("cluster", False, False),
    "scale_in": FaultKindSpec("replica", False, True, _REPLICA),
    "restart_redis": FaultKindSpec("redis", False, False),
    # The replica's daprd cut from every Scheduler member; its app and bindings go on.
    "partition_replica": FaultKindSpec("replica", True, False, _REPLICA, tools=_PROXY),
    # One member cut from the other members (a minority); every daprd still reaches it.
    "partition_member": FaultKindSpec("scheduler", True, False, frozenset({"member"}),
                                      tools=frozenset({"nftables"}), min_schedulers=2),
    # Any split of replicas and members into sides (a 2/1 split, one-way cuts).
    "partition": FaultKindSpec("cluster", True, False, frozenset({"sides", "one_way"}),
                               frozenset({"sides"}), frozenset(NETWORK_TOOLS)),
    "lose_majority": FaultKindSpec("cluster", True, False, min_schedulers=3),
    "latency": FaultKindSpec("link", True, False, _LINK | {"latency_ms", "jitter_ms"},
                             frozenset({"latency_ms"}), _PROXY),
    "reset_peer": FaultKindSpec("link", True, False, _LINK, tools=_PROXY),
    "blackhole": FaultKindSpec("link", True, False, _LINK, tools=_PROXY),
    "bandwidth": FaultKindSpec("link", True, False, _LINK | {"rate_kb_s"},
                               frozenset({"rate_kb_s"}), _PROXY),
    "rolling_restart_scheduler": FaultKindSpec("cluster", False, False),
    "rolling_update_app": FaultKindSpec("cluster", False, True),
}

assert set(FAULTS) == set(get_args(FaultKind)), "the catalog and the FaultKind type disagree"
assert all(spec.params <= set(PARAMS) and spec.required <= spec.params
           and spec.tools <= set(NETWORK_TOOLS) for spec in FAULTS.values())


def fault_kinds(target: str | None = None) -> frozenset[str]:
    """Kinds aimed at ``target`` (all kinds when None)."""
    return frozenset(k for k, spec in FAULTS.items() if target is None or spec.target == target)


def kinds_with_param(param: str) -> frozenset[str]:
    return frozenset(k for k, spec in FAULTS.items() if param in spec.params)


def tools_used(kinds: list[str]) -> frozenset[str]:
    """The network tools a run with faults of these kinds needs (none: no proxy, no table)."""
    return frozenset(tool for kind in kinds for tool in FAULTS[kind].tools)


def links_used(faults: list[tuple[str, str | None]]) -> frozenset[str]:
    """The links a run's faults act on, from (kind, link) pairs: those go through proxies.
    A link fault without ``link`` acts on the Scheduler links, as does every partition."""
    return frozenset(link or "scheduler" for kind, link in faults if "toxiproxy" in FAULTS[kind].tools)
