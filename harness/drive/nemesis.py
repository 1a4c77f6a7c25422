"""The nemesis: faults from a scenario, carried out with the control plane's primitives.

Each fault writes ``fault_start`` and ``fault_end`` events to the history (attrs ``fault``,
``target`` and, where they apply, ``replica`` or ``member``), so the checker and the plots can
relate triggers to it. ``fault_end`` is written once the harness has undone the fault (e.g. a
killed daprd restarted and healthy again). After that a watch records ``fault_recovered``
(attr ``seconds`` since ``fault_end``) when every running scheduler member counts every
replica's sidecar as connected again, which is when Dapr can deliver jobs again; a fault that
cannot be carried out writes ``fault_error`` and fails the run.

Kinds (``replica`` picks the replica, ``member`` the scheduler member; default 0; ``follow:
reminder`` picks, when the fault starts, the replica that received the latest reminder, i.e.
the actor's host):

- ``kill_daprd``: SIGKILL the replica's daprd; restart it after ``duration_s`` (at once if none).
- ``kill_app``: SIGKILL the replica's app; restart it after ``duration_s`` (at once if none).
- ``app_down``: stop the app gracefully, its daprd stays up; restart it after ``duration_s``.
- ``pause_replica``: SIGSTOP the app and daprd; SIGCONT after ``duration_s``.
- ``kill_scheduler``: SIGKILL a scheduler member; restart it on the same data dir and ports after
  ``duration_s`` (at once if none).
- ``stop_scheduler``: stop a scheduler member gracefully (SIGINT); restart it after ``duration_s``.
- ``app_failing`` / ``app_slow``: the app answers every trigger with 500 / after 5 s, for
  ``duration_s``.
- ``scale_out``: add a replica (its index is the next free one). ``scale_in``: stop one.
- ``restart_redis``: SIGKILL the run's Redis; start it again on its port and data dir (its
  append-only file) after ``duration_s`` (at once if none).

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
from harness.cluster.replicas import Replica
from harness.scenario.faults import FAULTS
from harness.scenario.mechanisms import mechanisms_where
from harness.record.history import load_history
from harness.scenario.model import FaultSpec

__all__ = ["FaultAction", "Nemesis", "fault_actions"]

SLOW_DELAY_MS = 5_000
FAILING_STATUS = 500
RECOVERY_TIMEOUT_S = 90.0
RECOVERY_POLL_S = 0.2
# Triggers whose answer the HTTP app's rules steer (app_failing / app_slow); the workflow
# activity and the gRPC app's job-sdk handler are not steered by these faults.
_HTTP_APP_MECHANISMS = sorted(mechanisms_where(over_http=True))


@dataclass(frozen=True)
class FaultAction:
    at_s: float
    label: str
    act: Callable[[], None]


def _set_handlers(replica: Replica, rules: list[dict[str, object]]) -> None:
    response = httpx.put(f"http://127.0.0.1:{replica.app_port}/_harness/handlers", json=rules,
                         headers=replica.app_headers, timeout=5.0)
    response.raise_for_status()


def _restart_app(replica: Replica) -> None:
    replica.app.start()
    replica.wait_ready()


def _restart_daprd(replica: Replica) -> None:
    replica.daprd.start()
    replica.wait_ready()


def _pause(replica: Replica) -> None:
    for process in replica.workers:
        process.pause()


def _resume(replica: Replica) -> None:
    for process in replica.workers:
        process.resume()
    replica.wait_ready()


def _begin_end(cluster: Cluster, fault: FaultSpec) -> tuple[Callable[[], None], Callable[[], None] | None]:
    """What to do when the fault starts and (for faults with a duration) when it ends."""
    target = cluster.replica(fault.replica or 0) if FAULTS[fault.kind].target == "replica" else None
    scheduler = cluster.schedulers[fault.member or 0]
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
            return lambda: _pause(target), lambda: _resume(target)
        case "kill_scheduler":
            return scheduler.process.kill, scheduler.restart
        case "stop_scheduler":
            return scheduler.process.stop, scheduler.restart
        case "app_failing" | "app_slow":
            assert target
            rule: dict[str, object] = {"mechanism": "job", "name": "*"}
            rule |= {"status": FAILING_STATUS} if fault.kind == "app_failing" else {"delay_ms": SLOW_DELAY_MS}
            rules = [{**rule, "mechanism": m} for m in _HTTP_APP_MECHANISMS]
            return (lambda: _set_handlers(target, rules),
                    lambda: _set_handlers(target, list(cluster.app_handlers)))
        case "scale_out":
            return (lambda: cluster.add_replica() and None), None
        case "scale_in":
            assert target
            return lambda: cluster.remove_replica(target.index), None
        case "restart_redis":
            redis = cluster.redis
            if redis is None:
                raise ValueError("restart_redis in a run without Redis")
            return redis.process.kill, redis.restart
    raise ValueError(f"unknown fault kind {fault.kind!r}")


def _resolve_follow(cluster: Cluster, fault: FaultSpec) -> FaultSpec:
    """A ``follow`` fault hits the replica that received that mechanism's latest trigger."""
    if fault.follow is None:
        return fault
    latest = [t for t in load_history(cluster.run.history).triggers
              if t.mechanism == fault.follow]
    if not latest:
        raise ValueError(f"{fault.kind}: no {fault.follow} trigger yet to follow")
    return fault.model_copy(update={"replica": max(latest, key=lambda t: t.wall).replica})


def _target(cluster: Cluster, fault: FaultSpec) -> tuple[str, dict[str, int]]:
    """The fault's target as a label and as event attrs (decided when the fault starts)."""
    if fault.kind == "restart_redis":
        return "redis", {}
    if FAULTS[fault.kind].target == "scheduler":
        member = fault.member or 0
        label = "scheduler" if len(cluster.schedulers) == 1 else f"scheduler-{member}"
        return label, {"member": member}
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
        steps["begin"], steps["end"] = _begin_end(cluster, resolved)

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
