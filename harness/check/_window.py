"""The observation window of a run, the faults on it and the clock it is read on.

Order and spacing are read on the monotonic clock: every record carries ``wall`` and ``mono``
(``time.monotonic()``, system-wide on Linux), and their difference is constant unless the wall
clock was stepped (NTP, an operator). When it changed during the run, every record is re-timed
to ``mono`` plus the offset at the window's start, and each step is reported, so that a step
reads as a step, never as a lost tick and a duplicate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from harness.record.history import (
    ApiCallEvent,
    Created,
    FaultEnd,
    FaultEvent,
    FaultRecovered,
    FaultStart,
    History,
    Recorded,
    ReplicaReady,
    ReplicaStopped,
    Trigger,
)
from harness.scenario.faults import FAULTS

__all__ = ["STALL_AFTER_FAULT_S", "ClockStep", "FaultWindow", "Window", "retimed", "window_of"]

# How long after a Scheduler fault ends it may still hold ticks and then replay them (the
# catalog's tail for Scheduler faults; other kinds declare their own).
STALL_AFTER_FAULT_S = FAULTS["kill_scheduler"].hold_tail_s
# A tick due just before a fault began may be in flight when it hits.
STALL_BEFORE_FAULT_S = 1.0
# wall - mono varied by 0.2 ms at most over every recorded history here: more is a clock step.
CLOCK_STEP_S = 0.05
# A run starts its replicas at most a few minutes before its window: no tick model reaches
# further back than this (a record from 1970 must not make a grid or a chain start there).
LOOKBACK_S = 600.0
# A trigger sent just before a replica stopped can still arrive while it shuts down.
STOP_SLACK_S = 0.5


@dataclass(frozen=True)
class ClockStep:
    at: float  # on the monotonic timeline, in the window's wall seconds
    step_s: float  # how far the wall clock jumped (negative: back)


@dataclass(frozen=True)
class FaultWindow:
    kind: str
    target: str
    replica: int | None
    member: int | None
    start: float
    end: float  # when the harness had ended the fault (restart done), or the window's end
    recovered: float | None  # when every sidecar counted as connected again, if seen

    @property
    def recovery_end(self) -> float:
        return self.recovered if self.recovered is not None else self.end

    def holds(self, mechanism: str) -> bool:
        return mechanism in FAULTS[self.kind].holds

    @property
    def hold(self) -> tuple[float, float]:
        """When this fault may hold triggers: from just before it to its tail after recovery."""
        return self.start - STALL_BEFORE_FAULT_S, self.recovery_end + FAULTS[self.kind].hold_tail_s

    def to_dict(self, origin: float) -> dict[str, Any]:
        return {
            "kind": self.kind, "target": self.target, "replica": self.replica,
            "member": self.member, "start_s": round(self.start - origin, 3),
            "end_s": round(self.end - origin, 3), "duration_s": round(self.end - self.start, 3),
            "recovered_s": None if self.recovered is None else round(self.recovered - origin, 3),
            "recovery_s": None if self.recovered is None else round(self.recovered - self.end, 3),
        }


@dataclass(frozen=True)
class Window:
    """Ticks in ``[start, end)`` are judged; triggers are recorded until ``recording_end``."""

    start: float
    end: float
    recording_end: float
    ready: dict[int, tuple[float, ...]]  # replica -> every replica_ready wall (restarts too)
    stopped: dict[int, float] = field(default_factory=dict)  # replica -> replica_stopped wall
    faults: tuple[FaultWindow, ...] = ()
    clock_steps: tuple[ClockStep, ...] = ()

    @property
    def earliest(self) -> float:
        """The earliest time a tick model reaches back to."""
        return self.start - LOOKBACK_S

    @property
    def length_s(self) -> float:
        return self.end - self.start

    @property
    def grace_s(self) -> float:
        return self.recording_end - self.end

    def first(self, replica: int) -> float:
        """Earliest judged tick time for ``replica``: the window's start or its first ready."""
        readies = self.ready.get(replica, ())
        return max(self.start, readies[0]) if readies else self.start

    def last(self, replica: int) -> float:
        """End (exclusive) of ``replica``'s judged ticks: a scaled-in replica stops early."""
        return min(self.end, self.stopped.get(replica, math.inf))

    def gone(self, replica: int, at: float) -> bool:
        """Whether ``replica`` had stopped for good before ``at`` (its triggers cannot exist)."""
        return at > self.stopped.get(replica, math.inf) + STOP_SLACK_S

    def stalls(self, mechanism: str) -> tuple[tuple[float, float], ...]:
        """Intervals whose triggers of ``mechanism`` a fault may hold and release late."""
        return tuple(f.hold for f in self.faults if f.holds(mechanism))


