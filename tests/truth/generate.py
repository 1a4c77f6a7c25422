"""Ground-truth histories: Hypothesis strategies that draw a scenario, simulate the reference
model (tests/truth/model.py) over it, render the history the harness would record (the JSON
record format of harness/record/history.py: triggers and events, wall and mono clocks), then
inject anomalies from a catalog. Every rendered trigger keeps its true label beside the history
(never in it), and the example carries the true counts and whether they break the scenario's
expectation (or, for a fault scenario, Dapr's promise under its faults).

The anomaly catalog (``ANOMALIES``): lost, duplicated, early, late, a retry beyond the
policy's count, a retry sooner than its interval, a fire after deletion, past ``repeats``, past
``ttl``, a fire from a stopped replica, from a replica that never existed, a wall-clock step
(wall jumps, mono continuous); and the record damage (``DAMAGE``): a torn last line, a garbled
field.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from harness.apps.gates import tick_key
from harness.apps.recorder import outcome_of
from harness.record.history import Event, History, Trigger
from harness.scenario.faults import FAULTS
from harness.scenario.mechanisms import APP_IDS, MECHANISMS, REDIS_BACKED
from harness.scenario.model import (
    ApiCall,
    AppHandler,
    AppSpec,
    BindingSpec,
    ConstantPolicy,
    Expectation,
    FailurePolicy,
    FaultSpec,
    JobSpec,
    Scenario,
    TaskSpec,
)
from harness.scenario.timing import grace_period
from tests.truth.model import (
    LEASE_S,
    REMINDER_POLICY,
    Attempt,
    Counts,
    Delivery,
    Handler,
    JobSegment,
    Policy,
    ReplicaLife,
    Schedule,
    Span,
    Task,
    Tick,
    World,
    breaks_expectation,
    breaks_promise,
    policy_of,
    simulate,
    tally,
)

__all__ = ["ANOMALIES", "APPLIES", "BREAKING", "DAMAGE", "Generated", "Label", "damaged",
           "generated", "render_lines"]

T0 = 1_764_000_000.0  # 2025-11-24T16:00:00Z: a whole minute, so every */N grid lines up with it
MONO_AT_T0 = 50.0
ALL = frozenset(MECHANISMS)
JOB_LIKE = frozenset({"job", "job-sdk", "reminder"})
GATED = frozenset({"binding-lock", "binding-claim"})

# Which anomaly applies to which mechanism (the rest cannot show it).
APPLIES: dict[str, frozenset[str]] = {
    "lost": ALL,
    "duplicated": ALL,
    "early": ALL - GATED,  # a gated call's tick key is the tick at or before it: never early
    "late": ALL,
    "retry_beyond": JOB_LIKE,
    "retry_sooner": JOB_LIKE,
    "after_delete": frozenset({"job"}),
    "past_repeats": frozenset({"job"}),
    "past_ttl": frozenset({"job"}),
    "stopped_replica": ALL,
    "unknown_replica": ALL,
    "clock_step": ALL - GATED,  # the app derives a gated tick key from its wall clock
}
ANOMALIES: tuple[str, ...] = tuple(APPLIES)
# Anomalies whose truth always breaks the expectation (the others only test the counts).
BREAKING = ("lost", "duplicated", "early", "retry_beyond", "retry_sooner", "after_delete",
            "past_repeats", "past_ttl", "stopped_replica", "unknown_replica")
DAMAGE = ("torn", "garbled-nan", "garbled-string", "garbled-null-status", "garbled-missing",
          "garbled-zero")


@dataclass(frozen=True)
class Label:
    """The true label of one rendered trigger (kept beside the history, never in it)."""

    role: str  # first, retry, duplicate, early, impossible
    due: float | None
    legit: bool
    why: str


@dataclass
class Generated:
    scenario: Scenario
    history: History
    labels: list[Label]
    truth: Counts
    clean: Counts
    anomaly: str | None
    breaks: list[str]
    mechanism: str
    name: str
    per_replica: bool  # the binding's view: one tick per sidecar
    story: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return "Generated(\n" + self.explain(limit=60) + "\n)"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # Hypothesis prints this
        printer.text(repr(self))

    def explain(self, limit: int = 400) -> str:
        lines = [f"{self.mechanism} {self.name!r}, {self.scenario.replicas} replica(s), "
                 f"window {self.scenario.window_s:.2f}s, anomaly {self.anomaly}",
                 f"truth {self.truth}", f"breaks {self.breaks}", *self.story]
        for fault in self.scenario.faults:
            lines.append(f"  fault {fault.kind} at {fault.at_s}s for {fault.duration_s} "
                         f"replica {fault.replica}")
        if self.scenario.jobs:
            lines.append(f"  job {self.scenario.jobs[0].body(now=T0)}")
        for call in self.scenario.calls:
            lines.append(f"  call {call.method} at {call.at_s}s {call.body}")
        for event in self.history.events:
            if event.event.startswith(("fault", "replica_stopped", "window", "recording")):
                lines.append(f"  {event.event} wall {event.wall - T0:8.3f} {event.attrs}")
        for trigger, label in list(zip(self.history.triggers, self.labels))[:limit]:
            lines.append(f"  r{trigger.replica} wall {trigger.wall - T0:8.3f} mono "
                         f"{trigger.mono - MONO_AT_T0:8.3f} status {trigger.status} "
                         f"tick {trigger.tick} work {trigger.work}: {label.role}"
                         f" (due {None if label.due is None else round(label.due - T0, 3)})"
                         f"{'' if label.legit else ' ANOMALY'} {label.why}")
        return "\n".join(lines)


# ============================================================================================
# Drawing a scenario
# ============================================================================================

@dataclass
class _Draft:
    mechanism: str
    name: str
    replicas: int
    schedule: str | None
    window: float  # nominal, seconds
    handler: Handler
    job: JobSpec | None = None
    job_ops: list[tuple[str, float, dict[str, Any] | None]] = field(default_factory=list)
    faults: list[FaultSpec] = field(default_factory=list)
    delivery: str = "exactly_once"

    @property
    def period(self) -> float:
        if self.schedule is None:
            return 1.0
        return Schedule.parse(self.schedule).period


def _schedule(draw: st.DrawFn, mechanism: str, period: int) -> str:
    forms = ["every", "cron"]
    if mechanism in ("reminder", "workflow"):
        forms = ["every"]
    if mechanism in GATED:
        forms = ["cron"]
    form = draw(st.sampled_from(forms))
    return f"@every {period}s" if form == "every" else f"*/{period} * * * * *"


def _policy_choice(draw: st.DrawFn, period: int, retrying: bool) -> FailurePolicy | None:
    """A failure policy; ``retrying``: one that retries, with every retry of a tick done well
    before the next tick is due (so the policy anomalies can be told from the next tick)."""
    if retrying:
        options: list[FailurePolicy | None] = [
            FailurePolicy(drop={}),
            FailurePolicy(constant=ConstantPolicy(interval="500ms", maxRetries=1)),
            FailurePolicy(constant=ConstantPolicy(interval="500ms", maxRetries=2)),
            FailurePolicy(constant=ConstantPolicy(interval="1s", maxRetries=1)),
        ]
        if period >= 5:
            options += [None, FailurePolicy(constant=ConstantPolicy(interval="1s", maxRetries=2))]
        return draw(st.sampled_from(options))
    return draw(st.sampled_from([
        None, FailurePolicy(drop={}),
        FailurePolicy(constant=ConstantPolicy(interval="500ms", maxRetries=2)),
        FailurePolicy(constant=ConstantPolicy(interval="1s", maxRetries=0)),
        FailurePolicy(constant=ConstantPolicy(interval="2s", maxRetries=1)),
        FailurePolicy(constant=ConstantPolicy(interval="1s")),
    ]))


def _handler(draw: st.DrawFn, mechanism: str, failing: bool, fast: bool) -> Handler:
    """The scenario's answer rule. Bindings' answers are ignored, so they get 200."""
    if mechanism in ("binding", "workflow") or mechanism in GATED:
        return Handler(200, 0.0)
    if failing:
        statuses = {"job": [500, 503], "job-sdk": [500], "reminder": [500, 404, 204]}[mechanism]
    else:
        statuses = {"job": [200, 200, 204, 404, 500], "job-sdk": [200, 200, 500],
                    "reminder": [200, 200, 500]}[mechanism]
    status = draw(st.sampled_from(statuses))
    delay = 0.0 if fast else draw(st.sampled_from([0.0, 0.0, 0.2, 1.5]))
    return Handler(status, delay)


@st.composite
def _draft(draw: st.DrawFn, anomaly: str | None, mechanism: str | None,
           faults: bool) -> _Draft:
    mech = mechanism or draw(st.sampled_from(sorted(APPLIES[anomaly] if anomaly else ALL)))
    policy_anomaly = anomaly in ("retry_beyond", "retry_sooner")
    period = draw(st.sampled_from([2, 3, 5] if policy_anomaly else [1, 2, 3, 4, 5]))
    if policy_anomaly and mech in ("job-sdk", "reminder"):
        period = 5  # Dapr's default policy: 3 retries 1 s apart fit in one period
    replicas = draw(st.integers(2 if anomaly == "stopped_replica" else 1, 10))
    ticks = draw(st.integers(6, 12))
    draft = _Draft(mech, f"t-{mech}", replicas, _schedule(draw, mech, period),
                   ticks * period + 0.5 * period,
                   _handler(draw, mech, policy_anomaly, fast=policy_anomaly))
    if mech == "job":
        _draw_job(draw, draft, anomaly, period)
    if anomaly == "stopped_replica":
        draft.faults.append(FaultSpec(kind="scale_in", at_s=round(draft.window * 0.3, 3),
                                      replica=draw(st.integers(0, replicas - 1))))
    elif faults and not policy_anomaly and anomaly not in ("past_repeats", "past_ttl"):
        draft.faults += draw(_fault_list(draft))
    draft.delivery = draw(st.sampled_from(
        ["once_per_replica"] if mech == "binding" else ["exactly_once", "at_least_once"]))
    return draft


def _draw_job(draw: st.DrawFn, draft: _Draft, anomaly: str | None, period: int) -> None:
    policy_anomaly = anomaly in ("retry_beyond", "retry_sooner")
    policy = _policy_choice(draw, period, policy_anomaly)
    if anomaly == "retry_sooner" and policy is not None and policy.drop is not None:
        policy = FailurePolicy(constant=ConstantPolicy(interval="1s", maxRetries=1))
    fields: dict[str, Any] = {"name": draft.name, "schedule": draft.schedule,
                              "data": {"action": "cleanup", "version": 1},
                              "failurePolicy": policy}
    if anomaly == "past_repeats":
        fields["repeats"] = draw(st.integers(2, 4))
    elif anomaly == "past_ttl":
        fields["ttl"] = f"{draw(st.integers(2, 4)) * period + 1}s"
    elif anomaly is None or not policy_anomaly:
        extra = draw(st.sampled_from(["none", "none", "due", "repeats", "ttl", "oneshot"]))
        if extra == "due":
            fields["dueTime"] = f"{draw(st.integers(1, 3))}s"
        elif extra == "repeats":
            fields["repeats"] = draw(st.integers(1, 8))
        elif extra == "ttl":
            fields["ttl"] = f"{draw(st.integers(3, 8)) * period + 1}s"
        elif extra == "oneshot":
            fields["schedule"], fields["dueTime"] = None, f"{draw(st.integers(1, 3))}s"
            draft.schedule = None
    draft.job = JobSpec(**fields)
    op = "delete" if anomaly == "after_delete" else (
        "none" if anomaly in ("past_repeats", "past_ttl") or policy_anomaly or draft.schedule is None
        else draw(st.sampled_from(["none", "none", "delete", "recreate", "overwrite"])))
    if op == "none":
        return
    at = round(draw(st.floats(0.3, 0.6)) * draft.window, 2)
    if op in ("delete", "recreate"):
        draft.job_ops.append(("DELETE", at, None))
    if op == "recreate":
        draft.job_ops.append(("POST", round(at + draw(st.floats(1.0, 3.0)), 2),
                              {"schedule": draft.schedule, "data": {"action": "cleanup", "version": 2}}))
    if op == "overwrite":
        other = draw(st.sampled_from([p for p in (1, 2, 3, 4, 5) if p != period]))
        draft.job_ops.append(("POST", at, {"schedule": f"@every {other}s", "overwrite": True,
                                           "data": {"action": "cleanup", "version": 2}}))


_REPLICA_KINDS = ("kill_daprd", "kill_app", "app_down", "pause_replica")


@st.composite
def _fault_list(draw: st.DrawFn, draft: _Draft) -> list[FaultSpec]:
    kinds = [*_REPLICA_KINDS, "kill_scheduler", "stop_scheduler"]
    if MECHANISMS[draft.mechanism].over_http:
        kinds += ["app_failing", "app_slow"]
    if draft.mechanism in REDIS_BACKED:
        kinds.append("restart_redis")
    if draft.replicas >= 2:
        kinds.append("scale_in")
    if draft.mechanism != "job-sdk":
        kinds.append("scale_out")
    count = draw(st.sampled_from([0, 0, 1, 1, 2]))
    chosen: list[FaultSpec] = []
    used_replicas: set[int] = set()
    for kind in draw(st.lists(st.sampled_from(sorted(kinds)), min_size=count, max_size=count)):
        if kind in ("kill_scheduler", "stop_scheduler") and any(
                f.kind in ("kill_scheduler", "stop_scheduler") for f in chosen):
            continue
        spec: dict[str, Any] = {"kind": kind,
                                "at_s": round(draw(st.floats(1.0, draft.window * 0.35)), 2)}
        if kind == "kill_scheduler":  # the replay after the lease must land inside the window
            draft.window = max(draft.window, spec["at_s"] + LEASE_S[1] + 3 * draft.period)
        if FAULTS[kind].needs_duration:
            spec["duration_s"] = float(draw(st.integers(1, 5)))
        if FAULTS[kind].target == "replica":
            free = [r for r in range(draft.replicas) if r not in used_replicas]
            if not free or (kind == "scale_in" and len(free) < 2):
                continue
            spec["replica"] = draw(st.sampled_from(free))
            used_replicas.add(spec["replica"])
        chosen.append(FaultSpec(**spec))
    return chosen


# ============================================================================================
# The world and the task the model delivers
# ============================================================================================

def _world(draft: _Draft, start: float, rng: random.Random) -> tuple[World, list[Event]]:
    app = MECHANISMS[draft.mechanism].app
    replicas = {}
    events: list[Event] = []
    for i in range(draft.replicas):
        started = start - 6.0 + 0.02 * i
        life = ReplicaLife(i, app, started, start - 3.0 + rng.uniform(0, 0.5), 20000 + 10 * i)
        replicas[i] = life
        events.append(_ev("replica_started", started, replica=i, pid=life.pid - 1,
                          app_pid=life.pid, app_id=APP_IDS[app]))
        events.append(_ev("replica_ready", life.ready, replica=i, app_id=APP_IDS[app]))
    world = World(replicas, rng=rng)
    for fault in draft.faults:
        events += _apply_fault(world, fault, start + fault.at_s, app, rng)
    return world, events


def _apply_fault(world: World, fault: FaultSpec, at: float, app: str,
                 rng: random.Random) -> list[Event]:
    """Carry a fault out on the model's world as harness/drive/nemesis.py does on the real one;
    returns the events the nemesis writes."""
    kind = fault.kind
    attrs: dict[str, Any] = {"fault": kind}
    end = at + (fault.duration_s if fault.duration_s is not None else rng.uniform(1.0, 2.5))
    extra: list[Event] = []
    if FAULTS[kind].target == "replica" and kind != "scale_in":
        life = world.replicas[fault.replica or 0]
        attrs.update(target=f"replica-{life.index}", replica=life.index)
        state = {"kill_daprd": "sidecar_down", "kill_app": "app_down", "app_down": "app_down",
                 "pause_replica": "paused", "app_failing": "failing", "app_slow": "slow"}[kind]
        life.spans.append(Span(at, end, state, kind))  # type: ignore[arg-type]
        recovered = end + rng.uniform(0.05, 0.5)
    elif kind == "scale_in":
        life = world.replicas[fault.replica or 0]
        attrs.update(target=f"replica-{life.index}", replica=life.index)
        life.stopped = end = at + rng.uniform(0.2, 1.0)
        extra.append(_ev("replica_stopped", end, replica=life.index))
        recovered = end + 0.1
    elif kind == "scale_out":
        index = len(world.replicas)
        attrs.update(target=f"replica-{index}", replica=index)
        life = ReplicaLife(index, app, at + 0.05, at + rng.uniform(2.0, 4.0), 20000 + 10 * index)
        world.replicas[index] = life
        extra += [_ev("replica_started", life.started, replica=index, pid=life.pid - 1,
                      app_pid=life.pid, app_id=APP_IDS[app]),
                  _ev("replica_ready", life.ready, replica=index, app_id=APP_IDS[app])]
        end = life.ready + 0.01
        recovered = end + 0.2
    elif kind in ("kill_scheduler", "stop_scheduler"):
        attrs.update(target="scheduler", member=0)
        if kind == "kill_scheduler":
            end = at + rng.uniform(0.5, 1.5)
            resume = at + rng.uniform(*LEASE_S)
        else:
            resume = end + rng.uniform(0.2, 1.5)
        world.scheduler_down.append((at, resume, kind))
        # the sidecars reconnect once it leads again (fault_kill_scheduler.jsonl: 28.28 s for a
        # replay at 28.12 s)
        recovered = max(end, resume) + rng.uniform(0.05, 0.3)
    else:  # restart_redis
        attrs.update(target="redis")
        world.redis_down.append((at, end))
        recovered = end + 0.1
    return [_ev("fault_start", at, **attrs), *extra, _ev("fault_end", end, **attrs),
            _ev("fault_recovered", recovered, **attrs, seconds=round(recovered - end, 3))]


def _task(draft: _Draft, start: float, rng: random.Random) -> tuple[Task, list[Event], list[ApiCall]]:
    """The task the model delivers, the events its creation writes and the scenario's calls."""
    mech, name = draft.mechanism, draft.name
    if mech == "job":
        return _job_task(draft, start, rng)
    sent = start + 0.05
    if mech == "job-sdk":
        created = sent + rng.uniform(0.001, 0.015)
        data = {"action": "cleanup"}
        task = Task(mech, name, segments=(JobSegment(created, draft.schedule, payload=data),),
                    handler=draft.handler, data=data)
        return task, [_ev("job_created", created + rng.uniform(0.002, 0.01), name=name,
                          mechanism="job-sdk", spec={"schedule": draft.schedule, "data": data},
                          sent_wall=sent, status="OK", response=None,
                          address="127.0.0.1:35000")], []
    if mech == "reminder":
        created = sent + rng.uniform(0.001, 0.015)
        period = draft.period
        # harness/apps/actors.py reminder_body: dueTime = period = the @every duration.
        seg = JobSegment(created, f"@every {period:g}s", due_s=period, policy=REMINDER_POLICY,
                         payload={"data": None, "dueTime": "", "period": ""})
        spec = {"dueTime": f"{period:g}s", "period": f"{period:g}s", "data": None}
        return (Task(mech, name, segments=(seg,), handler=draft.handler),
                [_ev("reminder_registered", created + 0.005, name=name, spec=spec, sent_wall=sent,
                     status=204, response="", actor_type="CleanupActor", actor_id="cleanup")], [])
    if mech == "workflow":
        spec = {"task": name, "period_s": draft.period, "data": None, "iteration": 1}
        return (Task(mech, name, schedule=draft.schedule, start=sent, handler=draft.handler),
                [_ev("workflow_started", sent + 0.01, name=name, workflow="cleanup_loop",
                     spec=spec, sent_wall=sent, status=202,
                     response=json.dumps({"instanceID": name}))], [])
    return Task(mech, name, schedule=draft.schedule, handler=draft.handler), [], []


