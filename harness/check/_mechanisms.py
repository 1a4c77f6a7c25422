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

from harness.check._delivery import Attempt, attempt_of
from harness.check._every import chain_lateness, chain_ledger, drift_of, keyed_chain_ledger, late_fires
from harness.check._ledger import Ledger, Reading, Stream, TickRecord, period_at, read, read_both
from harness.check._result import (
    Accounting,
    Bound,
    MechanismResult,
    TaskTicks,
    TickMark,
    TickView,
)
from harness.check._window import Window
from harness.record.history import (
    ApiCallEvent,
    Created,
    History,
    JobCreated,
    JobDeleted,
    ReminderRegistered,
    ReplicaEvent,
    ReplicaStopped,
    Trigger,
    WorkflowStarted,
)
from harness.scenario.faults import FAULTS
from harness.scenario.mechanisms import APP_IDS, GATED, JOB_TRIGGERED
from harness.scenario.model import BindingSpec, Expectation, JobSpec, Scenario, TaskSpec
from harness.scenario.schedule import every_seconds, parse_due_time, parse_point_in_time, tick_times
from harness.scenario.timing import RetryPolicy, retry_policy

__all__ = ["ON_TIME_FRACTION", "PHASES", "judge", "mechanism_results", "replicas_of"]

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
    stray: int = 0  # triggers from a replica that was never started or had stopped


HTTP_APP, GRPC_APP = APP_IDS["http"], APP_IDS["grpc"]


def replicas_of(history: History, scenario: Scenario, app_id: str = HTTP_APP) -> list[int]:
    """Replicas of one app-id that the history shows started (``replica_started`` or
    ``replica_ready``, scale_out's too); a history that records no start has the scenario's.
    The gRPC app (job-sdk tasks) is numbered after the HTTP app."""
    seen = {e.replica for e in history.events_of(ReplicaEvent)
            if not isinstance(e, ReplicaStopped) and e.app_id == app_id}
    if seen or app_id != HTTP_APP:
        return sorted(seen)
    return list(range(scenario.http_replicas))


# --- Jobs ------------------------------------------------------------------------------------


def _ok(status: object) -> bool:
    return status == "OK" or (isinstance(status, int) and 200 <= status < 300)


def _sent(event: Created | ApiCallEvent) -> float:
    return event.sent_wall


@dataclass(frozen=True)
class _Creation:
    sent: float
    spec: JobSpec | None  # None: the body sent cannot be read as a job (no ticks)


def _spec_of(name: str, body: object, fallback: JobSpec) -> JobSpec | None:
    """The job a create request's body describes (its schedule, dueTime, repeats, ttl, policy)."""
    if not isinstance(body, dict):
        return None
    fields = {k: body[k] for k in ("schedule", "dueTime", "repeats", "ttl", "failurePolicy")
              if k in body and body[k] is not None}
    if not fields:
        return fallback
    if "schedule" not in fields and "dueTime" not in fields:
        return None  # Dapr refuses such a job: it never fires
    try:
        return JobSpec(name=name, **fields)
    except ValueError:
        return None


def _creations(history: History, job: JobSpec, kind: type[Created], mechanism: str,
               from_body: bool) -> list[_Creation]:
    """Every successful creation of task ``job.name``, oldest first: its ``kind`` events (a
    2xx, or the SDK's gRPC ``OK``) and, for Jobs API jobs, POST calls that succeeded (an
    overwrite replaces the job in force)."""
    made: list[tuple[float, object]] = [
        (e.sent_wall, e.spec) for e in history.events_of(kind)
        if e.name == job.name and _ok(e.status)
        and (not isinstance(e, JobCreated) or e.mechanism == mechanism)]
    if mechanism == "job":
        made += [(e.sent_wall, e.body) for e in history.events_of(ApiCallEvent)
                 if e.method == "POST" and e.job == job.name and _ok(e.status)]
    out = [_Creation(sent, _spec_of(job.name, body, job) if from_body else job)
           for sent, body in made]
    return sorted(out, key=lambda c: c.sent)


