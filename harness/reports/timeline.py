"""A run's timeline as data: what the PNG (``plots``) and the page's SVG (``svg``) both draw.

One lane per replica (HTTP and gRPC apps alike, as the history names them), one mark per
trigger in its mechanism's colour and shape, a row per app-wide task with its ticks (delivered
once, duplicated, lost), lost ticks of per-replica tasks on their lane, duplicate deliveries
ringed, and each fault shaded from its start until it stopped holding triggers: the later of
its recovery (every sidecar connected again, or the fault's end) and the first attempt of the
last late tick that fell due while it held.

The ticks come from the checker (``harness.check.check_run``'s ``ticks``), so the marks say what
the verdict counted; without a stored scenario the triggers are drawn and the ticks are not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.check import FaultWindow, TaskTicks, TickMark, check_run, window_of
from harness.record.history import History, Trigger
from harness.scenario.mechanisms import APP_IDS, MECHANISMS
from harness.summary import RunSummary, StoredRun

__all__ = [
    "MECHANISM_STYLES",
    "Hold",
    "Lane",
    "Mark",
    "Miss",
    "Style",
    "TickCell",
    "TickRow",
    "Timeline",
    "lanes_text",
    "run_timeline",
    "timeline_of",
]


@dataclass(frozen=True)
class Style:
    """How one mechanism is drawn: a matplotlib marker, and the same shape as a polygon."""

    colour: str
    marker: str
    sides: int  # 0: a circle; else a regular polygon
    rotation: float = 0.0  # degrees; 0 puts a vertex at the top


MECHANISM_STYLES: dict[str, Style] = {
    "job": Style("#1f77b4", "o", 0),
    "binding": Style("#ff7f0e", "s", 4, 45.0),
    "job-sdk": Style("#2ca02c", "D", 4),
    "reminder": Style("#9467bd", "^", 3),
    "binding-lock": Style("#8c564b", "v", 3, 180.0),
    "binding-claim": Style("#e377c2", "p", 5),
    "workflow": Style("#17becf", "h", 6),
}
assert set(MECHANISM_STYLES) == set(MECHANISMS), "a mechanism without a timeline style"
LOST_COLOUR, DUPLICATE_COLOUR, FAILED_COLOUR = "#d62728", "#111111", "#d62728"
FAULT_COLOUR = "#d62728"
MAX_GRID_LINES = 400


@dataclass(frozen=True)
class Lane:
    replica: int
    app: str  # "http" or "grpc"
    label: str


@dataclass(frozen=True)
class Mark:
    """One trigger the app received."""

    at_s: float
    replica: int
    mechanism: str
    name: str
    outcome: str  # ok, failed, refused
    duplicate: bool  # a delivery beyond the first of its tick
    record: dict[str, Any]  # the history record, for hovering


@dataclass(frozen=True)
class Miss:
    """A lost tick: on its replica's lane (per-replica tasks) or its task's row (app-wide)."""

    at_s: float
    replica: int | None
    mechanism: str
    name: str
    ambiguous: bool  # lost under the strict reading only


@dataclass(frozen=True)
class TickCell:
    at_s: float
    state: str  # once, duplicated, lost, undelivered, none (outside the window)
    ambiguous: bool
    late: bool
    attempts: int


@dataclass(frozen=True)
class TickRow:
    """The ticks of a task judged across replicas (one stream for the app-id)."""

    mechanism: str
    name: str
    schedule: str
    cells: tuple[TickCell, ...]

    @property
    def label(self) -> str:
        return f"{self.mechanism} {self.name}"


@dataclass(frozen=True)
class Hold:
    kind: str
    target: str
    start_s: float
    end_s: float  # when the harness had ended the fault
    held_until_s: float  # when it stopped holding triggers

    @property
    def label(self) -> str:
        return (f"{self.kind} ({self.target}) {self.start_s:.1f}-{self.end_s:.1f} s, "
                f"triggers held until {self.held_until_s:.1f} s")


@dataclass(frozen=True)
class Timeline:
    run_id: str
    title: str
    lanes: tuple[Lane, ...]
    rows: tuple[TickRow, ...]
    marks: tuple[Mark, ...]
    misses: tuple[Miss, ...]
    holds: tuple[Hold, ...]
    grid_s: tuple[float, ...]
    window_end_s: float | None
    recording_end_s: float | None
    judged: bool  # ticks from the checker are drawn
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def mechanisms(self) -> list[str]:
        """The mechanisms that appear, in the catalog's order."""
        seen = {m.mechanism for m in self.marks} | {r.mechanism for r in self.rows}
        return [m for m in MECHANISMS if m in seen]

    @property
    def span_s(self) -> tuple[float, float]:
        xs = [m.at_s for m in self.marks] + [c.at_s for r in self.rows for c in r.cells]
        xs += [h.held_until_s for h in self.holds] + [0.0]
        xs += [x for x in (self.window_end_s, self.recording_end_s) if x is not None]
        return min(xs), max(xs)


