"""The nemesis: faults from a scenario on the run's timeline, each kind carried out by its
entry in harness/drive/injections.py (which says what it does when it starts and ends).

Each fault writes ``fault_start`` and ``fault_end`` events to the history (attrs ``fault``,
``target`` and, where they apply, ``replica``, ``member``, ``link`` or ``sides``), so the checker
and the plots can relate triggers to it. ``fault_end`` is written once the harness has undone
the fault (e.g. a killed daprd restarted and healthy again). After that a watch records
``fault_recovered`` (attr ``seconds`` since ``fault_end``) when every running scheduler member
counts every replica's sidecar as connected again, which is when Dapr can deliver jobs again; a
fault that cannot be carried out writes ``fault_error`` and fails the run.

``replica`` picks the replica, ``member`` the scheduler member (default 0; a link fault without
them acts on every replica's or member's links); ``follow: reminder`` picks, when the fault
starts, the replica that received the latest reminder, i.e. the actor's host.

Under the ``dapr-run`` launcher the faults hit the daprd and app that `dapr run` started, and the
CLI reacts as it does for a user: when its daprd or its app exits it ends the other one and
exits. A restart ends what is left of that `dapr run` and starts a new one (both processes
start again).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from harness.cluster.controlplane import Cluster
from harness.drive.injections import steps_for
from harness.record.history import load_history
from harness.scenario.faults import FAULTS
from harness.scenario.model import FaultSpec

__all__ = ["FaultAction", "Nemesis", "fault_actions"]

RECOVERY_TIMEOUT_S = 90.0
RECOVERY_POLL_S = 0.2


@dataclass(frozen=True)
class FaultAction:
    at_s: float
    label: str
    act: Callable[[], None]


def _resolve_follow(cluster: Cluster, fault: FaultSpec) -> FaultSpec:
    """A ``follow`` fault hits the replica that received that mechanism's latest trigger."""
    if fault.follow is None:
        return fault
    latest = [t for t in load_history(cluster.run.history).triggers
              if t.mechanism == fault.follow]
    if not latest:
        raise ValueError(f"{fault.kind}: no {fault.follow} trigger yet to follow")
    return fault.model_copy(update={"replica": max(latest, key=lambda t: t.wall).replica})


def _target(cluster: Cluster, fault: FaultSpec) -> tuple[str, dict[str, object]]:
    """The fault's target as a label and as event attrs (decided when the fault starts)."""
    target = FAULTS[fault.kind].target
    if target == "redis":
        return "redis", {}
    if target == "scheduler":
        member = fault.member or 0
        label = "scheduler" if len(cluster.schedulers) == 1 else f"scheduler-{member}"
        return label, {"member": member}
    if target == "link":
        link = fault.link or "scheduler"
        client = "every replica" if fault.replica is None else f"replica-{fault.replica}"
        peer = link if link != "scheduler" else (
            "every member" if fault.member is None else f"scheduler-{fault.member}")
        where = {k: v for k, v in (("replica", fault.replica), ("member", fault.member))
                 if v is not None}
        return f"{client} to {peer}", {"link": link, **where}
    if fault.kind == "partition":
        sides = [list(side) for side in fault.sides or ()]
        cut = " -> " if fault.one_way else " | "
        return cut.join(",".join(side) for side in sides), {"sides": sides,
                                                            "one_way": fault.one_way}
    if target == "cluster" and fault.kind != "scale_out":
        return ("replicas" if fault.kind == "rolling_update_app" else "schedulers"), {}
    index = len(cluster.all_replicas) if fault.kind == "scale_out" else (fault.replica or 0)
    return f"replica-{index}", {"replica": index}


class _RecoveryWatch:
    """After a fault ends: how long until the schedulers count every sidecar connected again."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pending: dict[int, dict[str, object]] = {}
        self._lock = threading.Lock()

    def watch(self, attrs: dict[str, object], ended_mono: float) -> None:
        ident = len(self._threads)
        with self._lock:
            self._pending[ident] = attrs
        thread = threading.Thread(target=self._run, args=(ident, attrs, ended_mono),
                                  name=f"recovery-{ident}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _connected(self) -> bool:
        try:
            return self.cluster.sidecars_connected(len(self.cluster.replicas))
        except (httpx.HTTPError, ValueError):  # a member still starting has no metrics yet
            return False

    def _run(self, ident: int, attrs: dict[str, object], ended_mono: float) -> None:
        deadline = ended_mono + RECOVERY_TIMEOUT_S
        while not self._stop.is_set() and time.monotonic() < deadline:
            if self._connected():
                with self._lock:
                    if self._pending.pop(ident, None) is None:
                        return
                    self.cluster.history.event(
                        "fault_recovered", **attrs,
                        seconds=round(time.monotonic() - ended_mono, 3))
                return
            self._stop.wait(RECOVERY_POLL_S)

    def close(self) -> None:
        """Stop watching; faults not recovered by now get a ``fault_unrecovered`` event."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5.0)
        with self._lock:
            for attrs in self._pending.values():
                self.cluster.history.event("fault_unrecovered", **attrs)
            self._pending.clear()


class Nemesis:
    """The faults of one scenario: timed actions, a recovery watch, and what went wrong."""

    def __init__(self, cluster: Cluster, faults: Sequence[FaultSpec]) -> None:
        self.cluster = cluster
        self.faults = list(faults)
        self.errors: list[str] = []
        self._watch = _RecoveryWatch(cluster)

    def actions(self) -> list[FaultAction]:
        return [a for f in self.faults
                for a in fault_actions(self.cluster, f, watch=self._watch, errors=self.errors)]

    def close(self) -> None:
        self._watch.close()


def fault_actions(cluster: Cluster, fault: FaultSpec, *, watch: _RecoveryWatch | None = None,
                  errors: list[str] | None = None) -> list[FaultAction]:
    """The timed actions of one fault. A fault without a duration ends right after it starts
    (e.g. a kill followed by a restart), so its end is recorded too."""
    history = cluster.history
    attrs: dict[str, object] = {}
    # Resolved when the fault starts: a `follow` fault's replica is known only then.
    steps: dict[str, Callable[[], None] | None] = {}

    def guarded(step: str, act: Callable[[], None] | None) -> bool:
        try:
            if act is not None:
                act()
            return True
        except Exception as exc:  # recorded, and the run fails with it
            message = f"{fault.kind} {attrs.get('target')}: {step} failed: {exc}"
            history.event("fault_error", **attrs, step=step, error=str(exc)[:500])
            if errors is None:
                raise
            errors.append(message)
            return False

    def prepare() -> None:
        resolved = _resolve_follow(cluster, fault)
        label, where = _target(cluster, resolved)
        attrs.update(target=label, **where)
        chosen = steps_for(cluster, resolved)
        steps["begin"], steps["end"] = chosen.begin, chosen.end

    def start() -> None:
        attrs.update(fault=fault.kind, target=f"follow {fault.follow}" if fault.follow else None)
        if not guarded("target", prepare):
            return  # nothing to hit: the fault_error event and the run's error say why
        history.event("fault_start", **attrs)
        guarded("start", steps["begin"])
        if fault.duration_s is None:
            finish()

    def finish() -> None:
        if "begin" not in steps:
            return  # the fault never started
        guarded("end", steps["end"])
        history.event("fault_end", **attrs)
        if watch is not None:
            watch.watch(dict(attrs), time.monotonic())

    actions = [FaultAction(fault.at_s, f"{fault.kind} start", start)]
    if fault.duration_s is not None:
        actions.append(FaultAction(fault.at_s + fault.duration_s, f"{fault.kind} end", finish))
    return actions
