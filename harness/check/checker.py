"""Verdicts from a history: did each job and binding fire once per tick, as the scenario expects?

The tick model
--------------
Each mechanism has a *grid* of tick times per replica; a trigger (``History.accepted``) is
assigned to the nearest tick of its replica's grid (ties go to the earlier tick). On each grid
``k = 0`` is the first tick at or after ``window_start``; *global tick k* is the union of all
replicas' k-th ticks.

- Job: one grid shared by all replicas, computed from the job's spec. Its start is the
  ``job_created`` event's ``sent_wall``: the scheduler cannot have created the job before the
  request was sent, so the grid is never later than the real one (lateness is never
  under-estimated). Observed on 1.18.3: ``@every 2s`` fires at creation + 2 s with
  millisecond precision (not at a second-truncated creation time, as a reading of
  go-etcd-cron's ``Builder.Parse`` suggested). ``dueTime`` (relative to that start),
  ``repeats`` and ``ttl`` (relative to the due time if set, else to the start; ticks after the
  expiry are dropped) shape the grid.
- Binding with a wall-clock schedule (5/6 fields, ``@daily``...): one shared grid.
- Binding with ``@every D``: each sidecar counts from its own start, which is not recorded, so
  each replica's phase is estimated from its own triggers (``phase_estimated``): offsets
  ``o_i = (t_i - t_first) mod D`` mapped into ``(-D/2, D/2]``, phase ``t_first + min(o_i)``,
  grid ``phase + jD``. The earliest trigger then has lateness 0 and early triggers cannot be
  seen (reported as 0).

Expected ticks: tick time in ``[window_start, window_end - grace_s]`` and, for a replica, at
or after its first ``replica_ready``. A job's ticks must also come after its ``job_created``
event (the create call had returned) and before a ``job_deleted`` event.

Views: *across replicas* counts, for each expected global tick, the triggers of all replicas
(1 = exactly once, >1 = duplicated, 0 = lost); *per replica* does the same for each expected
(replica, k). ``exactly_once`` and ``at_least_once`` are judged on the first view,
``once_per_replica`` on the second.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.run.history import Event, History, Mechanism, Trigger
from harness.scenario.model import (
    ApiCall,
    BindingSpec,
    Expectation,
    JobExpectation,
    JobSpec,
    Scenario,
)
from harness.scenario.schedule import (
    every_seconds,
    parse_due_time,
    parse_point_in_time,
    tick_times,
)

__all__ = [
    "JOB_SUCCESS_METRIC",
    "SCHEDULER_TRIGGERED_METRIC",
    "CallResult",
    "CheckResult",
    "JobExpectResult",
    "MechanismResult",
    "TickView",
    "check",
    "cross_check",
]

JOB_SUCCESS_METRIC = "dapr_component_job_success_count"
SCHEDULER_TRIGGERED_METRIC = "dapr_scheduler_jobs_triggered_total"
_EPS = 1e-6  # float noise allowed before a trigger counts as early
_YEAR = 367 * 86400.0


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TickView:
    ticks_expected: int = 0
    once: int = 0
    duplicated: int = 0
    lost: int = 0


@dataclass
class MechanismResult:
    mechanism: Mechanism
    name: str
    replicas: int
    schedule: str
    window_s: float
    triggers: int
    per_replica: dict[int, int]
    across: TickView
    per_replica_view: TickView
    early_triggers: int
    lateness_ms: dict[str, float | None]
    lateness_samples_ms: list[float]  # first trigger of each expected tick, for plots
    phase_estimated: bool
    triggers_in_ticks: int  # triggers assigned to expected global ticks
    delivery_expected: str | None = None
    verdict: str = "n/a"
    reasons: list[str] = field(default_factory=list)

    @property
    def triggers_per_tick(self) -> float:
        n = self.across.ticks_expected
        return round(self.triggers_in_ticks / n, 4) if n else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "mechanism": self.mechanism,
            "name": self.name,
            "replicas": self.replicas,
            "schedule": self.schedule,
            "window_s": round(self.window_s, 3),
            "ticks_expected": self.across.ticks_expected,
            "triggers": self.triggers,
            "triggers_per_tick": self.triggers_per_tick,
            "per_replica": {str(r): n for r, n in sorted(self.per_replica.items())},
            "exactly_once_ticks": self.across.once,
            "duplicated_ticks": self.across.duplicated,
            "lost_ticks": self.across.lost,
            "early_triggers": self.early_triggers,
            "per_replica_view": {
                "ticks_expected": self.per_replica_view.ticks_expected,
                "once": self.per_replica_view.once,
                "duplicated": self.per_replica_view.duplicated,
                "lost": self.per_replica_view.lost,
            },
            "lateness_ms": dict(self.lateness_ms),
            "lateness_samples_ms": [round(v, 3) for v in self.lateness_samples_ms],
            "phase_estimated": self.phase_estimated,
            "delivery_expected": self.delivery_expected,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
        }


@dataclass
class CallResult:
    """One of a scenario's ``calls``: what Dapr answered against what the scenario expects."""

    index: int
    id: str | None
    method: str
    api: str
    job: str
    expect_status: int
    observed_status: int | None
    response: str | None
    error: str | None
    checks: list[str]  # the body checks made, as text
    verdict: str
    reasons: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index, "id": self.id, "method": self.method, "api": self.api,
            "job": self.job, "expect_status": self.expect_status,
            "observed_status": self.observed_status, "response": self.response,
            "error": self.error, "checks": list(self.checks), "verdict": self.verdict,
            "reasons": list(self.reasons),
        }