def _job_task(draft: _Draft, start: float, rng: random.Random) -> tuple[Task, list[Event], list[ApiCall]]:
    """A job's lives in the Scheduler: created at the window's start (a ``jobs`` entry), then
    the scenario's calls: DELETE ends the life; POST creates a new one (after a delete) or,
    with ``overwrite: true``, replaces it (counters.go handleInformed)."""
    assert draft.job is not None
    job = draft.job
    sent = start + job.at_s
    created = sent + rng.uniform(0.001, 0.015)
    body = job.body(now=sent)
    events = [_ev("job_created", created + rng.uniform(0.002, 0.01), name=job.name, api="v1.0",
                  spec=body, sent_wall=sent, status=204, response="")]
    segments = [_segment(created, body)]
    calls = []
    for index, (method, at_s, call_body) in enumerate(draft.job_ops):
        call_sent = start + at_s
        effect = call_sent + rng.uniform(0.001, 0.01)
        calls.append(ApiCall(id=f"op-{index}", at_s=at_s, method=method, job=job.name,  # type: ignore[arg-type]
                             body=call_body, expect_status=204))
        events.append(_ev("api_call", effect + rng.uniform(0.002, 0.01), index=index,
                          id=f"op-{index}", method=method, api="v1.0", job=job.name,
                          url=f"http://127.0.0.1:3500/v1.0/jobs/{job.name}", body=call_body,
                          omit_token=False, sent_wall=call_sent, status=204, response="",
                          error=None))
        if segments and segments[-1].ends == math.inf:
            segments[-1] = _ended(segments[-1], effect)
        if method == "POST":
            segments.append(_segment(effect, call_body))  # the body sent is the whole new job
    task = Task("job", job.name, segments=tuple(segments), handler=draft.handler,
                data=body.get("data"))
    return task, events, calls


