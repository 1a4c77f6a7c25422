"""What faults did to each job and cron binding: lost, duplicated, late and replayed ticks.

Like Jepsen's queue checker, the question is what was delivered, not when exactly: every
expected tick (the tick model of :mod:`harness.check.checker`) is matched to the triggers the app
accepted (``outcome == "ok"``; a failed attempt that Dapr retries is not a delivery), then
counted per fault phase.

Matching (``assign_in_order``)
------------------------------
Neither mechanism tells the app which tick a trigger belongs to, and a trigger that comes
late (a tick held while no sidecar could take it, then replayed) lands near a later tick, so
the nearest-tick rule the checker uses by default would call it a duplicate of that tick and
the real tick lost. Dapr promises never to fire before a tick's time, so here:

1. *On time*: the first trigger at most ``ON_TIME_FRACTION`` of a period after a tick takes
   that tick.
2. *Late*: every other trigger, in arrival order, takes the earliest expected tick at or
   before it that has none yet (ticks are fired in order, so a late trigger belongs to the
   oldest tick still owed). When none is owed, a trigger shortly before a tick that has none
   takes it and counts as early; any other is a duplicate of the latest tick before it.

Jobs match across replicas (one tick, any replica); bindings per replica. The result is the
most charitable reading of the record: ``lost`` is the number of ticks that cannot have been
delivered whatever trigger belonged to which tick (a certain loss), and a tick counts as
duplicated only when more triggers arrived than there were ticks owed.

Counted per mechanism (see ``fault_stats``): expected ticks; lost; duplicated; *late* (first
trigger more than the on-time tolerance after the tick) and the maximum lateness; *replayed*
(late ticks whose first triggers came back-to-back, after a fault began, at least two of them
in a burst of triggers less than ``BURST_GAP_S`` apart: a scheduler catching up on the ticks
it owed);
failed attempts; all of it split by phase (before the first fault, during a fault, while
recovering: from a fault's end until the schedulers count every sidecar connected again, and
after); for bindings, which replica lost which ticks.

Verdicts against Dapr's promises: a job is *at-least-once* (no tick lost, none early;
duplicates allowed); a cron binding is *per-replica, in memory* (each sidecar fires its own
ticks, no catch-up: ticks may be lost only on a replica whose sidecar or app a fault took down,
during that fault and one period after it; never duplicated on a replica).

Use a wall-clock binding schedule (``*/2 * * * * *``) in fault scenarios: an ``@every``
binding restarts its phase when its sidecar restarts, and the checker fits one phase per
replica.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from harness.check.checker import (
    _binding_model,
    _Grid,
    _job_model,
    _Model,
    _replicas,
    _Window,
    _window,
)
from harness.run.history import History, Trigger
from harness.scenario.model import Scenario

__all__ = [
    "BURST_GAP_S",
    "ON_TIME_FRACTION",
    "PHASES",
    "assign_in_order",
    "fault_stats",
    "fault_windows",
]

ON_TIME_FRACTION = 0.25  # of the gap to the next tick: within it a trigger is on time
BURST_GAP_S = 0.25  # triggers closer than this to each other form a burst
PHASES = ("before", "during", "recovering", "after")
_EPS = 1e-6
# Faults that take a replica's sidecar or app away (or make the app fail): its binding ticks
# may be lost while they last.
_REPLICA_DOWN = frozenset({"kill_daprd", "kill_app", "app_down", "pause_replica", "app_failing",
                           "scale_in"})

Key = tuple[int, int]  # (replica, k)
TickId = tuple[int | None, int]  # (replica or None for a job tick, k)


# --------------------------------------------------------------------------------------------
# Matching triggers to ticks
# --------------------------------------------------------------------------------------------


def _tolerance(grid: _Grid, i: int) -> float:
    times = grid.times
    if len(times) < 2:
        return 0.5
    gap = times[i + 1] - times[i] if i + 1 < len(times) else times[i] - times[i - 1]
    return ON_TIME_FRACTION * gap


def _claim_key(model: _Model, replica: int, k: int) -> Key:
    return (-1, k) if model.shared else (replica, k)


def _floor(grid: _Grid, t: float) -> int:
    """Index of the latest tick at or before ``t`` (the nearest one if none is)."""
    i = bisect.bisect_right(grid.times, t + _EPS) - 1
    return i if i >= 0 else grid.nearest(t)


def assign_in_order(model: _Model, triggers: list[Trigger]) -> tuple[dict[Key, list[float]], int]:
    """Triggers by (replica, k) of the tick they stand for, and how many came before it.

    Drop-in for the checker's nearest-tick ``_assign`` (see the module docstring)."""
    ok = sorted((t for t in triggers if t.outcome == "ok"), key=lambda t: t.wall)
    assigned: dict[Key, list[float]] = defaultdict(list)
    claimed: set[Key] = set()
    early = 0
    leftovers: list[Trigger] = []
    for trig in ok:  # pass 1: on time
        grid = model.grids.get(trig.replica)
        if grid is None or not grid.times:
            continue
        i = _floor(grid, trig.wall)
        key = _claim_key(model, trig.replica, i - grid.k0)
        lateness = trig.wall - grid.times[i]
        if -_EPS <= lateness <= _tolerance(grid, i) and key not in claimed:
            claimed.add(key)
            assigned[(trig.replica, i - grid.k0)].append(trig.wall)
        else:
            leftovers.append(trig)
    owed = {r: sorted(ks) for r, ks in model.expected.items()}
    owed_global = sorted(model.global_expected)
    for trig in leftovers:  # pass 2: late, oldest owed tick first
        grid = model.grids[trig.replica]
        assert grid is not None
        candidates = owed_global if model.shared else owed.get(trig.replica, [])
        k = next((k for k in candidates
                  if grid.time(k) <= trig.wall + _EPS
                  and _claim_key(model, trig.replica, k) not in claimed), None)
        if k is None:
            i = grid.nearest(trig.wall)
            is_early = (grid.times[i] > trig.wall + _EPS
                        and _claim_key(model, trig.replica, i - grid.k0) not in claimed)
            i = i if is_early else _floor(grid, trig.wall)
            k = i - grid.k0
            early += int(is_early and not grid.estimated)
        claimed.add(_claim_key(model, trig.replica, k))
        assigned[(trig.replica, k)].append(trig.wall)
    return dict(assigned), early