@dataclass
class JobExpectResult:
    """One ``expect_jobs`` entry: the triggers it selected and its verdict."""

    job: str
    from_s: float | None
    until_s: float | None
    triggers: int
    spacing_s: dict[str, float] | None  # min and max gap between selected triggers
    first_s: float | None  # first selected trigger after the latest create before it
    payloads: list[Any]  # distinct payloads of the selected triggers (first 5)
    verdict: str
    reasons: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job, "from_s": self.from_s, "until_s": self.until_s,
            "triggers": self.triggers, "spacing_s": self.spacing_s, "first_s": self.first_s,
            "payloads": list(self.payloads), "verdict": self.verdict,
            "reasons": list(self.reasons),
        }


@dataclass
class CheckResult:
    results: list[MechanismResult]
    grace_s: float = 1.5
    calls: list[CallResult] = field(default_factory=list)
    job_expectations: list[JobExpectResult] = field(default_factory=list)
    # job name -> what its triggers showed (counts, app answers, times), for reports
    job_triggers: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        judged = [*self.results, *self.calls, *self.job_expectations]
        return all(r.verdict != "fail" for r in judged)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "grace_s": self.grace_s,
            "results": [r.to_dict() for r in self.results],
            "calls": [c.to_dict() for c in self.calls],
            "expect_jobs": [e.to_dict() for e in self.job_expectations],
            "job_triggers": self.job_triggers,
        }


# --------------------------------------------------------------------------------------------
# Grids
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Grid:
    times: tuple[float, ...]  # sorted tick times
    k0: int  # index of the first tick >= window_start
    estimated: bool = False

    @classmethod
    def build(cls, times: list[float], window_start: float, estimated: bool = False) -> _Grid:
        return cls(tuple(times), bisect.bisect_left(times, window_start), estimated)

    def nearest(self, t: float) -> int:
        """Index of the tick nearest to ``t``; a tie goes to the earlier tick."""
        i = bisect.bisect_left(self.times, t)
        if i == len(self.times) or (i > 0 and t - self.times[i - 1] <= self.times[i] - t):
            return i - 1
        return i

    def time(self, k: int) -> float:
        return self.times[self.k0 + k]

    def expected(self, lo: float, hi: float) -> set[int]:
        """Cycle indexes k of the ticks in ``[lo, hi]``."""
        first, last = bisect.bisect_left(self.times, lo), bisect.bisect_right(self.times, hi)
        return {i - self.k0 for i in range(first, last)}


@dataclass(frozen=True)
class _Window:
    start: float
    end: float
    grace: float
    ready: dict[int, float]  # replica -> first replica_ready wall
    stopped: dict[int, float] = field(default_factory=dict)  # replica -> replica_stopped wall

    @property
    def last(self) -> float:
        """Latest time of an expected tick."""
        return self.end - self.grace

    def last_for(self, replica: int) -> float:
        """Latest time of an expected tick for ``replica`` (a scaled-in replica stops early)."""
        return min(self.last, self.stopped.get(replica, math.inf))

    def first(self, replica: int) -> float:
        """Earliest time of an expected tick for ``replica``."""
        return max(self.start, self.ready.get(replica, self.start))


