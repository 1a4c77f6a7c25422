"""The fault catalog: each kind the nemesis can inject, declared once.

Read by the scenario validator (targets, durations), the nemesis (what it does) and the
checkers: which faults take a replica down (a cron binding may lose its ticks there) and which
can *hold* a mechanism's triggers and release them late (``holds``): only those excuse a replay.

What can hold what, from Dapr 1.18.3's source:

- A Scheduler member killed or stopped holds every Scheduler-backed trigger until a member
  owns the job again: go-etcd-cron ``internal/leadership`` waits out the dead member's 20 s
  lease, then missed ticks fire back to back (``internal/counter/counter.go``: the next tick is
  the next *scheduled* time). Tail: the lease plus re-election and reconnects (measured here up
  to about 8 s), 30 s.
- A replica's sidecar or app down (killed, paused, stopped, scaled in) holds the job triggers in
  flight to it: on a broken stream the Scheduler marks them undeliverable and re-sends them
  (``pkg/scheduler/server/internal/pool/loops/stream/stream.go``) once a stream reconnects; a
  sidecar joins only when its app is healthy. Tail: 10 s after it recovered (reconnects measured
  up to about 8 s).
- A slow app holds the next tick of a job until the current one's answer: the counter fires a
  job's next tick only after ``TriggerSuccess``/``TriggerFailed``. Tail: the 5 s answer, plus 1 s.
- A failing app answers at once: its ticks are retried by the failure policy (judged as
  retries), never held. A replica added, or the run's Redis restarted, holds no Scheduler
  trigger (the Scheduler keeps its state in its own etcd).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from harness.scenario.mechanisms import JOB_TRIGGERED, MECHANISMS, SCHEDULER_BACKED

__all__ = ["FAULTS", "HOLDS", "PROMISES", "FaultKind", "FaultKindSpec", "LossScope", "Promise",
           "fault_kinds"]

FaultKind = Literal[
    "kill_daprd", "kill_app", "pause_replica", "kill_scheduler", "stop_scheduler",
    "app_failing", "app_slow", "app_down", "scale_out", "scale_in", "restart_redis",
]

SCHEDULER_HOLD_TAIL_S = 30.0
REPLICA_HOLD_TAIL_S = 10.0
SLOW_APP_HOLD_TAIL_S = 5.0 + 1.0
_NOTHING: frozenset[str] = frozenset()


@dataclass(frozen=True)
class FaultKindSpec:
    target: Literal["replica", "scheduler", "cluster", "redis"]
    needs_duration: bool  # no duration: undone at once (a kill is followed by a restart)
    takes_replica_down: bool  # the replica's sidecar or app cannot take triggers meanwhile
    begins: str
    ends: str
    # Mechanisms whose triggers this fault can hold and release late (a replay), and how long
    # after the fault recovered held triggers may still arrive.
    holds: frozenset[str] = _NOTHING
    hold_tail_s: float = 0.0


_REPLICA_HOLD = {"holds": JOB_TRIGGERED, "hold_tail_s": REPLICA_HOLD_TAIL_S}
_SCHEDULER_HOLD = {"holds": SCHEDULER_BACKED, "hold_tail_s": SCHEDULER_HOLD_TAIL_S}

FAULTS: dict[str, FaultKindSpec] = {
    "kill_daprd": FaultKindSpec("replica", False, True, "SIGKILL the replica's daprd",
                                "restart it and wait until it is healthy", **_REPLICA_HOLD),
    "kill_app": FaultKindSpec("replica", False, True, "SIGKILL the replica's app",
                              "restart it and wait until it is healthy", **_REPLICA_HOLD),
    "app_down": FaultKindSpec("replica", True, True, "stop the app gracefully (daprd stays up)",
                              "restart the app", **_REPLICA_HOLD),
    "pause_replica": FaultKindSpec("replica", True, True, "SIGSTOP the app and its daprd",
                                   "SIGCONT both", **_REPLICA_HOLD),
    "kill_scheduler": FaultKindSpec("scheduler", False, False, "SIGKILL a scheduler member",
                                    "restart it on the same data dir and ports", **_SCHEDULER_HOLD),
    "stop_scheduler": FaultKindSpec("scheduler", True, False,
                                    "stop a scheduler member gracefully (SIGINT)", "restart it",
                                    **_SCHEDULER_HOLD),
    "app_failing": FaultKindSpec("replica", True, True, "the app answers every trigger with 500",
                                 "the scenario's handlers again"),
    "app_slow": FaultKindSpec("replica", True, True, "the app answers every trigger after 5 s",
                              "the scenario's handlers again", holds=JOB_TRIGGERED,
                              hold_tail_s=SLOW_APP_HOLD_TAIL_S),
    "scale_out": FaultKindSpec("cluster", False, False, "add a replica (the next free index)",
                               "nothing: the replica stays"),
    "scale_in": FaultKindSpec("replica", False, True, "stop the replica", "nothing: it stays gone",
                              **_REPLICA_HOLD),
    "restart_redis": FaultKindSpec("redis", False, False, "SIGKILL the run's Redis",
                                   "start it again on its port and data dir"),
}

# Fault kind -> the mechanisms whose triggers it can hold (the table the checker reads).
HOLDS: dict[str, frozenset[str]] = {kind: spec.holds for kind, spec in FAULTS.items()}


def fault_kinds(target: str | None = None) -> frozenset[str]:
    """Kinds aimed at ``target`` (all kinds when None)."""
    return frozenset(k for k, spec in FAULTS.items() if target is None or spec.target == target)


# --- What each mechanism promises under each fault ------------------------------------------

# Where a fault may cost ticks their work: only the faulted replica's own ticks (a cron binding
# fires per sidecar), or any tick due meanwhile (one stream for the app).
LossScope = Literal["replica", "any"]


@dataclass(frozen=True)
class Promise:
    """What a mechanism promises while faults hit it, as its documented behaviour allows.

    Every tick's work is done at least once, except that a tick due while a fault of a kind
    in ``loses`` is on (from its start until ``loss_tail_s`` plus one period after it
    recovered) may lose it, within ``loses[kind]``; a tick given up after every attempt its
    failure policy allows failed is Dapr keeping its documented policy (the app refused), so it
    is reported, never a broken promise; work is never done twice for one tick unless
    ``duplicates``; nothing fires before its time.
    """

    statement: str
    duplicates: bool
    loses: dict[str, LossScope]
    loss_tail_s: float = 0.0

    def under(self, kind: str) -> str:
        """What this promise allows under a fault of ``kind``, in words."""
        allowed = []
        if kind in self.loses:
            allowed.append("ticks lost" + (" on the faulted replica" if self.loses[kind] == "replica"
                                           else ""))
        return ", ".join(allowed) or "no tick lost"


_DOWN = [k for k, spec in FAULTS.items() if spec.takes_replica_down]
_SCHEDULER = [k for k, spec in FAULTS.items() if spec.target == "scheduler"]
_AT_LEAST_ONCE = Promise(
    "at least once, never early: the Scheduler holds due ticks and replays them (duplicates "
    "allowed); a tick is given up only when the app refused every attempt its failure policy "
    "allows, and a failed tick is always retried as the policy says",
    duplicates=True, loses={})
_GATED = Promise(
    "the work of a tick at most once: the gate admits one worker per tick; a tick whose winner "
    "a fault took down, or whose gate call failed while the store was down, loses its work "
    "(no retry)", duplicates=False,
    loses={**dict.fromkeys(_DOWN, "any"), "restart_redis": "any"})

PROMISES: dict[str, Promise] = {
    "job": _AT_LEAST_ONCE,
    "job-sdk": _AT_LEAST_ONCE,
    "reminder": _AT_LEAST_ONCE,
    "binding": Promise(
        "per replica, in memory: each sidecar fires its own ticks with no catch-up, so a tick "
        "is lost only on a replica whose sidecar or app a fault took down; never twice on one "
        "replica", duplicates=False, loses=dict.fromkeys(_DOWN, "replica")),
    "binding-lock": _GATED,
    "binding-claim": _GATED,
    "workflow": Promise(
        "a durable loop without catch-up: never early, an activity at least once (re-run "
        "allowed); iterations a stalled timer, a down host or a down state store skipped stay "
        "skipped, but the loop goes on once the fault is over",
        duplicates=True,
        loses={**dict.fromkeys(_SCHEDULER, "any"), **dict.fromkeys(_DOWN, "any"),
               "restart_redis": "any"},
        loss_tail_s=SCHEDULER_HOLD_TAIL_S),
}

assert set(PROMISES) == set(MECHANISMS), "every mechanism states its promise"