def _deletions(history: History, name: str) -> list[tuple[float, float]]:
    """(sent, answered) of every successful delete of job ``name`` (a ``job_deleted`` event
    records no send time: its answer's is taken)."""
    out = [(e.wall, e.wall) for e in history.events_of(JobDeleted)
           if e.name == name and _ok(e.status)]
    out += [(e.sent_wall, e.wall) for e in history.events_of(ApiCallEvent)
            if e.method == "DELETE" and e.job == name and _ok(e.status)]
    return sorted(out)


def _span_after(schedule: str | None, t: float, six_fields: bool) -> float:
    """How far past ``t`` the next tick of ``schedule`` can be (so a grid reaches beyond ``t``)."""
    if schedule is None:
        return 0.0
    period = every_seconds(schedule)
    if period is not None:
        return period
    nxt = tick_times(schedule, start=t, until=t + _YEAR, limit=1, six_fields=six_fields)
    return nxt[0] - t if nxt else 0.0


def _job_times(job: JobSpec, start: float, until: float) -> tuple[list[float], float | None]:
    """The ticks of ``job`` created at ``start``, up to ``until``, and when it would have fired
    next where its ``repeats`` or ``ttl`` ended it (None: it did not end before ``until``)."""
    due = parse_due_time(job.dueTime, start) if job.dueTime else None
    lo = start if due is None else min(start, due - 1.0)  # a past dueTime still fires (late)
    reach = until + _span_after(job.schedule, until, True)
    ticks = tick_times(job.schedule, start=lo, until=reach, due=due)
    kept = ticks[:job.repeats] if job.repeats is not None else ticks
    if job.ttl and job.schedule:
        expiry = parse_point_in_time(job.ttl, due if due is not None else start)
        kept = [t for t in kept if t <= expiry]
    if job.schedule is None or len(kept) == len(ticks):
        return kept, None
    return kept, ticks[len(kept)] if len(kept) < len(ticks) else None


def _job_stream(history: History, job: JobSpec, win: Window, mechanism: str,
                creations: list[_Creation], attempts: list[Attempt]) -> Stream:
    """The job's ticks under each creation in force, until the next creation or a deletion."""
    deletions = _deletions(history, job.name)
    times: list[float] = []
    policies: list[RetryPolicy] = []
    alive: list[tuple[float, float]] = []
    beyond: dict[int, float] = {}
    for n, made in enumerate(creations):
        ends = [c.sent for c in creations[n + 1:n + 2]]
        gone = [d for d in deletions if d[0] > made.sent]
        stop = min([*ends, *(d[0] for d in gone), math.inf])
        alive.append((made.sent, min([*ends, *(d[1] for d in gone), win.recording_end])))
        if made.spec is None:
            continue
        ticks, after = _job_times(made.spec, made.sent, min(stop, win.recording_end))
        ticks = [t for t in ticks if t < stop]
        if after is not None and ticks and after < stop:
            beyond[len(times) + len(ticks) - 1] = after
        policy = retry_policy(made.spec.failurePolicy)
        times += ticks
        policies += [policy] * len(ticks)
    order = sorted(range(len(times)), key=lambda k: times[k])
    index = {old: new for new, old in enumerate(order)}
    return Stream([times[k] for k in order], win.start, win.end, attempts,
                  catch_up=True, stalls=win.stalls(mechanism), alive=tuple(alive),
                  beyond={index[k]: t for k, t in beyond.items()},
                  policies=[policies[k] for k in order], recording_end=win.recording_end)


def _job_task(history: History, job: JobSpec, win: Window, mechanism: str, replicas: list[int],
              created_event: type[Created] = JobCreated) -> _Task:
    triggers = history.received(mechanism, job.name)  # type: ignore[arg-type]
    creations = _creations(history, job, created_event, mechanism, from_body=mechanism == "job")
    event_name = created_event.model_fields["event"].default
    label = job.schedule or f"dueTime {job.dueTime}"
    valid, stray = _split_strays(triggers, replicas, win)
    if not creations:
        note = f"{mechanism} {job.name!r} was not created (no {event_name} event with a 2xx status)"
        empty = {r: [Ledger([], [], win.start)] for r in _READINGS}
        return _Task(mechanism, job.name, label, "across replicas", empty, [None], triggers,
                     None, [note], stray)
    stream = _job_stream(history, job, win, mechanism, creations, [attempt_of(t) for t in valid])
    both = read_both(stream)
    return _Task(mechanism, job.name, label, "across replicas",
                 {r: [both[r]] for r in _READINGS}, [None], triggers, None, [], stray)