@dataclass
class _Model:
    """Grids and expected ticks of one job or binding."""

    grids: dict[int, _Grid | None]
    expected: dict[int, set[int]]  # replica -> expected k
    global_expected: set[int]
    shared: bool  # one grid for all replicas (jobs): lateness per global tick
    notes: list[str] = field(default_factory=list)


def _span_after(schedule: str | None, t: float, six_fields: bool) -> float:
    """How far past ``t`` the next tick of ``schedule`` can be (so a grid reaches beyond ``t``)."""
    if schedule is None:
        return 0.0
    period = every_seconds(schedule)
    if period is not None:
        return period
    nxt = tick_times(schedule, start=t, until=t + _YEAR, limit=1, six_fields=six_fields)
    return nxt[0] - t if nxt else 0.0


def _tick_at_or_before(schedule: str, t: float) -> float | None:
    """The last tick of a wall-clock binding schedule at or before ``t``."""
    for back in (60.0, 3600.0, 86400.0, 32 * 86400.0, _YEAR):
        ticks = tick_times(schedule, start=t - back, until=t, six_fields=False)
        if ticks:
            return ticks[-1]
    return None


# --------------------------------------------------------------------------------------------
# Jobs
# --------------------------------------------------------------------------------------------


def _created_event(history: History, name: str) -> Event | None:
    for event in history.events_named("job_created"):
        if event.attrs.get("name") == name and 200 <= int(event.attrs.get("status", 204)) < 300:
            return event
    return None


def _job_grid_times(job: JobSpec, start: float, hi: float) -> list[float]:
    due = parse_due_time(job.dueTime, start) if job.dueTime else None
    lo = start if due is None else min(start, due - 1.0)  # a past dueTime still fires (late)
    until = hi + _span_after(job.schedule, hi, True)
    ticks = tick_times(job.schedule, start=lo, until=until, due=due, limit=job.repeats)
    if job.ttl and job.schedule:
        expiry = parse_point_in_time(job.ttl, due if due is not None else start)
        ticks = [t for t in ticks if t <= expiry]
    return ticks


def _job_model(history: History, job: JobSpec, win: _Window, replicas: list[int],
               triggers: list[Trigger]) -> _Model:
    created = _created_event(history, job.name)
    if created is None:
        note = f"job {job.name!r} was not created (no job_created event with a 2xx status)"
        return _Model({r: None for r in replicas}, {r: set() for r in replicas}, set(), True, [note])
    start = float(created.attrs.get("sent_wall", created.wall))
    sent_due = (created.attrs.get("spec") or {}).get("dueTime")
    if job.dueTime is None and isinstance(sent_due, str):  # due_rfc3339_in_s: the value sent
        job = job.model_copy(update={"dueTime": sent_due})
    hi = max([win.end, *(t.wall for t in triggers)])
    grid = _Grid.build(_job_grid_times(job, start, hi), win.start)
    lo = max(win.start, created.wall + _EPS)
    last = win.last
    for deleted in history.events_named("job_deleted"):
        if deleted.attrs.get("name") == job.name and deleted.wall > created.wall:
            last = min(last, float(deleted.attrs.get("sent_wall", deleted.wall)) - _EPS)
    for call in history.events_named("api_call"):  # a DELETE call that succeeded
        if (call.attrs.get("method") == "DELETE" and call.attrs.get("job") == job.name
                and _ok(call.attrs.get("status")) and call.wall > created.wall):
            last = min(last, float(call.attrs.get("sent_wall", call.wall)) - _EPS)
    global_expected = grid.expected(lo, last)
    expected = {r: {k for k in global_expected if grid.time(k) >= win.first(r)} for r in replicas}
    return _Model({r: grid for r in replicas}, expected, global_expected, True)


# --------------------------------------------------------------------------------------------
# Bindings
# --------------------------------------------------------------------------------------------