# --------------------------------------------------------------------------------------------
# Faults on the timeline
# --------------------------------------------------------------------------------------------


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


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def fault_windows(history: History, window_end: float) -> list[FaultWindow]:
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
    return out


def _phase(t: float, faults: list[FaultWindow]) -> str:
    if not faults or t < min(f.start for f in faults):
        return "before"
    if any(f.start <= t <= f.end for f in faults):
        return "during"
    if any(f.end < t <= f.recovery_end for f in faults):
        return "recovering"
    return "after"


def _fault_dict(fault: FaultWindow, win: _Window) -> dict[str, Any]:
    return {
        "kind": fault.kind, "target": fault.target, "replica": fault.replica,
        "member": fault.member, "start_s": round(fault.start - win.start, 3),
        "end_s": round(fault.end - win.start, 3),
        "duration_s": round(fault.end - fault.start, 3),
        "recovered_s": None if fault.recovered is None else round(fault.recovered - win.start, 3),
        "recovery_s": None if fault.recovered is None else round(fault.recovered - fault.end, 3),
    }


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tick:
    replica: int | None  # None: a job tick (any replica)
    k: int
    time: float
    triggers: tuple[float, ...]
    tolerance: float

    @property
    def lateness(self) -> float | None:
        return min(self.triggers) - self.time if self.triggers else None

    @property
    def late(self) -> bool:
        return self.lateness is not None and self.lateness > self.tolerance