def _segment(created: float, body: dict[str, Any]) -> JobSegment:
    policy_body = body.get("failurePolicy")
    policy = policy_of(FailurePolicy(**policy_body) if policy_body else None)
    return JobSegment(created, body.get("schedule"), _seconds(body.get("dueTime")),
                      body.get("repeats"), _seconds(body.get("ttl")), policy, body.get("data"))


def _ended(segment: JobSegment, ends: float) -> JobSegment:
    return JobSegment(segment.created, segment.schedule, segment.due_s, segment.repeats,
                      segment.ttl_s, segment.policy, segment.payload, ends)


def _seconds(text: str | None) -> float | None:
    return None if text is None else float(text.rstrip("s"))


# ============================================================================================
# Anomalies
# ============================================================================================

@dataclass
class _Context:
    draft: _Draft
    task: Task
    world: World
    delivery: Delivery
    window: tuple[float, float]
    rng: random.Random
    story: list[str]
    step: tuple[float, float] | None = None  # clock step: from, by

    @property
    def period(self) -> float:
        return self.draft.period

    def judged(self, delivered: bool = True) -> list[Tick]:
        """Judged ticks well inside the window (so an anomaly cannot move across its edge)."""
        start, end = self.window
        p = self.period
        out = [t for t in self.delivery.ticks if start + 0.5 * p < t.due < end - 1.2 * p]
        if delivered:
            out = [t for t in out if any(a.recorded and a.succeeded and a.role in ("first", "retry")
                                         and (a.work is not False) for a in t.attempts)]
        return out

    def add(self, tick: Tick | None, attempt: Attempt) -> None:
        if tick is not None:
            tick.attempts.append(attempt)
        self.delivery.attempts.append(attempt)

    def remove(self, tick: Tick, attempt: Attempt) -> None:
        tick.attempts.remove(attempt)
        self.delivery.attempts.remove(attempt)

    def up(self, at: float) -> list[ReplicaLife]:
        return [r for r in self.world.replicas.values() if r.state(at) == "ok"]

    def quiet(self, *moments: float) -> None:
        """Filter: an injected anomaly lands well away from every fault (1 s before one starts to
        3 s after it is over), so that no fault could explain it, and the Scheduler is up."""
        world, start = self.world, self.window[0]
        spans = [(s.start, s.end) for r in world.replicas.values() for s in r.spans]
        spans += [(a, b) for a, b, _ in world.scheduler_down] + list(world.redis_down)
        spans += [(r.started, r.ready) for r in world.replicas.values() if r.started > start]
        spans += [(r.stopped, r.stopped) for r in world.replicas.values() if r.stopped]
        for at in moments:
            assume(world.scheduler_up_at(at) == at)
            assume(all(not (a - 1.0 <= at <= b + 3.0) for a, b in spans))