def _estimated_grid(walls: list[float], period: float, win: _Window) -> _Grid:
    """Grid ``phase + jD`` fitted to one replica's triggers (see module docstring)."""
    first = walls[0]
    offsets = [((t - first + period / 2) % period) - period / 2 for t in walls]
    offsets = [o if o > -period / 2 else o + period for o in offsets]  # into (-D/2, D/2]
    phase = first + min(offsets)
    lo, hi = min(win.start, walls[0]), max(win.end, walls[-1])
    j_lo, j_hi = math.floor((lo - phase) / period) - 1, math.ceil((hi - phase) / period) + 1
    return _Grid.build([phase + j * period for j in range(j_lo, j_hi + 1)], win.start, True)


def _silent_replica_ticks(period: float, win: _Window, replica: int) -> set[int]:
    """Expected k of an ``@every`` replica that never fired, so its phase is unknown.

    A closed interval of length L holds floor(L/D) or floor(L/D)+1 ticks depending on the phase;
    the smaller count is used (ticks that were certainly lost). Their indexes assume the
    replica's k = 0 tick is at ``window_start``.
    """
    first = win.first(replica)
    length = win.last - first
    if length < 0:
        return set()
    k_first = math.ceil((first - win.start) / period - 1e-9)
    return set(range(k_first, k_first + math.floor(length / period + 1e-9)))


def _binding_model(binding: BindingSpec, win: _Window, replicas: list[int],
                   triggers: list[Trigger]) -> _Model:
    period = every_seconds(binding.schedule)
    walls = {r: sorted(t.wall for t in triggers if t.replica == r) for r in replicas}
    grids: dict[int, _Grid | None] = {}
    expected: dict[int, set[int]] = {}
    if period is None:
        lo = min([win.start, *(t.wall for t in triggers)])
        hi = max([win.end, *(t.wall for t in triggers)])
        before = _tick_at_or_before(binding.schedule, lo)
        start = (before if before is not None else lo) - _EPS
        until = hi + _span_after(binding.schedule, hi, False)
        grid = _Grid.build(tick_times(binding.schedule, start=start, until=until, six_fields=False),
                           win.start)
        grids = {r: grid for r in replicas}
        expected = {r: grid.expected(win.first(r), win.last_for(r)) for r in replicas}
    else:
        for r in replicas:
            grid = _estimated_grid(walls[r], period, win) if walls[r] else None
            grids[r] = grid
            expected[r] = (grid.expected(win.first(r), win.last_for(r)) if grid
                           else _silent_replica_ticks(period, win, r))
    global_expected = set().union(*expected.values()) if expected else set()
    return _Model(grids, expected, global_expected, False)


# --------------------------------------------------------------------------------------------
# Tallying and verdicts
# --------------------------------------------------------------------------------------------


def _view(expected: list[Any], counts: dict[Any, int]) -> TickView:
    n = [counts.get(key, 0) for key in expected]
    return TickView(len(n), sum(c == 1 for c in n), sum(c > 1 for c in n), sum(c == 0 for c in n))


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    p50, p90, p99 = np.percentile(np.array(values), [50, 90, 99], method="linear")
    return {"p50": round(float(p50), 3), "p90": round(float(p90), 3),
            "p99": round(float(p99), 3), "max": round(float(max(values)), 3)}


Assigned = dict[tuple[int, int], list[float]]  # (replica, k) -> trigger walls
Assigner = Callable[["_Model", list[Trigger]], tuple[Assigned, int]]


def _assign(model: _Model, triggers: list[Trigger]) -> tuple[dict[tuple[int, int], list[float]], int]:
    """Triggers by (replica, k) of their nearest tick, and how many came before their tick."""
    assigned: dict[tuple[int, int], list[float]] = defaultdict(list)
    early = 0
    for trig in triggers:
        grid = model.grids.get(trig.replica)
        if grid is None or not grid.times:
            continue
        i = grid.nearest(trig.wall)
        assigned[(trig.replica, i - grid.k0)].append(trig.wall)
        early += int(not grid.estimated and trig.wall < grid.times[i] - _EPS)
    return assigned, early


