"""One result per scheduled task of a scenario: its tick model, both readings, its verdict.

Tick models, from Dapr's source:

- **Jobs** (Jobs API; jobs created through the SDK alike): one stream for the app-id, whatever
  replica receives it. Ticks from the ``job_created`` event's ``sent_wall`` (the scheduler
  cannot have created the job earlier, so lateness is never under-estimated; measured on
  1.18.3: ``@every`` counts from creation to the millisecond), ``dueTime``, ``repeats``, ``ttl``
  (ticks after expiry do not exist) and a deletion (no ticks after it). Retries follow the
  job's failure policy; owed ticks may be replayed (see ``_ledger``).
- **Cron bindings with a cron spec**: one stream per replica on the shared grid, judged from
  the replica's first ``replica_ready`` until the window ends or it is scaled in; an attempt
  stands for the latest tick at or before it (an overdue entry fires once at wake time:
  dapr/kit ``cron/cron.go``), so ticks a down sidecar missed are lost.
- **``@every`` bindings**: a chain per replica (``_every``).
- **Jobs created through the SDK** (``job-sdk``): the job model, from their ``job_created``
  event (``mechanism: job-sdk``), judged across the gRPC app's replicas.
- **Actor reminders**: the job model from the ``reminder_registered`` event (Dapr 1.18 stores
  reminders in the Scheduler: ``pkg/actors/reminders`` -> ``pkg/runtime/scheduler``, so they
  fire on the Scheduler's grid and replay after an outage like jobs).
- **Gated bindings** (``binding-lock``, ``binding-claim``): every sidecar's cron fires at each
  tick; the attempt that won the lock or the first-write claim does the work (a delivery), the
  others are recorded as gated out. Judged across replicas on the binding's grid.
- **Workflows**: a loop that works, waits on a durable timer for the period and continues as
  new: a chain (next iteration = previous + period, so it drifts) across all replicas, keyed by
  iteration: an iteration whose activity ran twice is a duplicate.

Judged ticks are those in ``[window_start, window_end)``; the runner keeps recording for a grace
period after the window so that late deliveries and retries of judged ticks are seen, and
every attempt lands in exactly one column of the accounting.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.check._delivery import attempt_of, policy_of_spec
from harness.scenario.mechanisms import APP_IDS, GATED, JOB_TRIGGERED
from harness.check._every import chain_ledger, drift_of, keyed_chain_ledger
from harness.check._ledger import Ledger, Reading, Stream, TickRecord, period_at, read
from harness.check._result import Accounting, Bound, MechanismResult, TickView
from harness.check._window import Window
from harness.record.history import Event, History, Trigger
from harness.scenario.model import BindingSpec, Expectation, JobSpec, Scenario, TaskSpec
from harness.scenario.schedule import every_seconds, parse_due_time, parse_point_in_time, tick_times

__all__ = ["ON_TIME_FRACTION", "PHASES", "mechanism_results", "replicas_of"]

ON_TIME_FRACTION = 0.25  # of the gap to the next tick: a first attempt later than this is late
PHASES = ("before", "during", "recovering", "after")
_YEAR = 367 * 86400.0
_READINGS: tuple[Reading, Reading] = ("kind", "strict")


@dataclass(frozen=True)
class _Task:
    mechanism: str
    name: str
    schedule: str
    view: str
    ledgers: dict[Reading, list[Ledger]]  # one ledger per stream (jobs: one; bindings: per replica)
    stream_replicas: list[int | None]  # the replica of each stream (None: any replica)
    attempts: list[Trigger]
    period: float | None  # @every chains: drift is measured
    notes: list[str]


HTTP_APP, GRPC_APP = APP_IDS["http"], APP_IDS["grpc"]


def replicas_of(history: History, scenario: Scenario, app_id: str = HTTP_APP) -> list[int]:
    """Replicas of one app-id: the scenario's, plus any seen in the history (e.g. added by
    scale_out). The gRPC app (job-sdk tasks) is numbered after the HTTP app."""
    seen = {int(e.attrs["replica"]) for e in history.events
            if e.event in ("replica_started", "replica_ready") and "replica" in e.attrs
            and e.attrs.get("app_id", HTTP_APP) == app_id}
    if app_id != HTTP_APP:
        return sorted(seen)
    base = set(range(scenario.http_replicas)) if scenario.http_replicas else set()
    return sorted(base | seen)


# --- Jobs ------------------------------------------------------------------------------------


def _ok(status: object) -> bool:
    return isinstance(status, int) and 200 <= status < 300


def _created_event(history: History, name: str, event: str = "job_created",
                   mechanism: str = "job") -> Event | None:
    """The first successful creation of task ``name`` (a 2xx, or the SDK's gRPC ``OK``)."""
    return next((e for e in history.events_named(event)
                 if e.attrs.get("name") == name
                 and e.attrs.get("mechanism", mechanism) == mechanism
                 and (e.attrs.get("status", 204) == "OK" or _ok(e.attrs.get("status", 204)))), None)


def _span_after(schedule: str | None, t: float, six_fields: bool) -> float:
    """How far past ``t`` the next tick of ``schedule`` can be (so a grid reaches beyond ``t``)."""
    if schedule is None:
        return 0.0
    period = every_seconds(schedule)
    if period is not None:
        return period
    nxt = tick_times(schedule, start=t, until=t + _YEAR, limit=1, six_fields=six_fields)
    return nxt[0] - t if nxt else 0.0


def _job_times(job: JobSpec, start: float, until: float) -> list[float]:
    due = parse_due_time(job.dueTime, start) if job.dueTime else None
    lo = start if due is None else min(start, due - 1.0)  # a past dueTime still fires (late)
    ticks = tick_times(job.schedule, start=lo, until=until + _span_after(job.schedule, until, True),
                       due=due, limit=job.repeats)
    if job.ttl and job.schedule:
        expiry = parse_point_in_time(job.ttl, due if due is not None else start)
        ticks = [t for t in ticks if t <= expiry]
    return ticks


def _deleted_at(history: History, name: str, after: float) -> float:
    """When the first successful delete of job ``name`` after ``after`` was sent (or inf)."""
    sent = [float(e.attrs.get("sent_wall", e.wall)) for e in history.events_named("job_deleted")
            if e.attrs.get("name") == name and e.wall > after]
    sent += [float(e.attrs.get("sent_wall", e.wall)) for e in history.events_named("api_call")
             if e.attrs.get("method") == "DELETE" and e.attrs.get("job") == name
             and _ok(e.attrs.get("status")) and e.wall > after]
    return min(sent, default=math.inf)


def _job_task(history: History, job: JobSpec, win: Window, mechanism: str,
              created_event: str = "job_created") -> _Task:
    triggers = history.received(mechanism, job.name)  # type: ignore[arg-type]
    created = _created_event(history, job.name, created_event, mechanism)
    label = job.schedule or f"dueTime {job.dueTime}"
    if created is None:
        note = f"{mechanism} {job.name!r} was not created (no {created_event} event with a 2xx status)"
        empty = {r: [Ledger([], [], win.start)] for r in _READINGS}
        return _Task(mechanism, job.name, label, "across replicas", empty, [None], triggers,
                     None, [note])
    start = float(created.attrs.get("sent_wall", created.wall))
    spec = created.attrs.get("spec") or {}
    if job.dueTime is None and isinstance(spec.get("dueTime"), str):  # due_rfc3339_in_s
        job = job.model_copy(update={"dueTime": spec["dueTime"]})
    deleted = _deleted_at(history, job.name, created.wall)
    times = [t for t in _job_times(job, start, win.recording_end) if t < deleted]
    stream = Stream(times, max(win.start, start), min(win.end, deleted),
                    [attempt_of(t) for t in triggers],
                    policy_of_spec(spec.get("failurePolicy")), catch_up=True,
                    stalls=win.stalls())
    return _Task(mechanism, job.name, label, "across replicas",
                 {r: [read(stream, r)] for r in _READINGS}, [None], triggers, None, [])


# --- Bindings ---------------------------------------------------------------------------------


def _tick_at_or_before(schedule: str, t: float) -> float | None:
    for back in (60.0, 3600.0, 86400.0, 32 * 86400.0, _YEAR):
        ticks = tick_times(schedule, start=t - back, until=t, six_fields=False)
        if ticks:
            return ticks[-1]
    return None


def _binding_grid(schedule: str, lo: float, hi: float) -> list[float]:
    before = _tick_at_or_before(schedule, lo)
    start = (before if before is not None else lo) - 1e-6
    return tick_times(schedule, start=start, until=hi + _span_after(schedule, hi, False),
                      six_fields=False)


def _binding_task(history: History, binding: BindingSpec, win: Window, replicas: list[int],
                  mechanism: str = "binding") -> _Task:
    triggers = history.received(mechanism, binding.name)  # type: ignore[arg-type]
    attempts = {r: [attempt_of(t) for t in triggers if t.replica == r] for r in replicas}
    period = every_seconds(binding.schedule)
    ledgers: dict[Reading, list[Ledger]] = {r: [] for r in _READINGS}
    if period is not None:
        for r in replicas:
            ledger = chain_ledger(attempts[r], win.ready.get(r, ()), period, win.first(r),
                                  win.last(r), min(win.recording_end, win.stopped.get(r, math.inf)))
            for reading in _READINGS:
                ledgers[reading].append(ledger)
        return _Task(mechanism, binding.name, binding.schedule, "per replica", ledgers,
                     list(replicas), triggers, period, [])
    earliest = min([win.start, *(t.wall for t in triggers)])
    times = _binding_grid(binding.schedule, earliest, win.recording_end)
    for r in replicas:
        stream = Stream(times, win.first(r), win.last(r), attempts[r])
        for reading in _READINGS:
            ledgers[reading].append(read(stream, reading))
    return _Task(mechanism, binding.name, binding.schedule, "per replica", ledgers,
                 list(replicas), triggers, None, [])


def _gated_task(history: History, binding: BindingSpec, win: Window, replicas: list[int],
                mechanism: str) -> _Task:
    """A binding whose handler takes a lock or claims the tick: the work is judged across
    replicas, on the binding's grid (every sidecar's attempt at a tick stands for that tick)."""
    triggers = history.received(mechanism, binding.name)  # type: ignore[arg-type]
    earliest = min([win.start, *(t.wall for t in triggers)])
    times = _binding_grid(binding.schedule, earliest, win.recording_end)
    stream = Stream(times, win.start, win.end, [attempt_of(t) for t in triggers])
    return _Task(mechanism, binding.name, binding.schedule, "across replicas",
                 {r: [read(stream, r)] for r in _READINGS}, [None], triggers, None, [])


def _workflow_task(history: History, task: TaskSpec, win: Window) -> _Task:
    """Iterations of a workflow loop across replicas, keyed by iteration (``Trigger.tick``)."""
    triggers = history.received("workflow", task.name)
    started = _created_event(history, task.name, "workflow_started", "workflow")
    period = every_seconds(task.schedule) or 0.0
    if started is None or not period:
        note = f"workflow {task.name!r} was not started (no workflow_started event with a 2xx status)"
        empty = {r: [Ledger([], [], win.start)] for r in _READINGS}
        return _Task("workflow", task.name, task.schedule, "across replicas", empty, [None],
                     triggers, period or None, [note])
    start = float(started.attrs.get("sent_wall", started.wall))
    ledger = keyed_chain_ledger([(t.tick, attempt_of(t)) for t in triggers], start, period,
                                win.start, win.end, win.recording_end)
    return _Task("workflow", task.name, task.schedule, "across replicas",
                 {r: [ledger] for r in _READINGS}, [None], triggers, period, [])


def _task_result(history: History, task: TaskSpec, win: Window, scenario: Scenario) -> MechanismResult:
    expect = scenario.expect.get(task.mechanism)
    if task.mechanism in GATED:
        spec = BindingSpec(name=task.name, schedule=task.schedule)
        return _result(_gated_task(history, spec, win, replicas_of(history, scenario),
                                   task.mechanism), win, replicas_of(history, scenario), expect)
    if task.mechanism == "workflow":
        return _result(_workflow_task(history, task, win), win, replicas_of(history, scenario),
                       expect)
    job = JobSpec(name=task.name, schedule=task.schedule)
    if task.mechanism == "reminder":
        return _result(_job_task(history, job, win, "reminder", "reminder_registered"), win,
                       replicas_of(history, scenario), expect)
    replicas = replicas_of(history, scenario, GRPC_APP)
    return _result(_job_task(history, job, win, "job-sdk"), win, replicas, expect)


# --- Views and tallies ------------------------------------------------------------------------


def _judged(ledgers: Sequence[Ledger]) -> list[TickRecord]:
    return [t for ledger in ledgers for t in ledger.judged]


def _lost(tick: TickRecord, gated: bool) -> bool:
    return tick.deliveries == 0 if gated else not tick.attempts


Counts = tuple[int, int, int, int, int, int]  # ticks, once, duplicated, extra, lost, undelivered


def _counts(groups: Sequence[Sequence[TickRecord]], gated: bool) -> Counts:
    """Counts over groups of records that stand for one tick (a group: one tick of a stream,
    or one global tick across replicas)."""
    deliveries = [sum(t.deliveries for t in g) for g in groups]
    lost = [all(_lost(t, gated) for t in g) for g in groups]
    return _tally(deliveries, [bool(g) and any(t.attempts for t in g) for g in groups], lost)


def _tally(deliveries: Sequence[int], attempted: Sequence[bool], lost: Sequence[bool]) -> Counts:
    return (len(deliveries), sum(d == 1 for d in deliveries), sum(d > 1 for d in deliveries),
            sum(max(0, d - 1) for d in deliveries), sum(lost),
            sum(1 for d, a, gone in zip(deliveries, attempted, lost, strict=True) if d == 0 and not gone and a))


def _view(counts: dict[Reading, Counts]) -> TickView:
    kind, strict = counts["kind"], counts["strict"]
    return TickView(ticks=strict[0], once=Bound(strict[1], kind[1]),
                    duplicated=Bound(kind[2], strict[2]), extra=Bound(kind[3], strict[3]),
                    lost=Bound(kind[4], strict[4]), undelivered=strict[5])


def _global_counts(task: _Task, reading: Reading) -> Counts:
    """Judged ticks across replicas: one group per tick (bindings: same time or same ordinal)."""
    gated = task.mechanism in GATED
    ledgers = task.ledgers[reading]
    if task.view == "across replicas":
        return _counts([[t] for t in _judged(ledgers)], gated)
    groups: dict[float | int, list[TickRecord]] = defaultdict(list)
    for ledger in ledgers:
        for k, tick in enumerate(ledger.judged):
            groups[k if task.period is not None else round(tick.time, 3)].append(tick)
    return _counts([groups[key] for key in sorted(groups)], gated)


def _replica_counts(task: _Task, reading: Reading, win: Window, replicas: list[int]) -> Counts:
    """Judged (replica, tick) pairs; for an across-replicas stream, each replica's share."""
    gated = task.mechanism in GATED
    if task.view == "per replica":
        return _counts([[t] for t in _judged(task.ledgers[reading])], gated)
    spans = {r: (win.first(r), win.last(r)) for r in replicas}
    deliveries: list[int] = []
    attempted: list[bool] = []
    for tick in _judged(task.ledgers[reading]):
        for r, (lo, hi) in spans.items():
            if lo <= tick.time < hi:
                mine = [a for a in tick.attempts if a.replica == r]
                deliveries.append(sum(a.delivered for a in mine))
                attempted.append(any(not a.gated_out for a in mine))
    lost = [d == 0 if gated else not a for d, a in zip(deliveries, attempted, strict=True)]
    return _tally(deliveries, attempted, lost)


def _accounting(task: _Task, win: Window) -> Accounting:
    judged = before = after = 0
    for ledger in task.ledgers["strict"]:
        for tick in ledger.ticks:
            n = len(tick.attempts)
            if tick.judged:
                judged += n
            elif tick.time < ledger.lo:
                before += n
            else:
                after += n
    early = sum(len(ledger.early) for ledger in task.ledgers["strict"])
    unexplained = len(task.attempts) - judged - before - after - early
    return Accounting(judged, before, after, early, max(0, unexplained))


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    p50, p90, p99 = np.percentile(np.array(values), [50, 90, 99], method="linear")
    return {"p50": round(float(p50), 3), "p90": round(float(p90), 3),
            "p99": round(float(p99), 3), "max": round(float(max(values)), 3)}


def _lateness(ledger: Ledger) -> list[tuple[TickRecord, float]]:
    return [(t, t.first - t.time) for t in ledger.judged if t.first is not None]


def _late_ticks(ledger: Ledger) -> list[TickRecord]:
    """Judged ticks whose first attempt came later than ``ON_TIME_FRACTION`` of a period."""
    times = [t.time for t in ledger.ticks]
    return [t for k, t in enumerate(ledger.ticks) if t.judged and t.first is not None
            and t.first - t.time > ON_TIME_FRACTION * period_at(times, k)]


def _replayed(task: _Task, win: Window) -> set[int]:
    """Late ticks of a scheduler-backed task inside a stall: held, then replayed (``id``s)."""
    if task.mechanism not in JOB_TRIGGERED:
        return set()
    stalls = win.stalls()
    return {id(t) for lg in task.ledgers["strict"] for t in _late_ticks(lg)
            if any(a <= t.time <= b for a, b in stalls)}


def _phase(t: float, win: Window) -> str:
    if not win.faults or t < min(f.start for f in win.faults):
        return "before"
    if any(f.start <= t <= f.end for f in win.faults):
        return "during"
    if any(f.end < t <= f.recovery_end for f in win.faults):
        return "recovering"
    return "after"


def _phases(task: _Task, win: Window) -> dict[str, dict[str, int]]:
    gated = task.mechanism in GATED
    replayed = _replayed(task, win)
    out = {p: {"ticks": 0, "delivered": 0, "lost": 0, "duplicated": 0, "replayed": 0}
           for p in PHASES}
    for tick in _judged(task.ledgers["strict"]):
        tally = out[_phase(tick.time, win)]
        tally["ticks"] += 1
        tally["delivered"] += int(tick.deliveries > 0)
        tally["lost"] += int(_lost(tick, gated))
        tally["duplicated"] += int(tick.deliveries > 1)
        tally["replayed"] += int(id(tick) in replayed)
    return out


# --- Results and verdicts ---------------------------------------------------------------------


def _verdict(result: MechanismResult, expect: Expectation | None) -> None:
    if expect is None:
        result.verdict = "n/a"
        return
    per_replica = expect.delivery == "once_per_replica"
    view = result.per_replica_view if per_replica else result.across
    suffix = " (per replica)" if per_replica else ""
    hard = list(result.notes)
    soft: list[str] = []

    def bound(what: str, value: Bound, allowed: int) -> None:
        if value.low > allowed:
            hard.append(f"{what} {value} ticks, allowed {allowed}{suffix}")
        elif value.high > allowed:
            soft.append(f"{what} {value} ticks (ambiguous: {value.low} under the kindest "
                        f"reading), allowed {allowed}{suffix}")

    if view.ticks < expect.min_ticks:
        hard.append(f"window too short: {view.ticks} ticks judged{suffix}, "
                    f"need at least {expect.min_ticks}")
    bound("lost", view.lost, expect.max_lost)
    # at_least_once allows duplicates, unless the scenario caps them with max_duplicated.
    if (allowed := expect.duplicates_allowed) is not None:
        bound("duplicated", view.duplicated, allowed)
    if result.early_low > expect.max_early:
        hard.append(f"{result.early} early attempts, allowed {expect.max_early}")
    elif result.early > expect.max_early:
        soft.append(f"up to {result.early} early attempts (ambiguous: {result.early_low} under "
                    f"the other reading), allowed {expect.max_early}")
    if result.accounting.unexplained:
        hard.append(f"{result.accounting.unexplained} attempts no tick explains")
    if expect.triggers is not None and result.triggers != expect.triggers:
        hard.append(f"{result.triggers} triggers, expected exactly {expect.triggers}")
    result.reasons = hard + soft
    result.verdict = "fail" if hard else "ambiguous" if soft else "pass"


def _result(task: _Task, win: Window, replicas: list[int], expect: Expectation | None) -> MechanismResult:
    gated = task.mechanism in GATED
    strict = task.ledgers["strict"]
    judged = _judged(strict)
    samples = [late for ledger in strict for _, late in _lateness(ledger)]
    worst_late = [late for ledger in task.ledgers["kind"] for _, late in _lateness(ledger)]
    lateness = _percentiles([s * 1000 for s in samples]) if task.period is None else {
        "p50": None, "p90": None, "p99": None, "max": None}
    if task.period is None and worst_late:
        lateness["max_any_reading"] = round(max(max(worst_late), max(samples, default=0)) * 1000, 3)
    early_by = [sum(t.early for t in _judged(task.ledgers[r]))
                + sum(len(lg.early) for lg in task.ledgers[r]) for r in _READINGS]
    lost_ticks = [t for t in judged if _lost(t, gated)]
    per_stream_lost = {r: sum(_lost(t, gated) for t in lg.judged)
                       for r, lg in zip(task.stream_replicas, strict, strict=True) if r is not None}
    result = MechanismResult(
        mechanism=task.mechanism, name=task.name, schedule=task.schedule, view=task.view,
        replicas=len(replicas), window_s=round(win.length_s, 3), grace_s=round(win.grace_s, 3),
        triggers=len(task.attempts),
        per_replica=dict(Counter(t.replica for t in task.attempts)),
        accounting=_accounting(task, win),
        across=_view({r: _global_counts(task, r) for r in _READINGS}),
        per_replica_view=_view({r: _replica_counts(task, r, win, replicas) for r in _READINGS}),
        attempts=sum(len(t.attempts) for t in judged),
        deliveries=sum(t.deliveries for t in judged), failed=sum(t.failed for t in judged),
        retries=sum(t.retries for t in judged), gated_out=sum(t.gated_out for t in judged),
        early=max(early_by), early_low=min(early_by), late=sum(len(_late_ticks(lg)) for lg in strict) if task.period is None else 0,
        replayed=len(_replayed(task, win)),
        lateness_ms=lateness,
        app_ms=_percentiles([t.app_ms for t in task.attempts if t.app_ms is not None]),
        lateness_samples_ms=[round(s * 1000, 3) for s in samples] if task.period is None else [],
        drift=drift_of(strict, task.period).to_dict() if task.period is not None else None,
        phases=_phases(task, win) if win.faults else {},
        lost_at_s=[[None if task.view == "across replicas" else _replica_of(task, t),
                    round(t.time - win.start, 3)] for t in lost_ticks[:40]],
        lost_by_replica=per_stream_lost if task.view == "per replica" else None,
        delivery_expected=expect.delivery if expect else None,
        notes=list(task.notes),
    )
    _verdict(result, expect)
    return result


def _replica_of(task: _Task, tick: TickRecord) -> int | None:
    for r, ledger in zip(task.stream_replicas, task.ledgers["strict"], strict=True):
        if any(t is tick for t in ledger.ticks):
            return r
    return None


def mechanism_results(history: History, scenario: Scenario, win: Window) -> list[MechanismResult]:
    """One result per job created with status 204 and per binding of ``scenario``."""
    replicas = replicas_of(history, scenario)
    results: list[MechanismResult] = []
    for job in scenario.jobs:
        if job.expect_status == 204:
            results.append(_result(_job_task(history, job, win, "job"), win, replicas,
                                   scenario.expect.get("job")))
    for binding in scenario.bindings:
        results.append(_result(_binding_task(history, binding, win, replicas), win, replicas,
                               scenario.expect.get("binding")))
    results += [_task_result(history, task, win, scenario) for task in scenario.tasks]
    return results