def _pick(ctx: _Context, items: list[Any]) -> Any:
    assume(items)
    return ctx.rng.choice(items)


def _delivering(tick: Tick) -> Attempt:
    return next(a for a in tick.attempts if a.recorded and a.succeeded
                and a.role in ("first", "retry") and a.work is not False)


def _copy(attempt: Attempt, **changes: Any) -> Attempt:
    new = copy.copy(attempt)
    for key, value in changes.items():
        setattr(new, key, value)
    return new


def _inject_lost(ctx: _Context) -> None:
    mech = ctx.draft.mechanism
    if mech == "workflow" and ctx.rng.random() < 0.5:  # the loop stops
        tick = _pick(ctx, ctx.judged())
        ctx.quiet(tick.due)
        for later in [t for t in ctx.delivery.ticks if t.due >= tick.due]:
            for attempt in list(later.attempts):
                ctx.remove(later, attempt)
        ctx.story.append(f"the workflow loop stops before iteration {tick.iteration}")
        return
    failed_first = [t for t in ctx.judged() if any(a.role == "retry" and a.recorded for a in t.attempts)]
    if failed_first and ctx.rng.random() < 0.5:  # the retries never come
        tick = ctx.rng.choice(failed_first)
        ctx.quiet(tick.due, *(a.at for a in tick.attempts))
        for attempt in [a for a in tick.attempts if a.role == "retry"]:
            ctx.remove(tick, attempt)
        tick.complete = False
        ctx.story.append(f"the retries of the tick due {tick.due - T0:.3f} never come")
        return
    tick = _pick(ctx, ctx.judged())
    ctx.quiet(tick.due, *(a.at for a in tick.attempts))
    if mech in GATED:
        ctx.remove(tick, _delivering(tick))
    else:
        for attempt in [a for a in tick.attempts if a.recorded]:
            ctx.remove(tick, attempt)
    tick.excuse = None
    ctx.story.append(f"the tick due {tick.due - T0:.3f} is lost")