# --------------------------------------------------------------------------------------------


def _origin(history: History) -> float:
    start = history.first_event("window_start")
    if start is not None:
        return start.wall
    walls = [r.wall for r in (*history.triggers, *history.events)]
    return min(walls) if walls else 0.0


def _lanes(history: History, summary: RunSummary) -> tuple[Lane, ...]:
    apps: dict[int, str] = {}
    for event in history.events:
        if event.event in ("replica_started", "replica_ready") and "replica" in event.attrs:
            grpc = event.attrs.get("app_id") == APP_IDS["grpc"]
            apps[int(event.attrs["replica"])] = "grpc" if grpc else "http"
    for trigger in history.triggers:
        apps.setdefault(trigger.replica, "http")
    if not apps:
        apps = {r: "http" for r in range(summary.replicas)}
    grpc = any(app == "grpc" for app in apps.values())
    http_seen = sorted(r for r, app in apps.items() if app == "http")
    added = set(http_seen[summary.replicas:]) if summary.replicas else set()

    def label(replica: int, app: str) -> str:
        suffix = " (gRPC)" if app == "grpc" else " (HTTP)" if grpc else ""
        return f"replica {replica}{suffix}{' added' if replica in added else ''}"
    return tuple(Lane(r, apps[r], label(r, apps[r])) for r in sorted(apps))


def lanes_text(lanes: Sequence[Lane], base_replicas: int) -> str:
    """What the lanes are: "3 replicas", "3 HTTP + 3 gRPC replicas", "4 replicas (1 added)"."""
    http = sum(1 for lane in lanes if lane.app == "http")
    grpc = len(lanes) - http
    text = f"{http} HTTP + {grpc} gRPC replicas" if grpc else f"{http} replicas"
    added = max(0, http - base_replicas) if base_replicas else 0
    return text + (f" ({added} added during the run)" if added else "")


def _record(trigger: Trigger, origin: float) -> dict[str, Any]:
    """The trigger's history record, payload and body cut short, time relative to the window."""
    record: dict[str, Any] = {"t_s": round(trigger.wall - origin, 3), "mechanism": trigger.mechanism,
                              "name": trigger.name, "replica": trigger.replica, "pid": trigger.pid,
                              "status": trigger.status, "outcome": trigger.outcome,
                              "wall": round(trigger.wall, 3)}
    for key in ("work", "tick", "gate"):
        if getattr(trigger, key) is not None:
            record[key] = getattr(trigger, key)
    if trigger.payload is not None:
        text = str(trigger.payload)
        record["payload"] = text if len(text) <= 160 else text[:160] + "..."
    return record


def _duplicates(ticks: Sequence[TaskTicks]) -> set[tuple[str, str, float, int]]:
    """(mechanism, name, wall, replica) of every delivery beyond the first of its tick."""
    found = set()
    for task in ticks:
        for tick in task.ticks:
            delivered = sorted((wall, replica) for wall, replica, ok in tick.attempts if ok)
            found |= {(task.mechanism, task.name, wall, replica) for wall, replica in delivered[1:]}
    return found


def _cell(tick: TickMark, origin: float) -> TickCell:
    if not tick.judged:
        state = "none"
    elif tick.lost.high:
        state = "lost"
    elif tick.duplicated.high:
        state = "duplicated"
    elif tick.deliveries == 0:
        state = "undelivered"
    else:
        state = "once"
    ambiguous = tick.lost.ambiguous or tick.duplicated.ambiguous
    return TickCell(round(tick.time - origin, 3), state, ambiguous, tick.late, len(tick.attempts))


