"""The observation window of a run and the faults on it, read from the history's events."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from harness.record.history import History

__all__ = ["STALL_AFTER_FAULT_S", "FaultWindow", "Window", "window_of"]

# How long after a fault ends the Scheduler may still hold ticks and then replay them: the
# killed member's leadership lease (20 s, go-etcd-cron ``internal/leadership``), plus the
# re-election and the sidecars' stream reconnects (measured here up to about 8 s).
STALL_AFTER_FAULT_S = 30.0
# A tick due just before a fault began may be in flight when it hits.
STALL_BEFORE_FAULT_S = 1.0


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

    def stalls(self) -> tuple[tuple[float, float], ...]:
        """Intervals whose ticks the Scheduler may hold and replay after a fault."""
        return tuple((f.start - STALL_BEFORE_FAULT_S, f.recovery_end + STALL_AFTER_FAULT_S)
                     for f in self.faults)


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def fault_windows(history: History, window_end: float) -> tuple[FaultWindow, ...]:
    """Each ``fault_start`` paired with the next ``fault_end`` and ``fault_recovered`` of the
    same kind and target."""
    events = sorted(history.events, key=lambda e: e.wall)
    out: list[FaultWindow] = []
    for n, start in enumerate(events):
        if start.event != "fault_start":
            continue
        key = (start.attrs.get("fault"), start.attrs.get("target"))
        later = [e for e in events[n + 1:] if (e.attrs.get("fault"), e.attrs.get("target")) == key]
        end = next((e for e in later if e.event == "fault_end"), None)
        recovered = next((e for e in later if e.event == "fault_recovered"), None)
        out.append(FaultWindow(
            kind=str(key[0]), target=str(key[1]),
            replica=_int_or_none(start.attrs.get("replica")),
            member=_int_or_none(start.attrs.get("member")),
            start=start.wall, end=end.wall if end is not None else window_end,
            recovered=recovered.wall if recovered is not None else None,
        ))
    return tuple(out)


def window_of(history: History) -> Window:
    """The window, replicas' readiness and faults of a history; a history without a complete
    window is an error (the run did not finish its window)."""
    start, end = history.first_event("window_start"), history.first_event("window_end")
    if start is None or end is None:
        missing = "window_start" if start is None else "window_end"
        raise ValueError(f"history has no {missing} event: the run did not complete its window")
    recording = history.first_event("recording_end")
    last_trigger = max((t.wall for t in history.triggers), default=end.wall)
    recording_end = recording.wall if recording is not None else max(end.wall, last_trigger)
    ready: dict[int, list[float]] = {}
    for event in history.events_named("replica_ready"):
        ready.setdefault(int(event.attrs["replica"]), []).append(event.wall)
    stopped = {int(e.attrs["replica"]): e.wall for e in history.events_named("replica_stopped")}
    return Window(start.wall, end.wall, recording_end,
                  {r: tuple(sorted(w)) for r, w in ready.items()}, stopped,
                  fault_windows(history, end.wall))