def _inject_duplicated(ctx: _Context) -> None:
    mech, p = ctx.draft.mechanism, ctx.period
    tick = _pick(ctx, ctx.judged())
    original = _delivering(tick)
    if mech in GATED:
        losers = [a for a in tick.attempts if a.recorded and a.work is False and a.status == 200]
        loser = _pick(ctx, losers)
        ctx.quiet(loser.at)
        loser.work, loser.role, loser.legit, loser.why = True, "duplicate", False, "two gate winners"
        loser.gate = loser.gate.replace("false", "true") if loser.gate else loser.gate
        ctx.story.append(f"replica {loser.replica} also wins the gate of {tick.due - T0:.3f}")
        return
    at = original.at + ctx.rng.uniform(0.01, 0.2) * p
    ctx.quiet(at)
    if mech == "binding":
        replica = original.replica
    else:
        replica = _pick(ctx, ctx.up(at)).index
    ctx.add(tick, _copy(original, at=at, replica=replica, role="duplicate", legit=False,
                        why="delivered twice"))
    ctx.story.append(f"the tick due {tick.due - T0:.3f} is delivered again at {at - T0:.3f}")


def _inject_early(ctx: _Context) -> None:
    mech, p = ctx.draft.mechanism, ctx.period
    shift = ctx.rng.uniform(0.3, 0.45) * p
    if mech == "workflow":  # the timer fires early: this iteration and the loop after it
        tick = _pick(ctx, [t for t in ctx.judged() if t.iteration and t.iteration > 1])
        ctx.quiet(*(a.at - shift for a in tick.attempts))
        _shift_from(ctx, tick, -shift, replica=None)
        _delivering(tick).early = True
        ctx.story.append(f"iteration {tick.iteration} runs {shift:.3f}s early")
        return
    tick = _pick(ctx, ctx.judged())
    original = _delivering(tick)
    at = tick.due - shift
    ctx.quiet(at)
    replica = original.replica if mech == "binding" else _pick(ctx, ctx.up(at)).index
    ctx.add(None, _copy(original, at=at, replica=replica, role="early", legit=False, due=None,
                        why=f"{shift:.3f}s before the tick due {tick.due - T0:.3f}"))
    ctx.story.append(f"an attempt {shift:.3f}s before the tick due {tick.due - T0:.3f}")