def _rows(ticks: Sequence[TaskTicks], origin: float, end: float) -> tuple[TickRow, ...]:
    return tuple(TickRow(t.mechanism, t.name, t.schedule,
                         tuple(_cell(k, origin) for k in t.ticks if k.time <= end))
                 for t in ticks if t.view == "across replicas" and t.ticks)


def _misses(ticks: Sequence[TaskTicks], origin: float) -> tuple[Miss, ...]:
    return tuple(Miss(round(k.time - origin, 3), k.replica, t.mechanism, t.name,
                      k.lost.ambiguous)
                 for t in ticks for k in t.ticks if k.judged and k.lost.high)


def _grid(ticks: Sequence[TaskTicks], origin: float, end: float) -> tuple[float, ...]:
    """Tick times of the app-wide tasks (else of every task), one line per 50 ms at most."""
    chosen = [t for t in ticks if t.view == "across replicas"] or list(ticks)
    times = sorted({round((k.time - origin) * 20) / 20 for t in chosen for k in t.ticks
                    if k.time <= end})
    return tuple(times) if len(times) <= MAX_GRID_LINES else ()


def _recorded_faults(history: History) -> tuple[FaultWindow, ...]:
    try:
        return window_of(history).faults
    except ValueError:  # no complete window: the faults cannot be placed on it
        return ()


def _holds(faults: Sequence[FaultWindow], ticks: Sequence[TaskTicks],
           origin: float) -> tuple[Hold, ...]:
    holds = []
    for fault in faults:
        released = [min(w for w, _, _ in k.attempts) for t in ticks for k in t.ticks
                    if k.late and k.attempts and fault.start <= k.time <= fault.recovery_end]
        until = max([fault.recovery_end, fault.end, *released])
        holds.append(Hold(fault.kind, fault.target, round(fault.start - origin, 3),
                          round(fault.end - origin, 3), round(until - origin, 3)))
    return tuple(holds)


def timeline_of(summary: RunSummary, history: History,
                ticks: Sequence[TaskTicks] | None = None,
                faults: Sequence[FaultWindow] | None = None,
                notes: Sequence[str] = ()) -> Timeline:
    """The timeline of one run from its history and, when given, the checker's ticks."""
    origin = _origin(history)
    window = {e.event: e.wall - origin for e in history.events
              if e.event in ("window_end", "recording_end")}
    end = window.get("recording_end", window.get("window_end", math.inf)) + origin
    lanes = _lanes(history, summary)
    if faults is None:
        faults = _recorded_faults(history)
    duplicates = _duplicates(ticks or ())
    marks = tuple(Mark(round(t.wall - origin, 3), t.replica, t.mechanism, t.name, t.outcome,
                       (t.mechanism, t.name, t.wall, t.replica) in duplicates, _record(t, origin))
                  for t in sorted(history.triggers, key=lambda t: t.wall))
    title = (f"{summary.scenario}: {lanes_text(lanes, summary.replicas)}, "
             f"Dapr {summary.dapr.version}")
    return Timeline(
        run_id=summary.run_id, title=title, lanes=lanes,
        rows=_rows(ticks or (), origin, end), marks=marks, misses=_misses(ticks or (), origin),
        holds=_holds(faults, ticks or (), origin), grid_s=_grid(ticks or (), origin, end),
        window_end_s=window.get("window_end"), recording_end_s=window.get("recording_end"),
        judged=ticks is not None, notes=tuple(notes))


def run_timeline(run: StoredRun) -> Timeline:
    """A stored run's timeline, judged again from its scenario and history (as ``recheck``)."""
    history = run.history or History(triggers=(), events=())
    notes = [run.problem] if run.problem else []
    if run.scenario is None or run.history is None:
        notes.append("ticks not judged: the run's scenario or history is not stored")
        return timeline_of(run.summary, history, notes=notes)
    try:
        report = check_run(run.scenario, run.history)
    except ValueError as exc:  # no complete window: draw what was recorded
        notes.append(f"ticks not judged: {exc}")
        return timeline_of(run.summary, history, notes=notes)
    return timeline_of(run.summary, history, report.ticks, report.window.faults, notes)