def _split_strays(triggers: list[Trigger], replicas: list[int],
                  win: Window) -> tuple[list[Trigger], int]:
    """Triggers from replicas that exist and were up, and how many came from elsewhere (a
    replica never started, or one already stopped for good)."""
    known = set(replicas)
    valid = [t for t in triggers if t.replica in known and not win.gone(t.replica, t.wall)]
    return valid, len(triggers) - len(valid)


# --- Bindings ---------------------------------------------------------------------------------


def _tick_at_or_before(schedule: str, t: float) -> float | None:
    for back in (60.0, 3600.0, 86400.0, 32 * 86400.0, _YEAR):
        ticks = tick_times(schedule, start=t - back, until=t, six_fields=False)
        if ticks:
            return ticks[-1]
    return None


def _seconds_only(schedule: str) -> bool:
    """A 6-field cron spec that restricts only its seconds: it repeats every minute in any
    zone (zone offsets are whole minutes), so one minute of it gives the whole grid."""
    fields = schedule.split()
    return len(fields) == 6 and all(f in ("*", "?") for f in fields[1:])


def _binding_grid(schedule: str, lo: float, hi: float) -> list[float]:
    before = _tick_at_or_before(schedule, lo)
    start = (before if before is not None else lo) - 1e-6
    until = hi + _span_after(schedule, hi, False)
    if not _seconds_only(schedule):
        return tick_times(schedule, start=start, until=until, six_fields=False)
    minute = tick_times(schedule, start=start, until=start + 60.0, six_fields=False)
    laps = math.ceil((until - start) / 60.0)
    return [t + 60.0 * lap for lap in range(laps + 1) for t in minute if t + 60.0 * lap <= until]


def _grid_start(win: Window, triggers: list[Trigger]) -> float:
    """Where a binding's grid starts: its earliest trigger, but no further back than the
    window's ``earliest`` (a trigger earlier than that stands for no tick)."""
    return max(min([win.start, *(t.wall for t in triggers)]), win.earliest)


def _binding_task(history: History, binding: BindingSpec, win: Window, replicas: list[int],
                  mechanism: str = "binding") -> _Task:
    triggers = history.received(mechanism, binding.name)  # type: ignore[arg-type]
    valid, stray = _split_strays(triggers, replicas, win)
    attempts = {r: [attempt_of(t) for t in valid if t.replica == r] for r in replicas}
    period = every_seconds(binding.schedule)
    ledgers: dict[Reading, list[Ledger]] = {r: [] for r in _READINGS}
    if period is not None:
        for r in replicas:
            ledger = chain_ledger(attempts[r], win.ready.get(r, ()), period, win.first(r),
                                  win.last(r), min(win.recording_end, win.stopped.get(r, math.inf)),
                                  since=win.earliest)
            for reading in _READINGS:
                ledgers[reading].append(ledger)
        return _Task(mechanism, binding.name, binding.schedule, "per replica", ledgers,
                     list(replicas), triggers, period, [], stray)
    times = _binding_grid(binding.schedule, _grid_start(win, valid), win.recording_end)
    for r in replicas:
        ledger = read(Stream(times, win.first(r), win.last(r), attempts[r]), "strict")
        for reading in _READINGS:  # no catch-up, no retry: both readings are one
            ledgers[reading].append(ledger)
    return _Task(mechanism, binding.name, binding.schedule, "per replica", ledgers,
                 list(replicas), triggers, None, [], stray)


def _gated_task(history: History, binding: BindingSpec, win: Window, replicas: list[int],
                mechanism: str) -> _Task:
    """A binding whose handler takes a lock or claims the tick: the work is judged across
    replicas, on the binding's grid (every sidecar's attempt at a tick stands for that tick)."""
    triggers = history.received(mechanism, binding.name)  # type: ignore[arg-type]
    valid, stray = _split_strays(triggers, replicas, win)
    times = _binding_grid(binding.schedule, _grid_start(win, valid), win.recording_end)
    ledger = read(Stream(times, win.start, win.end, [attempt_of(t) for t in valid]), "strict")
    return _Task(mechanism, binding.name, binding.schedule, "across replicas",  # one reading
                 {r: [ledger] for r in _READINGS}, [None], triggers, None, [], stray)