def _inject_late(ctx: _Context) -> None:
    mech, p = ctx.draft.mechanism, ctx.period
    shift = ctx.rng.uniform(0.3, 0.45) * p
    candidates = [t for t in ctx.judged()
                  if all(a.at < t.due + 0.1 * p for a in t.attempts if a.recorded)]
    tick = _pick(ctx, candidates)
    ctx.quiet(*(a.at + shift for a in tick.attempts if a.recorded))
    if mech == "workflow" or (mech == "binding" and Schedule.parse(ctx.draft.schedule or "").every):
        _shift_from(ctx, tick, shift, replica=tick.replica)  # a chain goes on from the late fire
    else:
        for attempt in tick.attempts:
            attempt.at += shift
    ctx.story.append(f"the tick due {tick.due - T0:.3f} arrives {shift:.3f}s late")


def _shift_from(ctx: _Context, tick: Tick, shift: float, replica: int | None) -> None:
    """Move a chain (a workflow loop, one sidecar's ``@every`` chain) from ``tick`` on."""
    for later in ctx.delivery.ticks:
        if later.due >= tick.due and (replica is None or later.replica == replica):
            if later is not tick:
                later.due += shift
            for attempt in later.attempts:
                attempt.at += shift
                if later is not tick:
                    attempt.due = later.due


def _failed_chains(ctx: _Context) -> list[Tick]:
    return [t for t in ctx.judged(delivered=False)
            if t.complete and t.attempts and all(a.recorded and not a.succeeded for a in t.attempts)]


def _policy(ctx: _Context) -> Policy:
    return ctx.task.segments[0].policy


def _inject_retry_beyond(ctx: _Context) -> None:
    tick = _pick(ctx, _failed_chains(ctx))
    last = tick.attempts[-1]
    policy = _policy(ctx)
    gap = policy.interval_s if policy.interval_s else ctx.rng.uniform(0.3, 0.8)
    at = last.at + gap
    ctx.quiet(at)
    replica = _pick(ctx, ctx.up(at)).index
    status = ctx.rng.choice([last.status, 200])
    ctx.add(tick, _copy(last, at=at, replica=replica, role="duplicate", legit=False,
                        status=status, succeeded=False,
                        why=f"attempt {len(tick.attempts) + 1}: beyond the policy"))
    ctx.story.append(f"a retry beyond the policy for the tick due {tick.due - T0:.3f}")


def _inject_retry_sooner(ctx: _Context) -> None:
    policy = _policy(ctx)
    ticks = [t for t in _failed_chains(ctx) if len(t.attempts) >= 2]
    tick = _pick(ctx, ticks)
    k = ctx.rng.randrange(1, len(tick.attempts))
    before = tick.attempts[k - 1]
    at = before.at + ctx.rng.uniform(0.2, 0.45) * policy.interval_s
    ctx.quiet(at)
    assume(at < tick.due + k * policy.interval_s - 0.15 * policy.interval_s)
    replica = _pick(ctx, ctx.up(at)).index
    extra = _copy(before, at=at, replica=replica, role="duplicate", legit=False,
                  why=f"{at - before.at:.3f}s after a failure, interval {policy.interval_s}s")
    tick.attempts.insert(k, extra)
    ctx.delivery.attempts.append(extra)
    ctx.story.append(f"a retry {at - before.at:.3f}s after a failure (interval {policy.interval_s}s)")


def _impossible(ctx: _Context, at: float, replica: int, why: str) -> None:
    start, end = ctx.window
    assume(start < at < end - 0.05)
    template = next((a for a in ctx.delivery.attempts if a.recorded), None)
    assume(template is not None)
    assert template is not None
    ctx.add(None, _copy(template, at=at, replica=replica, role="impossible", legit=False,
                        due=None, status=200, succeeded=True, why=why,
                        work=template.work, iteration=template.iteration))
    ctx.story.append(f"{why} at {at - T0:.3f} from replica {replica}")


def _inject_after_delete(ctx: _Context) -> None:
    deleted = [s for s in ctx.task.segments if s.ends != math.inf]
    segment = _pick(ctx, deleted)
    later = [s.created for s in ctx.task.segments if s.created > segment.ends]
    next_tick = next((t for t in segment.ticks() if t > segment.ends + 0.3), None)
    assume(next_tick is not None)
    assert next_tick is not None
    assume(not later or next_tick < later[0] - ctx.period)
    at = next_tick + ctx.rng.uniform(0.002, 0.015)
    _impossible(ctx, at, _pick(ctx, ctx.up(at)).index, "a fire after the job was deleted")


def _inject_past_limit(ctx: _Context, limit: str) -> None:
    segment = ctx.task.segments[0]
    unlimited = JobSegment(segment.created, segment.schedule, segment.due_s, None, None)
    made = list(segment.ticks())
    assume(bool(made))
    beyond = list(itertools.islice((t for t in unlimited.ticks() if t > made[-1]), 1))
    assume(bool(beyond))
    at = beyond[0] + ctx.rng.uniform(0.002, 0.015)
    _impossible(ctx, at, _pick(ctx, ctx.up(at)).index, f"a fire past {limit}")


def _inject_stopped_replica(ctx: _Context) -> None:
    stopped = [r for r in ctx.world.replicas.values() if r.stopped is not None]
    life = _pick(ctx, stopped)
    assert life.stopped is not None
    later = [t.due for t in ctx.delivery.ticks if t.due > life.stopped + 0.5]
    due = _pick(ctx, later)
    _impossible(ctx, due + ctx.rng.uniform(0.002, 0.015), life.index,
                "a fire from a stopped replica")


def _inject_unknown_replica(ctx: _Context) -> None:
    ghost = len(ctx.world.replicas) + ctx.rng.randrange(0, 3)
    tick = _pick(ctx, ctx.judged())
    _impossible(ctx, tick.due + ctx.rng.uniform(0.002, 0.015) if ctx.draft.mechanism != "workflow"
                else tick.attempts[0].at + 0.3 * ctx.period, ghost,
                "a fire from a replica that never existed")


