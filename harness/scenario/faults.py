"""The fault catalog: each kind the nemesis can inject, declared once.

Read by the scenario validator (targets, durations), the nemesis (what it does) and the
checkers (which faults take a replica down, so a cron binding may lose its ticks there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["FAULTS", "FaultKind", "FaultKindSpec", "fault_kinds"]

FaultKind = Literal[
    "kill_daprd", "kill_app", "pause_replica", "kill_scheduler", "stop_scheduler",
    "app_failing", "app_slow", "app_down", "scale_out", "scale_in", "restart_redis",
]


@dataclass(frozen=True)
class FaultKindSpec:
    target: Literal["replica", "scheduler", "cluster", "redis"]
    needs_duration: bool  # no duration: undone at once (a kill is followed by a restart)
    takes_replica_down: bool  # the replica's sidecar or app cannot take triggers meanwhile
    begins: str
    ends: str


FAULTS: dict[str, FaultKindSpec] = {
    "kill_daprd": FaultKindSpec("replica", False, True, "SIGKILL the replica's daprd",
                                "restart it and wait until it is healthy"),
    "kill_app": FaultKindSpec("replica", False, True, "SIGKILL the replica's app",
                              "restart it and wait until it is healthy"),
    "app_down": FaultKindSpec("replica", True, True, "stop the app gracefully (daprd stays up)",
                              "restart the app"),
    "pause_replica": FaultKindSpec("replica", True, True, "SIGSTOP the app and its daprd",
                                   "SIGCONT both"),
    "kill_scheduler": FaultKindSpec("scheduler", False, False, "SIGKILL a scheduler member",
                                    "restart it on the same data dir and ports"),
    "stop_scheduler": FaultKindSpec("scheduler", True, False,
                                    "stop a scheduler member gracefully (SIGINT)", "restart it"),
    "app_failing": FaultKindSpec("replica", True, True, "the app answers every trigger with 500",
                                 "the scenario's handlers again"),
    "app_slow": FaultKindSpec("replica", True, True, "the app answers every trigger after 5 s",
                              "the scenario's handlers again"),
    "scale_out": FaultKindSpec("cluster", False, False, "add a replica (the next free index)",
                               "nothing: the replica stays"),
    "scale_in": FaultKindSpec("replica", False, True, "stop the replica", "nothing: it stays gone"),
    "restart_redis": FaultKindSpec("redis", False, False, "SIGKILL the run's Redis",
                                   "start it again on its port and data dir"),
}


def fault_kinds(target: str | None = None) -> frozenset[str]:
    """Kinds aimed at ``target`` (all kinds when None)."""
    return frozenset(k for k, spec in FAULTS.items() if target is None or spec.target == target)