def _lateness(model: _Model, assigned: dict[tuple[int, int], list[float]]) -> list[float]:
    """Milliseconds from tick to its first trigger: per expected global tick on a shared grid,
    else per expected (replica, k)."""
    if model.shared:
        grid = next((g for g in model.grids.values() if g is not None), None)
        firsts: dict[int, float] = {}
        for (_, k), walls in assigned.items():
            firsts[k] = min(firsts.get(k, math.inf), *walls)
        return [(firsts[k] - grid.time(k)) * 1000
                for k in sorted(model.global_expected) if grid is not None and k in firsts]
    return [
        (min(assigned[(r, k)]) - grid.time(k)) * 1000
        for r, ks in sorted(model.expected.items())
        if (grid := model.grids.get(r)) is not None
        for k in sorted(ks)
        if assigned.get((r, k))
    ]


def _verdict(result: MechanismResult, expect: Expectation | None, notes: list[str]) -> None:
    if expect is None:
        result.verdict, result.reasons = "n/a", []
        return
    per_replica = expect.delivery == "once_per_replica"
    view = result.per_replica_view if per_replica else result.across
    suffix = " (per replica)" if per_replica else ""
    reasons = list(notes)
    if view.ticks_expected < expect.min_ticks:
        reasons.append(f"window too short: {view.ticks_expected} ticks expected{suffix}, "
                       f"need at least {expect.min_ticks}")
    if view.lost > expect.max_lost:
        reasons.append(f"lost {view.lost} ticks, allowed {expect.max_lost}{suffix}")
    # at_least_once allows duplicates, unless the scenario caps them with max_duplicated.
    capped = expect.delivery != "at_least_once" or "max_duplicated" in expect.model_fields_set
    if capped and view.duplicated > expect.max_duplicated:
        reasons.append(f"duplicated {view.duplicated} ticks, allowed {expect.max_duplicated}{suffix}")
    if result.early_triggers > expect.max_early:
        reasons.append(f"{result.early_triggers} early triggers, allowed {expect.max_early}")
    if expect.triggers is not None and result.triggers != expect.triggers:
        reasons.append(f"{result.triggers} triggers, expected exactly {expect.triggers}")
    result.verdict, result.reasons = ("fail" if reasons else "pass"), reasons


def _result(mechanism: Mechanism, name: str, schedule: str, model: _Model, win: _Window,
            replicas: list[int], triggers: list[Trigger], expect: Expectation | None,
            phase_estimated: bool, assign: Assigner | None = None) -> MechanismResult:
    assigned, early = (assign or _assign)(model, triggers)
    lateness = _lateness(model, assigned)
    across_counts: dict[int, int] = defaultdict(int)
    for (_, k), walls in assigned.items():
        across_counts[k] += len(walls)
    expected_ks = sorted(model.global_expected)
    pairs = [(r, k) for r in replicas for k in sorted(model.expected.get(r, ()))]
    result = MechanismResult(
        mechanism=mechanism,
        name=name,
        replicas=len(replicas),
        schedule=schedule,
        window_s=win.end - win.start,
        triggers=len(triggers),
        per_replica={r: sum(t.replica == r for t in triggers) for r in replicas},
        across=_view(expected_ks, across_counts),
        per_replica_view=_view(pairs, {key: len(ts) for key, ts in assigned.items()}),
        early_triggers=0 if phase_estimated else early,
        lateness_ms=_percentiles(lateness),
        lateness_samples_ms=lateness,
        phase_estimated=phase_estimated,
        triggers_in_ticks=sum(across_counts.get(k, 0) for k in expected_ks),
        delivery_expected=expect.delivery if expect else None,
    )
    _verdict(result, expect, model.notes)
    return result


def _window(history: History, grace_s: float) -> _Window:
    start, end = history.first_event("window_start"), history.first_event("window_end")
    if start is None or end is None:
        missing = "window_start" if start is None else "window_end"
        raise ValueError(f"history has no {missing} event: the run did not complete its window")
    ready: dict[int, float] = {}
    for event in history.events_named("replica_ready"):
        r = int(event.attrs["replica"])
        ready[r] = min(ready.get(r, event.wall), event.wall)
    stopped = {int(e.attrs["replica"]): e.wall for e in history.events_named("replica_stopped")}
    return _Window(start.wall, end.wall, grace_s, ready, stopped)