def _workflow_task(history: History, task: TaskSpec, win: Window, replicas: list[int]) -> _Task:
    """Iterations of a workflow loop across replicas, keyed by iteration (``Trigger.tick``)."""
    triggers = history.received("workflow", task.name)
    valid, stray = _split_strays(triggers, replicas, win)
    started = _creations(history, JobSpec(name=task.name), WorkflowStarted, "workflow",
                         from_body=False)
    period = every_seconds(task.schedule) or 0.0
    if not started or not period:
        note = f"workflow {task.name!r} was not started (no workflow_started event with a 2xx status)"
        empty = {r: [Ledger([], [], win.start)] for r in _READINGS}
        return _Task("workflow", task.name, task.schedule, "across replicas", empty, [None],
                     triggers, period or None, [note], stray)
    ledger = keyed_chain_ledger([(t.tick, attempt_of(t)) for t in valid], started[0].sent,
                                period, win.start, win.end, win.recording_end, since=win.earliest)
    return _Task("workflow", task.name, task.schedule, "across replicas",
                 {r: [ledger] for r in _READINGS}, [None], triggers, period, [], stray)


_Judged = tuple[_Task, list[int], Expectation | None]  # a task, its replicas, its expectation


def _task_of(history: History, task: TaskSpec, win: Window, scenario: Scenario) -> _Judged:
    expect = scenario.expect.get(task.mechanism)
    http = replicas_of(history, scenario)
    if task.mechanism in GATED:
        spec = BindingSpec(name=task.name, schedule=task.schedule)
        return _gated_task(history, spec, win, http, task.mechanism), http, expect
    if task.mechanism == "workflow":
        return _workflow_task(history, task, win, http), http, expect
    job = JobSpec(name=task.name, schedule=task.schedule)
    if task.mechanism == "reminder":
        return _job_task(history, job, win, "reminder", http, ReminderRegistered), http, expect
    grpc = replicas_of(history, scenario, GRPC_APP)
    return _job_task(history, job, win, "job-sdk", grpc), grpc, expect


# --- Views and tallies ------------------------------------------------------------------------


def _judged(ledgers: Sequence[Ledger]) -> list[TickRecord]:
    return [t for ledger in ledgers for t in ledger.judged]


def _lost(tick: TickRecord, gated: bool) -> bool:
    return tick.deliveries == 0 if gated else not tick.attempts


@dataclass(frozen=True)
class _Counts:
    """One reading's tallies over groups of records that stand for one tick (a group: one tick
    of a stream, or one global tick across replicas)."""

    ticks: int = 0
    once: int = 0
    duplicated: int = 0
    extra: int = 0
    lost: int = 0
    undelivered: int = 0
    abandoned: int = 0


def _counts(groups: Sequence[Sequence[TickRecord]], gated: bool) -> _Counts:
    sent = [sum(t.sent for t in g) for g in groups]
    delivered = [sum(t.deliveries for t in g) for g in groups]
    lost = [all(_lost(t, gated) for t in g) for g in groups]
    return _Counts(
        ticks=len(groups), once=sum(s == 1 and d > 0 for s, d in zip(sent, delivered, strict=True)),
        duplicated=sum(s > 1 for s in sent), extra=sum(max(0, s - 1) for s in sent),
        lost=sum(lost),
        undelivered=sum(d == 0 and not gone for d, gone in zip(delivered, lost, strict=True)),
        abandoned=sum(any(t.abandoned for t in g) for g in groups))


def _view(counts: dict[Reading, _Counts]) -> TickView:
    kind, strict = counts["kind"], counts["strict"]

    def bound(a: int, b: int) -> Bound:
        return Bound(min(a, b), max(a, b))

    return TickView(ticks=strict.ticks, once=bound(strict.once, kind.once),
                    duplicated=bound(kind.duplicated, strict.duplicated),
                    extra=bound(kind.extra, strict.extra), lost=bound(kind.lost, strict.lost),
                    undelivered=strict.undelivered, abandoned=bound(kind.abandoned, strict.abandoned))


def _global_counts(task: _Task, reading: Reading) -> _Counts:
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