def _ticks(model: _Model, assigned: dict[Key, list[float]]) -> list[_Tick]:
    """Every expected tick of the mechanism's view with the triggers matched to it."""
    ticks: list[_Tick] = []
    if model.shared:
        grid = next((g for g in model.grids.values() if g is not None), None)
        by_k: dict[int, list[float]] = defaultdict(list)
        for (_, k), walls in assigned.items():
            by_k[k].extend(walls)
        for k in sorted(model.global_expected):
            if grid is not None:
                ticks.append(_Tick(None, k, grid.time(k), tuple(sorted(by_k.get(k, []))),
                                   _tolerance(grid, k + grid.k0)))
        return ticks
    for r, ks in sorted(model.expected.items()):
        grid = model.grids.get(r)
        for k in sorted(ks):
            walls = tuple(sorted(assigned.get((r, k), []))) if grid is not None else ()
            time = grid.time(k) if grid is not None else math.nan
            tol = _tolerance(grid, k + grid.k0) if grid is not None else 0.0
            ticks.append(_Tick(r, k, time, walls, tol))
    return ticks


def _tally(ticks: Iterable[_Tick]) -> dict[str, Any]:
    ticks = list(ticks)
    late = [t.lateness for t in ticks if t.late and t.lateness is not None]
    lateness = [t.lateness for t in ticks if t.lateness is not None]
    return {
        "ticks": len(ticks),
        "delivered": sum(bool(t.triggers) for t in ticks),
        "lost": sum(not t.triggers for t in ticks),
        "duplicated": sum(len(t.triggers) > 1 for t in ticks),
        "extra_triggers": sum(max(0, len(t.triggers) - 1) for t in ticks),
        "late": len(late),
        "max_lateness_ms": round(max(lateness) * 1000, 1) if lateness else None,
    }


def _runs(arrivals: list[tuple[float, _Tick]]) -> Iterator[list[tuple[float, _Tick]]]:
    """Arrivals split where two in a row are more than ``BURST_GAP_S`` apart."""
    run: list[tuple[float, _Tick]] = []
    for arrival in sorted(arrivals, key=lambda a: a[0]):
        if run and arrival[0] - run[-1][0] > BURST_GAP_S:
            yield run
            run = []
        run.append(arrival)
    if run:
        yield run


def _bursts(ticks: list[_Tick], win: _Window,
            faults: list[FaultWindow]) -> tuple[list[dict[str, Any]], set[TickId]]:
    """Replays: runs of triggers (per replica for bindings, across replicas for jobs) that
    start after a fault began and deliver the first trigger of at least two late ticks."""
    arrivals: dict[int | None, list[tuple[float, _Tick]]] = defaultdict(list)
    for tick in ticks:
        arrivals[tick.replica] += [(wall, tick) for wall in tick.triggers]
    bursts: list[dict[str, Any]] = []
    replayed: set[TickId] = set()
    for replica in sorted(arrivals, key=lambda r: -1 if r is None else r):
        for run in _runs(arrivals[replica]):
            at = run[0][0]
            firsts = {(t.replica, t.k) for w, t in run if t.late and w == min(t.triggers)}
            began = [f for f in faults if f.start <= at]
            if len(firsts) < 2 or not began:
                continue
            replayed |= firsts
            bursts.append({
                "replica": replica, "at_s": round(at - win.start, 3), "triggers": len(run),
                "ticks": len({(t.replica, t.k) for _, t in run}), "replayed": len(firsts),
                "span_ms": round((run[-1][0] - at) * 1000, 1),
                "since_fault_end_s": round(at - max(began, key=lambda f: f.start).end, 3),
            })
    return bursts, replayed


def _binding_loss_allowed(tick: _Tick, faults: list[FaultWindow]) -> bool:
    for fault in faults:
        if fault.kind in _REPLICA_DOWN and fault.replica == tick.replica:
            period = tick.tolerance / ON_TIME_FRACTION
            if fault.start - tick.tolerance <= tick.time <= fault.recovery_end + period:
                return True
    return False