def _replicas(history: History, scenario: Scenario, triggers: list[Trigger]) -> list[int]:
    """Replicas of the scenario plus any seen in the history (e.g. added by scale_out)."""
    # (issue 13) job and binding run on the HTTP app; the gRPC app's replicas (job-sdk) do not count.
    seen = {int(e.attrs["replica"]) for e in history.events
            if e.event in ("replica_started", "replica_ready") and "replica" in e.attrs
            and e.attrs.get("app_id", "taskapi") == "taskapi"}
    return sorted(set(range(scenario.replicas)) | seen | {t.replica for t in triggers})


def check(history: History, scenario: Scenario, *, grace_s: float = 1.5,
          assign: Assigner | None = None) -> CheckResult:
    """One result per created job (``expect_status`` 204) and per binding of ``scenario``.

    ``assign`` replaces the nearest-tick assignment of triggers to ticks (fault scenarios use
    ``harness.check.faults.assign_in_order``, which lets late and replayed triggers count)."""
    win = _window(history, grace_s)
    results: list[MechanismResult] = []
    for job in scenario.jobs:
        if job.expect_status != 204:
            continue
        triggers = history.accepted("job", job.name)
        replicas = _replicas(history, scenario, triggers)
        model = _job_model(history, job, win, replicas, triggers)
        label = job.schedule or f"dueTime {job.dueTime}"
        results.append(_result("job", job.name, label, model, win, replicas, triggers,
                               scenario.expect.get("job"), False, assign))
    for binding in scenario.bindings:
        triggers = history.accepted("binding", binding.name)
        replicas = _replicas(history, scenario, triggers)
        model = _binding_model(binding, win, replicas, triggers)
        estimated = every_seconds(binding.schedule) is not None
        results.append(_result("binding", binding.name, binding.schedule, model, win, replicas,
                               triggers, scenario.expect.get("binding"), estimated, assign))
    jobs = {r.name: r for r in results if r.mechanism == "job"}
    return CheckResult(
        results, grace_s,
        calls=[_call_result(history, i, call) for i, call in enumerate(scenario.calls)],
        job_expectations=[_job_expectation(history, e, win, jobs.get(e.job))
                          for e in scenario.expect_jobs],
        job_triggers=_job_triggers(history, scenario, win),
    )


# --------------------------------------------------------------------------------------------
# API calls and per-job expectations
# --------------------------------------------------------------------------------------------

_ABSENT = object()  # a path that does not exist in a response body


def _ok(status: Any) -> bool:
    return isinstance(status, int) and 200 <= status < 300