def _offsets(records: list[Trigger | Recorded]) -> list[float]:
    return [r.wall - r.mono for r in records]


def clock_steps(history: History, origin: Recorded) -> tuple[ClockStep, ...]:
    """Where ``wall - mono`` jumped, in monotonic order."""
    records: list[Trigger | Recorded] = sorted([*history.triggers, *history.events], key=lambda r: r.mono)
    if len({r.mono for r in records}) <= 1:
        return ()  # no monotonic clock recorded: nothing to compare with
    base = origin.wall - origin.mono
    steps: list[ClockStep] = []
    previous = None
    for record, offset in zip(records, _offsets(records), strict=True):
        if previous is not None and abs(offset - previous) > CLOCK_STEP_S:
            steps.append(ClockStep(record.mono + base, round(offset - previous, 3)))
        previous = offset
    return tuple(steps)


def _moved_trigger(trigger: Trigger, base: float) -> Trigger:
    return replace(trigger, wall=trigger.mono + base)


def _moved_event(event: Recorded, base: float) -> Recorded:
    at = event.mono + base
    update = {"wall": at}
    if isinstance(event, Created | ApiCallEvent):  # its send time moves with it
        update["sent_wall"] = at - (event.wall - event.sent_wall)
    return event.model_copy(update=update)


def retimed(history: History) -> tuple[History, tuple[ClockStep, ...]]:
    """``history`` on the monotonic clock when its wall clock stepped (else as it is)."""
    origin = history.first_event("window_start")
    if origin is None:
        return history, ()
    steps = clock_steps(history, origin)
    if not steps:
        return history, ()
    base = origin.wall - origin.mono
    return History(tuple(_moved_trigger(t, base) for t in history.triggers),
                   tuple(_moved_event(e, base) for e in history.events)), steps


def fault_windows(history: History, window_end: float) -> tuple[FaultWindow, ...]:
    """Each ``fault_start`` paired with the next ``fault_end`` and ``fault_recovered`` of the
    same kind and target."""
    events = sorted(history.events_of(FaultEvent), key=lambda e: e.wall)
    out: list[FaultWindow] = []
    for n, start in enumerate(events):
        if not isinstance(start, FaultStart):
            continue
        later = [e for e in events[n + 1:] if (e.fault, e.target) == (start.fault, start.target)]
        end = next((e for e in later if isinstance(e, FaultEnd)), None)
        recovered = next((e for e in later if isinstance(e, FaultRecovered)), None)
        out.append(FaultWindow(
            kind=start.fault, target=str(start.target), replica=start.replica,
            member=start.member, start=start.wall,
            end=end.wall if end is not None else window_end,
            recovered=recovered.wall if recovered is not None else None,
        ))
    return tuple(out)


def window_of(history: History, steps: tuple[ClockStep, ...] = ()) -> Window:
    """The window, replicas' readiness and faults of a history; a history without a complete
    window is an error (the run did not finish its window)."""
    start, end = history.first_event("window_start"), history.first_event("window_end")
    if start is None or end is None:
        missing = "window_start" if start is None else "window_end"
        raise ValueError(f"history has no {missing} event: the run did not complete its window")
    recording = history.first_event("recording_end")
    last_trigger = max((t.wall for t in history.triggers), default=end.wall)
    # The apps record until the cluster stops, past the harness's recording_end: a trigger
    # recorded then is still Dapr's (counted after the window), so recording lasts to it.
    recording_end = max(recording.wall if recording is not None else end.wall, last_trigger)
    ready: dict[int, list[float]] = {}
    for event in history.events_of(ReplicaReady):
        ready.setdefault(event.replica, []).append(event.wall)
    stopped = {e.replica: e.wall for e in history.events_of(ReplicaStopped)}
    return Window(start.wall, end.wall, recording_end,
                  {r: tuple(sorted(w)) for r, w in ready.items()}, stopped,
                  fault_windows(history, end.wall), steps)
