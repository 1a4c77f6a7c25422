"""The nemesis: faults from a scenario, carried out with the control plane's primitives.

Each fault writes ``fault_start`` and ``fault_end`` events to the history, so the checker and
the plots can relate triggers to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx

from .controlplane import Cluster, Replica
from .scenario import FaultSpec

__all__ = ["FaultAction", "fault_actions"]

SLOW_DELAY_MS = 5_000
FAILING_STATUS = 500


@dataclass(frozen=True)
class FaultAction:
    at_s: float
    label: str
    act: Callable[[], None]


def _set_handlers(replica: Replica, rules: list[dict[str, object]]) -> None:
    httpx.put(f"http://127.0.0.1:{replica.app_port}/_harness/handlers", json=rules, timeout=5.0)


def _restart_app(replica: Replica) -> None:
    replica.app.start()
    replica.wait_ready()


def _restart_daprd(replica: Replica) -> None:
    replica.daprd.start()
    replica.wait_ready()


def _begin_end(cluster: Cluster, fault: FaultSpec) -> tuple[Callable[[], None], Callable[[], None] | None]:
    """What to do when the fault starts and (for faults with a duration) when it ends."""
    target = cluster.replica(fault.replica or 0) if fault.kind not in (
        "kill_scheduler", "stop_scheduler", "scale_out") else None
    scheduler = cluster.scheduler
    match fault.kind:
        case "kill_daprd":
            assert target
            return target.daprd.kill, lambda: _restart_daprd(target)
        case "kill_app":
            assert target
            return target.app.kill, lambda: _restart_app(target)
        case "app_down":
            assert target
            return target.app.stop, lambda: _restart_app(target)
        case "pause_replica":
            assert target
            return (lambda: [p.pause() for p in target.processes],
                    lambda: [p.resume() for p in target.processes])
        case "kill_scheduler":
            return scheduler.process.kill, scheduler.restart
        case "stop_scheduler":
            return scheduler.process.stop, scheduler.restart
        case "app_failing" | "app_slow":
            assert target
            rule: dict[str, object] = {"mechanism": "job", "name": "*"}
            rule |= {"status": FAILING_STATUS} if fault.kind == "app_failing" else {"delay_ms": SLOW_DELAY_MS}
            rules = [rule, {**rule, "mechanism": "binding"}]
            return (lambda: _set_handlers(target, rules),
                    lambda: _set_handlers(target, list(cluster.app_handlers)))
        case "scale_out":
            return (lambda: cluster.add_replica() and None), None
        case "scale_in":
            assert target
            return lambda: cluster.remove_replica(target.index), None
    raise ValueError(f"unknown fault kind {fault.kind!r}")


def fault_actions(cluster: Cluster, fault: FaultSpec) -> list[FaultAction]:
    """The timed actions of one fault. A fault without a duration ends right after it starts
    (e.g. a kill followed by a restart), so its end is recorded too."""
    begin, end = _begin_end(cluster, fault)
    target = f"replica-{fault.replica}" if fault.replica is not None else "scheduler"
    history = cluster.history

    def start() -> None:
        history.event("fault_start", fault=fault.kind, target=target)
        begin()
        if fault.duration_s is None:
            finish()

    def finish() -> None:
        if end is not None:
            end()
        history.event("fault_end", fault=fault.kind, target=target)

    actions = [FaultAction(fault.at_s, f"{fault.kind} start", start)]
    if fault.duration_s is not None:
        actions.append(FaultAction(fault.at_s + fault.duration_s, f"{fault.kind} end", finish))
    return actions