def _parse_body(text: str | None) -> Any:
    """A response body as the scenario addresses it: JSON, else the text; None when empty."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _at_path(value: Any, path: str) -> Any:
    """The value at a dotted path (``$`` = the whole value); ``_ABSENT`` if there is none."""
    if path == "$":
        return value
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif (isinstance(value, list) and re.fullmatch(r"-?[0-9]+", part)
              and -len(value) <= int(part) < len(value)):
            value = value[int(part)]
        else:
            return _ABSENT
    return value


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values: 1 equals 1.0, but true is not 1 and "1" is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _call_result(history: History, index: int, call: ApiCall) -> CallResult:
    event = next((e for e in history.events_named("api_call") if e.attrs.get("index") == index),
                 None)
    attrs = event.attrs if event is not None else {}
    status, text, error = attrs.get("status"), attrs.get("response"), attrs.get("error")
    reasons: list[str] = []
    checks: list[str] = []
    if event is None:
        reasons.append("the call was not made (no api_call event in the history)")
    elif status is None:
        reasons.append(f"no answer ({error}), expected status {call.expect_status}")
    elif status != call.expect_status:
        reasons.append(f"status {status}, expected {call.expect_status}")
    body = _parse_body(text)
    for path, expected in call.expect_body.items():
        got = _at_path(body, path)
        checks.append(f"{path} == {expected!r}")
        if got is _ABSENT:
            reasons.append(f"body {path}: missing, expected {expected!r}")
        elif not same_json(got, expected):
            reasons.append(f"body {path}: {got!r}, expected {expected!r}")
    for path in call.expect_absent:
        got = _at_path(body, path)
        checks.append(f"{path} absent")
        if got is not _ABSENT:
            reasons.append(f"body {path}: present ({got!r}), expected absent")
    if call.expect_contains is not None:
        checks.append(f"contains {call.expect_contains!r}")
        if call.expect_contains not in (text or ""):
            reasons.append(f"body does not contain {call.expect_contains!r}: {str(text)[:200]!r}")
    return CallResult(index, call.id, call.method, call.api, call.job, call.expect_status,
                      status, text, error, checks, "fail" if reasons else "pass", reasons)


def _creations(history: History, name: str) -> list[float]:
    """Send times of the successful creates of job ``name`` (``jobs`` entries and POST calls)."""
    sent = [float(e.attrs.get("sent_wall", e.wall)) for e in history.events_named("job_created")
            if e.attrs.get("name") == name and _ok(e.attrs.get("status"))]
    sent += [float(e.attrs.get("sent_wall", e.wall)) for e in history.events_named("api_call")
             if e.attrs.get("method") == "POST" and e.attrs.get("job") == name
             and _ok(e.attrs.get("status"))]
    return sorted(sent)


def _first_after_create(history: History, name: str, first: float) -> float | None:
    """Seconds from the latest successful create sent before ``first`` to ``first``."""
    before = [t for t in _creations(history, name) if t <= first]
    return round(first - before[-1], 4) if before else None


def _gaps(walls: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(walls)]


def _bounds(reasons: list[str], what: str, value: float, low: float | None,
            high: float | None, unit: str = "") -> None:
    if low is not None and value < low - _EPS:
        reasons.append(f"{what} {value:g}{unit}, expected at least {low:g}{unit}")
    if high is not None and value > high + _EPS:
        reasons.append(f"{what} {value:g}{unit}, expected at most {high:g}{unit}")


def _distinct(values: list[Any], limit: int = 5) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if not any(same_json(value, seen) for seen in out):
            out.append(value)
    return out[:limit]


def _job_expectation(history: History, entry: JobExpectation, win: _Window,
                     mechanism: MechanismResult | None) -> JobExpectResult:
    lo = -math.inf if entry.from_s is None else entry.from_s
    hi = math.inf if entry.until_s is None else entry.until_s
    trigs = [t for t in history.accepted("job", entry.job) if lo <= t.wall - win.start < hi]
    n, reasons = len(trigs), []
    if entry.triggers is not None and n != entry.triggers:
        reasons.append(f"{n} triggers, expected exactly {entry.triggers}")
    _bounds(reasons, "triggers", n, entry.min_triggers, entry.max_triggers)
    gaps = _gaps([t.wall for t in trigs])
    spacing = {"min": round(min(gaps), 4), "max": round(max(gaps), 4)} if gaps else None
    if (entry.min_spacing_s, entry.max_spacing_s) != (None, None):
        if spacing is None:
            reasons.append(f"no spacing to judge: {n} trigger(s)")
        else:
            _bounds(reasons, "smallest spacing", spacing["min"], entry.min_spacing_s, None, " s")
            _bounds(reasons, "largest spacing", spacing["max"], None, entry.max_spacing_s, " s")
    first = _first_after_create(history, entry.job, trigs[0].wall) if trigs else None
    if (entry.min_first_s, entry.max_first_s) != (None, None):
        if first is None:
            reasons.append("no first trigger after a successful create to time" if trigs
                           else "no trigger to time")
        else:
            _bounds(reasons, "first trigger after create", first, entry.min_first_s,
                    entry.max_first_s, " s")
    checks = [
        ("payload", entry.payload is not None, lambda t: same_json(t.payload, entry.payload),
         lambda t: t.payload, entry.payload),
        ("raw body", entry.raw_body is not None, lambda t: t.raw == entry.raw_body,
         lambda t: t.raw, entry.raw_body),
        ("body", entry.empty_body, lambda t: t.raw is None, lambda t: t.raw, None),
        *((f"header {k}", True, lambda t, k=k, v=v: t.headers.get(k) == v,
           lambda t, k=k: t.headers.get(k), v) for k, v in entry.headers.items()),
    ]
    for what, wanted, good, shown, expected in checks:
        if not wanted:
            continue
        bad = [t for t in trigs if not good(t)]
        if not trigs:
            reasons.append(f"no trigger to check the {what} of")
        elif bad:
            reasons.append(f"{len(bad)} of {n} triggers had {what} {shown(bad[0])!r}, "
                           f"expected {expected!r}")
    if entry.tick_fields:
        reasons += _tick_reasons(entry, mechanism)
    return JobExpectResult(entry.job, entry.from_s, entry.until_s, n, spacing, first,
                           _distinct([t.payload for t in trigs]),
                           "fail" if reasons else "pass", reasons)


def _tick_reasons(entry: JobExpectation, mechanism: MechanismResult | None) -> list[str]:
    if mechanism is None:
        return [f"no tick model for job {entry.job!r} (not created by a jobs entry)"]
    reasons: list[str] = []
    view = mechanism.across
    if entry.min_ticks is not None and view.ticks_expected < entry.min_ticks:
        reasons.append(f"window too short: {view.ticks_expected} ticks expected, "
                       f"need at least {entry.min_ticks}")
    for what, value, limit in (("lost ticks", view.lost, entry.max_lost),
                               ("duplicated ticks", view.duplicated, entry.max_duplicated),
                               ("early triggers", mechanism.early_triggers, entry.max_early)):
        if limit is not None and value > limit:
            reasons.append(f"{value} {what}, allowed {limit}")
    if entry.max_lateness_ms is not None:
        worst = mechanism.lateness_ms.get("max")
        if worst is None:
            reasons.append("no lateness measured (no expected tick was delivered)")
        elif worst > entry.max_lateness_ms:
            reasons.append(f"lateness up to {worst:g} ms, allowed {entry.max_lateness_ms:g} ms")
    return reasons


def _job_triggers(history: History, scenario: Scenario, win: _Window) -> dict[str, dict[str, Any]]:
    """Per job name: deliveries, the app's answers, timing; the numbers reports cite."""
    names = {t.name for t in history.accepted("job")} | {j.name for j in scenario.jobs}
    names |= {c.job for c in scenario.calls if c.method == "POST"}
    stats: dict[str, dict[str, Any]] = {}
    for name in sorted(names):
        trigs = history.accepted("job", name)
        gaps = _gaps([t.wall for t in trigs])
        stats[name] = {
            "triggers": len(trigs),
            "app_status": {str(k): v for k, v in sorted(Counter(t.status for t in trigs).items())},
            "per_replica": {str(k): v for k, v in sorted(Counter(t.replica for t in trigs).items())},
            "first_after_create_s": _first_after_create(history, name, trigs[0].wall)
            if trigs else None,
            "spacing_s": {"min": round(min(gaps), 4), "max": round(max(gaps), 4)} if gaps else None,
            "at_s": [round(t.wall - win.start, 3) for t in trigs[:30]],
            "payloads": _distinct([t.payload for t in trigs], 3),
        }
    return stats