def _inject_clock_step(ctx: _Context) -> None:
    start, end = ctx.window
    at = ctx.rng.uniform(start + 0.2 * (end - start), start + 0.7 * (end - start))
    by = ctx.rng.choice([-1, 1]) * ctx.rng.uniform(0.3, 2.0)
    ctx.step = (at, by)
    ctx.story.append(f"the wall clock steps by {by:+.3f}s at {at - T0:.3f} (mono continuous)")


_INJECT: dict[str, Callable[[_Context], None]] = {
    "lost": _inject_lost,
    "duplicated": _inject_duplicated,
    "early": _inject_early,
    "late": _inject_late,
    "retry_beyond": _inject_retry_beyond,
    "retry_sooner": _inject_retry_sooner,
    "after_delete": _inject_after_delete,
    "past_repeats": lambda ctx: _inject_past_limit(ctx, "repeats"),
    "past_ttl": lambda ctx: _inject_past_limit(ctx, "ttl"),
    "stopped_replica": _inject_stopped_replica,
    "unknown_replica": _inject_unknown_replica,
    "clock_step": _inject_clock_step,
}
assert set(_INJECT) == set(ANOMALIES)


# ============================================================================================
# Rendering
# ============================================================================================

def _ev(event: str, wall: float, **attrs: Any) -> Event:
    return Event(event=event, wall=wall, mono=wall - T0 + MONO_AT_T0, attrs=attrs)


def _walls(t: float, step: tuple[float, float] | None) -> float:
    return t + step[1] if step is not None and t >= step[0] else t


def _trigger(attempt: Attempt, life: ReplicaLife | None, draft: _Draft,
             step: tuple[float, float] | None) -> Trigger:
    mech = attempt.mechanism
    status = attempt.status if attempt.status is not None else 200
    payload, raw, headers = attempt.payload, None, {}
    if mech in ("job", "reminder", "job-sdk"):
        raw = json.dumps(payload) if payload is not None else None
    if MECHANISMS[mech].over_http:
        headers = {"user-agent": "Go-http-client/1.1", "content-type": "application/json"}
    tick, gate, work = None, None, None
    wall = _walls(attempt.at, step)
    if mech in GATED:
        tick, gate, work = tick_key(draft.schedule or "", wall), attempt.gate, bool(attempt.work)
    elif mech == "workflow":
        tick, work = str(attempt.iteration), True
        payload = {**(payload or {}), "iteration": attempt.iteration}
    pid = life.pid if life is not None else 29999
    return Trigger(mechanism=mech, name=attempt.name, replica=attempt.replica, pid=pid,  # type: ignore[arg-type]
                   wall=wall, mono=attempt.at - T0 + MONO_AT_T0, payload=payload,
                   headers=headers, status=status, outcome=outcome_of(True, status),  # type: ignore[arg-type]
                   raw=raw, work=work, tick=tick, gate=gate)


def _scenario(draft: _Draft, task: Task, calls: list[ApiCall], faults: list[FaultSpec],
              window_s: float, expectation: Expectation) -> Scenario:
    mech = draft.mechanism
    handlers = () if draft.handler == Handler() else (
        AppHandler(mechanism=mech, name="*", status=draft.handler.status,  # type: ignore[arg-type]
                   delay_ms=int(draft.handler.delay_s * 1000)),)
    fields: dict[str, Any] = {}
    if mech == "job":
        fields["jobs"] = (draft.job,)
    elif mech == "binding":
        fields["bindings"] = (BindingSpec(name=draft.name, schedule=draft.schedule or ""),)
    else:
        fields["tasks"] = (TaskSpec(mechanism=mech, name=draft.name,  # type: ignore[arg-type]
                                    schedule=draft.schedule or "", data=task.data),)
    return Scenario(name="truth", source=Path("truth.yaml"), replicas=draft.replicas,
                    window_s=window_s, app=AppSpec(handlers=handlers), faults=tuple(faults),
                    calls=tuple(calls), expect={mech: expectation}, **fields)  # type: ignore[dict-item]


def _expectation(draft: _Draft, clean: Counts) -> Expectation:
    delivery = draft.delivery
    if clean.duplicated and delivery == "exactly_once":
        delivery = "at_least_once"
    return Expectation(delivery=delivery, min_ticks=min(1, clean.ticks),  # type: ignore[arg-type]
                       max_lost=clean.lost, max_early=0)


def _clear_of(dues: list[float], lo: float, hi: float, margin: float,
              rng: random.Random) -> float | None:
    """A moment in [lo, hi] at least ``margin`` from every due time (a window edge no tick sits
    on, so which side of it a tick falls is never in doubt)."""
    for _ in range(60):
        t = rng.uniform(lo, hi)
        if all(abs(t - d) > margin for d in dues):
            return t
    return None