def _verdict(mechanism: str, ticks: list[_Tick], early: int, faults: list[FaultWindow],
             win: _Window) -> tuple[str, str, list[str]]:
    reasons: list[str] = []
    if mechanism == "job":
        lost = [t for t in ticks if not t.triggers]
        if lost:
            at = ", ".join(f"{t.time - win.start:.1f}" for t in lost[:8])
            reasons.append(f"{len(lost)} tick(s) lost (at {at} s)")
        if early:
            reasons.append(f"{early} trigger(s) before their tick")
        return "at-least-once", ("violated" if reasons else "holds"), reasons
    stray = [t for t in ticks if not t.triggers and not _binding_loss_allowed(t, faults)]
    if stray:
        where = ", ".join(f"replica {t.replica} at {t.time - win.start:.1f} s" for t in stray[:8])
        reasons.append(f"{len(stray)} tick(s) lost outside a fault on that replica ({where})")
    doubled = [t for t in ticks if len(t.triggers) > 1]
    if doubled:
        reasons.append(f"{len(doubled)} tick(s) fired more than once on one replica")
    return "per-replica, in memory", ("violated" if reasons else "holds"), reasons


def _mechanism_stats(mechanism: str, name: str, schedule: str, model: _Model,
                     triggers: list[Trigger], win: _Window,
                     faults: list[FaultWindow]) -> dict[str, Any]:
    assigned, early = assign_in_order(model, triggers)
    ticks = _ticks(model, assigned)
    bursts, replayed = _bursts(ticks, win, faults)
    phases = {p: _tally(t for t in ticks if _phase(t.time, faults) == p) for p in PHASES}
    for phase, tally in phases.items():
        tally["replayed"] = sum((t.replica, t.k) in replayed for t in ticks
                                if _phase(t.time, faults) == phase)
    lost_by_replica: dict[str, int] | None = None
    if not model.shared:
        lost_by_replica = {str(r): sum(1 for t in ticks if t.replica == r and not t.triggers)
                           for r in sorted(model.expected)}
    promise, verdict, reasons = _verdict(mechanism, ticks, early, faults, win)
    lost = [t for t in ticks if not t.triggers]
    return {
        "mechanism": mechanism, "name": name, "schedule": schedule,
        "view": "across replicas" if model.shared else "per replica",
        **_tally(ticks), "replayed": len(replayed), "early": early,
        "failed_attempts": sum(t.outcome == "failed" for t in triggers),
        "phases": phases, "lost_by_replica": lost_by_replica,
        "lost_at_s": [[t.replica, round(t.time - win.start, 3)] for t in lost[:40]],
        "bursts": bursts, "promise": promise, "verdict": verdict, "reasons": reasons,
        "notes": list(model.notes),
    }


def fault_stats(history: History, scenario: Scenario, *, grace_s: float = 1.5) -> dict[str, Any]:
    """Per fault scenario: its faults as carried out and, per job and binding, what they did."""
    win = _window(history, grace_s)
    faults = fault_windows(history, win.end)
    mechanisms: list[dict[str, Any]] = []
    for job in scenario.jobs:
        if job.expect_status != 204:
            continue
        triggers = history.accepted("job", job.name)
        model = _job_model(history, job, win, _replicas(history, scenario, triggers), triggers)
        mechanisms.append(_mechanism_stats("job", job.name, job.schedule or f"dueTime {job.dueTime}",
                                           model, triggers, win, faults))
    for binding in scenario.bindings:
        triggers = history.accepted("binding", binding.name)
        model = _binding_model(binding, win, _replicas(history, scenario, triggers), triggers)
        mechanisms.append(_mechanism_stats("binding", binding.name, binding.schedule, model,
                                           triggers, win, faults))
    errors = [dict(e.attrs) for e in history.events_named("fault_error")]
    return {
        "window_s": round(win.end - win.start, 3), "grace_s": grace_s,
        "on_time_fraction": ON_TIME_FRACTION, "burst_gap_s": BURST_GAP_S,
        "faults": [_fault_dict(f, win) for f in faults], "fault_errors": errors,
        "mechanisms": mechanisms,
    }