def _replica_counts(task: _Task, reading: Reading, win: Window, replicas: list[int]) -> _Counts:
    """Judged (replica, tick) pairs; for an across-replicas stream, each replica's share."""
    gated = task.mechanism in GATED
    if task.view == "per replica":
        return _counts([[t] for t in _judged(task.ledgers[reading])], gated)
    spans = {r: (win.first(r), win.last(r)) for r in replicas}
    deliveries: list[int] = []
    attempted: list[bool] = []
    for tick in _judged(task.ledgers[reading]):
        delivered: Counter[int] = Counter(a.replica for a in tick.attempts if a.delivered)
        tried = {a.replica for a in tick.attempts if not a.gated_out}
        for r, (lo, hi) in spans.items():
            if lo <= tick.time < hi:
                deliveries.append(delivered[r])
                attempted.append(r in tried)
    lost = [d == 0 if gated else not a for d, a in zip(deliveries, attempted, strict=True)]
    return _Counts(
        ticks=len(deliveries), once=sum(d == 1 for d in deliveries),
        duplicated=sum(d > 1 for d in deliveries), extra=sum(max(0, d - 1) for d in deliveries),
        lost=sum(lost),
        undelivered=sum(d == 0 and not gone for d, gone in zip(deliveries, lost, strict=True)))


def _accounting(task: _Task) -> Accounting:
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
    return Accounting(judged, before, after, early, unexplained)


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    p50, p90, p99 = np.percentile(np.array(values), [50, 90, 99], method="linear")
    return {"p50": round(float(p50), 3), "p90": round(float(p90), 3),
            "p99": round(float(p99), 3), "max": round(float(max(values)), 3)}


def _lateness(ledger: Ledger) -> list[float]:
    return [t.first - t.time for t in ledger.judged if t.first is not None]


def _late_ticks(ledger: Ledger) -> list[TickRecord]:
    """Judged ticks whose first attempt came later than ``ON_TIME_FRACTION`` of a period."""
    times = [t.time for t in ledger.ticks]
    return [t for k, t in enumerate(ledger.ticks) if t.judged and t.first is not None
            and t.first - t.time > ON_TIME_FRACTION * period_at(times, k)]


def _replayed(task: _Task, win: Window) -> set[int]:
    """Late ticks of a scheduler-backed task inside a stall: held, then replayed (``id``s)."""
    if task.mechanism not in JOB_TRIGGERED:
        return set()
    stalls = win.stalls(task.mechanism)
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
        tally["duplicated"] += int(tick.sent > 1)
        tally["replayed"] += int(id(tick) in replayed)
    return out


def _early(task: _Task, reading: Reading) -> int:
    ledgers = task.ledgers[reading]
    return (sum(t.early for t in _judged(ledgers))
            + sum(len(lg.early) + lg.maybe_early for lg in ledgers))


def _slow_fires(task: _Task, win: Window) -> int:
    """``@every`` binding fires later than the chain allows, where no fault on their replica
    (down, paused, slow) explains it."""
    if task.period is None or task.mechanism == "workflow":
        return 0
    period = task.period
    return sum(1 for r, ledger in zip(task.stream_replicas, task.ledgers["strict"], strict=True)
               for t in late_fires(ledger, period)
               if not any(FAULTS[f.kind].takes_replica_down and f.replica == r
                          and f.start - period <= t.time <= f.recovery_end + period
                          for f in win.faults))


# --- Results and verdicts ---------------------------------------------------------------------


def _reading_values(values: dict[Reading, int]) -> str:
    return f"{values['kind']} under the kind reading, {values['strict']} under the strict one"