@st.composite
def generated(draw: st.DrawFn, anomaly: str | None = None, mechanism: str | None = None,
              faults: bool = True) -> Generated:
    """A scenario, its ground-truth history and the true counts, with ``anomaly`` injected
    (None: a clean history)."""
    draft = draw(_draft(anomaly, mechanism, faults))
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    start = T0 + 0.3
    world, events = _world(draft, start, rng)
    task, task_events, calls = _task(draft, start, rng)
    nominal_end = start + draft.window
    horizon = nominal_end + 60.0
    # A Jobs API call while the Scheduler is out blocks until it leads again (go-etcd-cron
    # internal/api/api.go waitReady: every call waits for the informer, which waits for
    # leadership) and the driver gives up: the generator keeps its calls clear of outages
    # rather than model the failed call.
    assume(all(not (a - 0.05 <= start + op[1] <= b + 0.3)
               for a, b, _ in world.scheduler_down for op in draft.job_ops))
    delivery = simulate(task, world, horizon)
    dues = [t.due for t in delivery.ticks]
    if draft.mechanism in ("binding", *GATED):  # the crons run before the window: pick its start
        found = _clear_of(dues, T0, T0 + 0.9, 0.05, rng)
        assume(found is not None)
        start = found or start
        draft.faults = [f.model_copy(update={"at_s": round(f.at_s - (start - T0 - 0.3), 3)})
                        for f in draft.faults]
    end = _clear_of(dues, nominal_end - 0.4 * draft.period, nominal_end, 0.06, rng)
    assume(end is not None)
    assert end is not None
    window = (start, end)
    faults = draft.faults
    scenario0 = _scenario(draft, task, calls, faults, end - start,
                          Expectation(delivery="at_least_once", min_ticks=0))
    recording_end = end + grace_period(scenario0)
    # Every judged tick's owed attempts must fall before recording ends (else it is unseen).
    assume(all(a.at < recording_end - 0.05 for t in delivery.ticks if start <= t.due < end
               for a in t.attempts))
    delivery = _observed(delivery, recording_end)
    clean = tally(delivery, window)
    problems = breaks_promise(clean) if faults else []
    assert not problems, (f"the model broke its own promise: {problems}; faults {faults}; "
                          + "; ".join(_tick_text(t) for t in delivery.ticks
                                      if start <= t.due < end and t.excuse is None))
    expectation = _expectation(draft, clean)
    scenario = _scenario(draft, task, calls, faults, end - start, expectation)
    ctx = _Context(draft, task, world, delivery, window, rng, [])
    if anomaly is not None:
        _INJECT[anomaly](ctx)
    truth = tally(ctx.delivery, window)
    breaks = breaks_expectation(truth, expectation)
    if scenario.kind == "fault":
        breaks += [r for r in breaks_promise(truth) if r not in breaks]
    history, labels = _render(ctx, events + task_events, start, end, recording_end, scenario)
    return Generated(scenario, history, labels, truth, clean, anomaly, breaks, draft.mechanism,
                     draft.name, draft.mechanism == "binding", ctx.story)


def _tick_text(tick: Tick) -> str:
    attempts = ", ".join(f"r{a.replica}@{a.at - T0:.3f}/{a.status}/{a.role}"
                         f"{'' if a.recorded else ' unseen'}" for a in tick.attempts)
    return (f"tick {tick.due - T0:.3f} r{tick.replica} complete {tick.complete}: "
            f"[{attempts}]")


def _observed(delivery: Delivery, recording_end: float) -> Delivery:
    """What the recording sees: attempts before it ends."""
    kept = [a for a in delivery.attempts if a.at < recording_end]
    for tick in delivery.ticks:
        tick.attempts = [a for a in tick.attempts if a.at < recording_end]
    return Delivery([t for t in delivery.ticks if t.due < recording_end], kept)


def _render(ctx: _Context, events: list[Event], start: float, end: float, recording_end: float,
            scenario: Scenario) -> tuple[History, list[Label]]:
    draft, step = ctx.draft, ctx.step
    events = list(events)
    first_ready = max(e.wall for e in events if e.event == "replica_ready" and e.wall < start)
    events += [_ev("cluster_ready", first_ready + 0.05, replicas=draft.replicas, seconds=4.0),
               _ev("window_start", start, window_s=scenario.window_s),
               _ev("window_end", end), _ev("recording_end", recording_end,
                                            grace_s=round(recording_end - end, 3)),
               _ev("cluster_stopped", recording_end + 1.0)]
    if draft.mechanism in ("binding", *GATED):
        events.append(_ev("binding_installed", T0 - 10.0, name=draft.name,
                          schedule=draft.schedule, file=f"/tmp/{draft.name}.yaml",
                          **({"mechanism": draft.mechanism} if draft.mechanism in GATED else {})))
    events = [_stepped(e, step) for e in sorted(events, key=lambda e: e.mono)]
    recorded = sorted((a for a in ctx.delivery.attempts if a.recorded and a.at < recording_end),
                      key=lambda a: a.at)
    triggers = [_trigger(a, ctx.world.replicas.get(a.replica), draft, step) for a in recorded]
    labels = [Label(a.role if not a.early else "early", a.due, a.legit, a.why) for a in recorded]
    return History(tuple(triggers), tuple(events)), labels


def _stepped(event: Event, step: tuple[float, float] | None) -> Event:
    if step is None:
        return event
    attrs = dict(event.attrs)
    if isinstance(attrs.get("sent_wall"), float):
        attrs["sent_wall"] = _walls(attrs["sent_wall"], step)
    return Event(event.event, _walls(event.mono - MONO_AT_T0 + T0, step), event.mono, attrs)


# ============================================================================================
# Record damage
# ============================================================================================

def render_lines(history: History) -> list[str]:
    """The history as harness/record/history.py HistoryWriter writes it: one JSON per line."""
    records = sorted([*history.triggers, *history.events], key=lambda r: r.mono)
    return [json.dumps(asdict(r), ensure_ascii=False, separators=(",", ":")) for r in records]


def damaged(lines: list[str], damage: str, rng: random.Random) -> tuple[list[str], int, str]:
    """Damage one record; returns the lines, the damaged line's number (1-based) and the
    field a good error must name ("" for a torn line, which has no whole field to name)."""
    if damage == "torn":
        last = lines[-1]
        cut = rng.randrange(1, len(last) - 1)
        return [*lines[:-1], last[:cut]], len(lines), ""
    index = rng.randrange(len(lines))
    record = json.loads(lines[index])
    key = "wall"
    if damage == "garbled-nan":
        record["wall"] = float("nan")
    elif damage == "garbled-string":
        record["wall"] = str(record["wall"])
    elif damage == "garbled-zero":
        record["wall"] = 0
    elif damage == "garbled-missing":
        key = "mono"
        del record["mono"]
    elif damage == "garbled-null-status":
        index = next(i for i, line in enumerate(lines) if '"kind":"trigger"' in line)
        record = json.loads(lines[index])
        key, record["status"] = "status", None
    out = list(lines)
    out[index] = json.dumps(record, separators=(",", ":"))
    return out, index + 1, key