# --------------------------------------------------------------------------------------------
# Metrics cross-check
# --------------------------------------------------------------------------------------------


def cross_check(history_counts: dict[str, int], metrics: dict[str, float]) -> list[str]:
    """Mismatches between the history's job triggers and Dapr's own counters (empty: consistent).

    ``history_counts`` maps job name -> triggers the app answered successfully (2xx), as the
    history recorded them. ``metrics`` maps metric name -> value summed over all its series
    (every daprd replica; every scheduler instance), taken as the increase over the run:
    ``dapr_component_job_success_count`` (daprd: jobs the app handled successfully) and
    ``dapr_scheduler_jobs_triggered_total`` (scheduler: triggers it sent). Both should equal
    the history's total. A metric missing from ``metrics`` is not compared. Note that a trigger
    the app failed (and the scheduler retried) counts again in the scheduler's metric, so
    expect mismatches in scenarios where the app fails on purpose.
    """
    total = sum(history_counts.values())
    sources = {
        JOB_SUCCESS_METRIC: "daprd job successes, summed over replicas",
        SCHEDULER_TRIGGERED_METRIC: "scheduler triggers",
    }
    return [
        f"{metric} = {metrics[metric]:g} ({what}) but the history has {total} job triggers"
        for metric, what in sources.items()
        if metric in metrics and round(metrics[metric]) != total
    ]