def _verdict(result: MechanismResult, expect: Expectation | None,
             counts: dict[Reading, _Counts], early: dict[Reading, int], slow: int) -> None:
    """Each reading judged on its own: the run fails when every reading breaks the expectation,
    is ambiguous when some reading does, and passes when none does."""
    if expect is None:
        result.verdict = "n/a"
        return
    suffix = " (per replica)" if expect.delivery == "once_per_replica" else ""
    head = list(result.notes)
    if counts["strict"].ticks < expect.min_ticks:
        head.append(f"window too short: {counts['strict'].ticks} ticks judged{suffix}, "
                    f"need at least {expect.min_ticks}")
    limits: list[tuple[str, dict[Reading, int], int, str]] = [
        ("lost", {r: c.lost for r, c in counts.items()}, expect.max_lost, "lost {} ticks"),
        ("abandoned", {r: c.abandoned for r, c in counts.items()}, expect.max_lost,
         "{} ticks failed and were never retried as their failure policy requires"),
    ]
    if (allowed := expect.duplicates_allowed) is not None:  # at_least_once: uncapped unless set
        limits.append(("duplicated", {r: c.duplicated for r, c in counts.items()}, allowed,
                       "duplicated {} ticks"))
    limits.append(("early", early, expect.max_early, "{} early attempts"))
    broken: dict[Reading, bool] = dict.fromkeys(counts, False)
    soft: list[str] = []
    for _, values, allowed, text in limits:
        over = {r: v > allowed for r, v in values.items()}
        if not any(over.values()):
            continue
        for r in over:
            broken[r] = broken[r] or over[r]
        low, high = min(values.values()), max(values.values())
        shown = text.format(high if low == high else f"{low}-{high}")
        detail = "" if low == high else f" ({'ambiguous: ' if not all(over.values()) else ''}" \
                                        f"{_reading_values(values)})"
        soft.append(f"{shown}{detail}, allowed {allowed}" + ("" if text.startswith("{} early") else suffix))
    tail: list[str] = []
    if result.accounting.unexplained:
        tail.append(f"{result.accounting.unexplained} attempts no tick explains")
    if slow:
        tail.append(f"{slow} fires later than a quarter period after their due time "
                    "(the timer ran slow), allowed 0")
    if expect.triggers is not None and result.triggers != expect.triggers:
        tail.append(f"{result.triggers} triggers, expected exactly {expect.triggers}")
    result.reasons = head + soft + tail
    result.verdict = ("fail" if head or tail or all(broken.values())
                      else "ambiguous" if soft else "pass")


def _result(task: _Task, win: Window, replicas: list[int], expect: Expectation | None) -> MechanismResult:
    gated = task.mechanism in GATED
    strict = task.ledgers["strict"]
    judged = _judged(strict)
    chain = task.period is not None
    if chain:
        samples = [late for ledger in strict for late in chain_lateness(ledger)]
        late = sum(len(late_fires(lg, task.period or 0.0)) for lg in strict)
    else:
        samples = [late for ledger in strict for late in _lateness(ledger)]
        late = sum(len(_late_ticks(lg)) for lg in strict)
    lateness = _percentiles([s * 1000 for s in samples])
    worst_late = [x for ledger in task.ledgers["kind"] for x in _lateness(ledger)]
    if not chain and worst_late:
        lateness["max_any_reading"] = round(max(max(worst_late), max(samples, default=0)) * 1000, 3)
    early = {r: _early(task, r) for r in _READINGS}
    streams = _replica_of(task)
    kind_streams = {id(t): r for r, lg in zip(task.stream_replicas, task.ledgers["kind"], strict=True)
                    for t in lg.ticks}
    strict_lost = _lost_at(strict, streams, gated, win)
    one_reading = all(a is b for a, b in zip(task.ledgers["kind"], strict, strict=True))
    kind_lost = (strict_lost if one_reading
                 else _lost_at(task.ledgers["kind"], kind_streams, gated, win))
    per_stream_lost = {r: sum(_lost(t, gated) for t in lg.judged)
                       for r, lg in zip(task.stream_replicas, strict, strict=True) if r is not None}
    across = {"strict": _global_counts(task, "strict")}
    across["kind"] = across["strict"] if one_reading else _global_counts(task, "kind")
    per_replica = {"strict": _replica_counts(task, "strict", win, replicas)}
    per_replica["kind"] = (per_replica["strict"] if one_reading
                           else _replica_counts(task, "kind", win, replicas))
    result = MechanismResult(
        mechanism=task.mechanism, name=task.name, schedule=task.schedule, view=task.view,
        replicas=len(replicas), window_s=round(win.length_s, 3), grace_s=round(win.grace_s, 3),
        triggers=len(task.attempts),
        per_replica=dict(Counter(t.replica for t in task.attempts)),
        accounting=_accounting(task),
        across=_view(across), per_replica_view=_view(per_replica),
        attempts=sum(len(t.attempts) for t in judged),
        deliveries=sum(t.deliveries for t in judged), failed=sum(t.failed for t in judged),
        retries=sum(t.retries for t in judged), gated_out=sum(t.gated_out for t in judged),
        early=max(early.values()), early_low=min(early.values()), late=late,
        replayed=len(_replayed(task, win)),
        lateness_ms=lateness,
        lateness_samples_ms=[round(s * 1000, 3) for s in samples],
        drift=drift_of(strict, task.period).to_dict() if task.period is not None else None,
        phases=_phases(task, win) if win.faults else {},
        lost_at_s=strict_lost,
        lost_at_s_kind=None if kind_lost == strict_lost else kind_lost,
        undelivered_at_s=[round(t.time - win.start, 3) for t in judged
                          if t.attempts and not t.deliveries and not t.abandoned and not gated],
        lost_by_replica=per_stream_lost if task.view == "per replica" else None,
        delivery_expected=expect.delivery if expect else None,
        notes=list(task.notes),
    )
    view = per_replica if expect is not None and expect.delivery == "once_per_replica" else across
    _verdict(result, expect, view, early, _slow_fires(task, win))
    return result


def _lost_at(ledgers: Sequence[Ledger], streams: dict[int, int | None], gated: bool,
             win: Window) -> list[list[float | int | None]]:
    return [[streams[id(t)], round(t.time - win.start, 3)] for t in _judged(ledgers)
            if _lost(t, gated)]


def _replica_of(task: _Task) -> dict[int, int | None]:
    """``id`` of each strict tick record -> the replica of its stream."""
    return {id(t): r for r, ledger in zip(task.stream_replicas, task.ledgers["strict"], strict=True)
            for t in ledger.ticks}


def _judged_tasks(history: History, scenario: Scenario, win: Window) -> list[_Judged]:
    """Every job created with status 204, binding and task of ``scenario``, with its tick model."""
    replicas = replicas_of(history, scenario)
    judged: list[_Judged] = [(_job_task(history, job, win, "job", replicas), replicas,
                              scenario.expect.get("job"))
                             for job in scenario.jobs if job.expect_status == 204]
    judged += [(_binding_task(history, binding, win, replicas), replicas,
                scenario.expect.get("binding")) for binding in scenario.bindings]
    return judged + [_task_of(history, task, win, scenario) for task in scenario.tasks]


def _tick_marks(task: _Task) -> TaskTicks:
    """Every tick of ``task`` as the two readings placed its attempts (strict: the verdict's)."""
    gated = task.mechanism in GATED
    marks: list[TickMark] = []
    for replica, strict, kind in zip(task.stream_replicas, task.ledgers["strict"],
                                     task.ledgers["kind"], strict=True):
        late = {id(t) for t in _late_ticks(strict)}
        for tick, other in zip(strict.ticks, kind.ticks):
            lost = sorted((int(_lost(tick, gated)), int(_lost(other, gated))))
            dup = sorted((int(tick.sent > 1), int(other.sent > 1)))
            marks.append(TickMark(
                time=tick.time, replica=replica, judged=tick.judged,
                attempts=tuple((a.wall, a.replica, a.delivered) for a in tick.attempts),
                deliveries=tick.deliveries, lost=Bound(*lost), duplicated=Bound(*dup),
                late=id(tick) in late))
    early = tuple((a.wall, a.replica) for ledger in task.ledgers["strict"] for a in ledger.early)
    return TaskTicks(task.mechanism, task.name, task.schedule, task.view,
                     tuple(sorted(marks, key=lambda m: m.time)), early)


def judge(history: History, scenario: Scenario,
          win: Window) -> tuple[list[MechanismResult], list[TaskTicks]]:
    """One result per task of ``scenario`` and, in the same order, its ticks."""
    judged = _judged_tasks(history, scenario, win)
    return ([_result(task, win, replicas, expect) for task, replicas, expect in judged],
            [_tick_marks(task) for task, _, _ in judged])


def mechanism_results(history: History, scenario: Scenario, win: Window) -> list[MechanismResult]:
    """One result per job created with status 204 and per binding and task of ``scenario``."""
    return judge(history, scenario, win)[0]
