"""A reference model of Dapr 1.18.3's delivery, per mechanism, written from Dapr's source.

For each of the seven mechanisms (harness/scenario/mechanisms.py) and a timeline (jobs created,
overwritten and deleted; replicas starting and stopping; faults with their kind and span), the
model says which requests Dapr makes to which app replica and when, and labels each one: the
tick it stands for and its role (``first``, ``retry``, ``duplicate``, ``early``, ``impossible``).
It is written from the source, file by file, and never from the checker (harness/check/): every
rule below cites the file (and function) it comes from. Where the issue text or
/work/shared/dapr-facts.md and the source disagree, the source wins and the comment says so.

Sources (Dapr 1.18.3 pins go-etcd-cron v0.12.7 and dapr/kit v0.18.3):

- dapr/dapr ``pkg/runtime/scheduler/internal/cluster/streamer.go`` (daprd's side of a job trigger),
  ``pkg/messaging/v1/util.go`` (HTTP status -> gRPC code), ``pkg/actors/targets/app/app.go``
  (reminder calls), ``pkg/actors/internal/scheduler/scheduler.go`` (reminders are Scheduler jobs),
  ``pkg/scheduler/server/internal/pool/loops/stream/stream.go`` (a broken stream re-sends).
- diagridio/go-etcd-cron ``internal/scheduler/builder.go`` (schedule start, dueTime, ttl, the
  default failure policy), ``internal/scheduler/repeats.go`` (next tick, repeats, expiry),
  ``internal/counter/counter.go`` (success, failure, retries), ``internal/engine/queue/loops/
  counters/counters.go`` (one tick at a time per job; staging; overwrite and delete).
- dapr/kit ``cron/cron.go`` (what a cron binding's sidecar runs) and dapr/components-contrib
  ``bindings/cron/cron.go`` (the binding ignores the app's answer).
- The harness's own apps (harness/apps/): what each handler records and answers.

Times are seconds on one clock (epoch seconds, as the harness's wall clock reads when it does
not step); the generator renders them to ``wall`` and ``mono``.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.scenario.mechanisms import MECHANISMS

__all__ = [
    "CATCH_UP",
    "DEFAULT_POLICY",
    "DUPLICATES_UNDER",
    "FAULT_STATE",
    "HOLDS",
    "LATE_FRACTION",
    "LOSSES_UNDER",
    "LEASE_S",
    "REMINDER_POLICY",
    "TIMER_POLICY",
    "Answer",
    "Attempt",
    "Counts",
    "Delivery",
    "Handler",
    "JobSegment",
    "Policy",
    "ReplicaLife",
    "Schedule",
    "Span",
    "Task",
    "Tick",
    "World",
    "answer_succeeds",
    "breaks_expectation",
    "breaks_promise",
    "job_ticks",
    "policy_of",
    "simulate",
    "tally",
]

Role = Literal["first", "retry", "duplicate", "early", "impossible"]
ReplicaState = Literal["absent", "starting", "ok", "gone", "sidecar_down", "app_down", "paused",
                       "failing", "slow"]

# A first delivery more than this share of a period after its tick is late (the harness's
# convention for "on time"; a definition, not a rule of Dapr, which promises no ceiling).
LATE_FRACTION = 0.25


# ============================================================================================
# What answer ends a tick
# ============================================================================================

def answer_succeeds(mechanism: str, status: int | None) -> bool:
    """Whether Dapr takes the app's answer as success (no retry). ``None``: no answer at all
    (connection refused, the app is down): a failure for every mechanism that retries."""
    if status is None:
        return False
    if mechanism == "job":
        # streamer.go invokeApp: codes.OK and codes.NotFound are success ("NotFound treated as
        # SUCCESS to avoid retriggers by the scheduler, but is monitored as a failure"), every
        # other code is a failure; http_channel.go sendJob converts the HTTP status with
        # messaging/v1/util.go CodeFromHTTPStatus: 200-299 -> OK, 404 -> NotFound, 3xx and
        # every other 4xx/5xx -> Unknown, Internal, ... (failures).
        return 200 <= status < 300 or status == 404
    if mechanism == "job-sdk":
        # harness/apps/grpc_app.py: a rule with status >= 400 raises in the handler, which the
        # SDK answers with a gRPC error (code Unknown): streamer.go invokeApp's default branch,
        # a failure, even for 404 (only codes.NotFound is success, and no gRPC NotFound is sent).
        return status < 400
    if mechanism == "reminder":
        # pkg/actors/targets/app/app.go doInvokeMethod: 404 is a permanent error ("actor
        # method not found") and any status other than 200 an error; streamer.go
        # handleJob returns FAILED for any error of invokeActorReminder (404 is not special
        # here, unlike app jobs), so the reminder's failure policy retries even 204 and 404.
        return status == 200
    # bindings (plain and gated) and workflow activities are not retried on the app's answer:
    # components-contrib bindings/cron/cron.go discards the handler's result (`_, _ =
    # handler(...)`); the workflow activity is recorded when it runs (workflow_app.py).
    return True


# ============================================================================================
# Failure policy
# ============================================================================================

@dataclass(frozen=True)
class Policy:
    """How the Scheduler retries a failed attempt of one tick (go-etcd-cron counter.go)."""

    max_retries: int | None  # None: retried forever
    interval_s: float

    def tries_again(self, failed: int) -> bool:
        """After ``failed`` failed attempts of one tick, whether there is another.

        counter.go TriggerFailed increments Attempts, then policyTryAgain: Drop never tries
        again; Constant tries again while ``MaxRetries == nil || *MaxRetries >= Attempts``, so
        maxRetries R gives R retries (R + 1 attempts in all)."""
        return self.max_retries is None or self.max_retries >= failed

    def retry_due(self, tick: float, k: int) -> float:
        """When retry ``k`` (1-based) of a tick due at ``tick`` is due.

        counter.go policyTryAgain: ``c.next = c.next.Add(delay)``: each retry is due one
        interval after the *scheduled* time of the attempt before it, not after its answer; the
        queue fires an overdue item at once, so a retry whose due time has passed (a slow
        answer, a held tick) comes right after the answer (counters.go handleTrigger ->
        Enqueue). Retry k therefore arrives no sooner than ``tick + k * interval``."""
        return tick + k * self.interval_s


DROP_POLICY = Policy(0, 0.0)
# go-etcd-cron internal/scheduler/builder.go Parse: a job without a failure policy gets
# Constant{Interval: 1s, MaxRetries: 3}.
DEFAULT_POLICY = Policy(3, 1.0)
# pkg/actors/internal/scheduler/scheduler.go Create: a periodic reminder is scheduled with no
# failure policy (only one-shot reminders get one), so builder.go's default applies.
REMINDER_POLICY = DEFAULT_POLICY
# ... and a one-shot reminder (a workflow's durable timer) gets Constant{Interval: 1s,
# MaxRetries: nil}: retried every second, forever.
TIMER_POLICY = Policy(None, 1.0)


def policy_of(failure_policy: Any) -> Policy:
    """A JobSpec's ``failurePolicy`` (harness.scenario.model.FailurePolicy) as the Scheduler
    applies it. None: builder.go's default. ``drop``: counter.go's FailurePolicy_Drop branch.
    ``constant`` without maxRetries: retried forever (counter.go: ``MaxRetries == nil``)."""
    if failure_policy is None:
        return DEFAULT_POLICY
    if failure_policy.drop is not None or failure_policy.constant is None:
        return DROP_POLICY
    constant = failure_policy.constant
    return Policy(constant.maxRetries, _go_seconds(constant.interval))


def _go_seconds(text: str) -> float:
    units = {"ms": 1e-3, "s": 1.0, "m": 60.0}
    for unit in ("ms", "s", "m"):
        if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
            return float(text[: -len(unit)]) * units[unit]
    raise ValueError(f"the model reads durations like 500ms, 2s, 1m; got {text!r}")


# ============================================================================================
# Schedules
# ============================================================================================

@dataclass(frozen=True)
class Schedule:
    """The schedule forms the generator uses: ``@every Ns`` and ``*/N * * * * *`` (N divides
    60, so the cron grid is every multiple of N epoch seconds in any zone whose offset is a
    whole number of minutes)."""

    every: float | None = None
    step: int | None = None

    @classmethod
    def parse(cls, text: str) -> Schedule:
        if text.startswith("@every "):
            return cls(every=_go_seconds(text[len("@every "):]))
        head, *rest = text.split()
        if head.startswith("*/") and rest == ["*"] * 5 and 60 % int(head[2:]) == 0:
            return cls(step=int(head[2:]))
        raise ValueError(f"the model reads '@every Ns' and '*/N * * * * *' (N | 60); got {text!r}")

    @property
    def period(self) -> float:
        return self.every if self.every is not None else float(self.step or 0)

    def next_after(self, t: float) -> float:
        """dapr/kit cron: ConstantDelaySchedule.Next(t) = t + D (sub-second precision since kit
        v0.16, dapr-facts.md); SpecSchedule.Next(t) = the first matching instant after t."""
        if self.every is not None:
            return t + self.every
        step = float(self.step or 1)
        return (math.floor(t / step + 1e-9) + 1) * step


def job_ticks(schedule: Schedule | None, start: float, due: float | None,
              repeats: int | None, expiration: float | None) -> Iterator[float]:
    """The ticks of one job, in order (go-etcd-cron internal/scheduler/repeats.go Next and
    counter.go updateNext, both counting ticks whether they succeeded or not).

    - No dueTime: the first tick is ``cron.Next(start)``, where start is the Scheduler's clock
      when it parsed the job (builder.go Parse: ``Begin = Start{now}``; "The job _will not_
      trigger at this time", repeats.go).
    - dueTime: the first tick is the due time, then ``cron.Next`` of each previous tick
      (builder.go ``Begin = DueTime``; "The job _will_ trigger at this time"). Without a
      schedule, the due time only (builder.go Schedule: ``oneshot``).
    - Each later tick is ``cron.Next(LastTrigger)`` where LastTrigger is the *scheduled* time of
      the tick before (counter.go TriggerSuccess and policyTryAgain set it from the schedule,
      "regardless of the failure policy cadence and attempts"): ticks never drift.
    - ``repeats``: no tick once ``count >= repeats`` (repeats.go Next).
    - ttl: no tick after the expiration (``next.After(exp)``: a tick at the expiration fires).
    """
    count = 0
    last: float | None = None
    while True:
        if repeats is not None and count >= repeats:
            return
        if last is None:
            nxt = due if due is not None else (schedule.next_after(start) if schedule else None)
        else:
            nxt = schedule.next_after(last) if schedule else None
        if nxt is None or (expiration is not None and nxt > expiration + 1e-9):
            return
        yield nxt
        last, count = nxt, count + 1


# ============================================================================================
# Faults as data
# ============================================================================================

# What a replica fault does to its replica while it lasts (harness/drive/nemesis.py carries them
# out). ``sidecar_down``: no scheduler stream and no cron binding; ``app_down``: daprd up (the
# harness runs it without app health checks, so its stream stays open) but every call to the app
# is refused; ``paused``: SIGSTOP of app and daprd, nothing moves until SIGCONT; ``failing``/
# ``slow``: the HTTP app's rules answer 500 / after 5 s (only mechanisms served over HTTP by the
# app's rules: nemesis.py _HTTP_APP_MECHANISMS).
FAULT_STATE: dict[str, ReplicaState | None] = {
    "kill_daprd": "sidecar_down", "kill_app": "app_down", "app_down": "app_down",
    "pause_replica": "paused", "app_failing": "failing", "app_slow": "slow",
    "scale_in": "gone", "scale_out": None, "kill_scheduler": None, "stop_scheduler": None,
    "restart_redis": None,
}

_SCHEDULER = frozenset({"job", "job-sdk", "reminder", "workflow"})
_JOBS = frozenset({"job", "job-sdk", "reminder"})

# Which fault kinds can hold which mechanism's triggers: the Scheduler keeps the due tick and
# delivers it late (and the ticks behind it back to back), so a late burst after such a fault is
# Dapr's documented behaviour, not a duplicate.
# - Scheduler down: go-etcd-cron fires nothing while it has no leadership (internal/leadership/
#   leadership.go, lease 20 s after a SIGKILL); on recovery each overdue tick fires at once
#   (counters.go Enqueue of an overdue counter), so every missed tick replays back to back.
#   A workflow's durable timer is a one-shot reminder (a Scheduler job): it fires once, late.
# - Replica paused: a trigger sent into its stream waits for SIGCONT, and the job's next tick is
#   only enqueued after this one's answer (counters.go handleExecuteRequest/handleTrigger), so
#   the job's later ticks wait too. The actor's host paused holds its reminders the same way.
# - App slow: the job's next tick waits for the slow answer (same rule).
# - A replica fault on the only connected sidecar (or on the actor's host) holds the job's
#   ticks in staging until a sidecar connects (engine/queue/actioner/staging, counters.go
#   UNDELIVERABLE -> Stage); the model sees that from the replicas' states.
# - Redis down holds a workflow: its state store is the actor state store.
HOLDS: dict[str, frozenset[str]] = {
    "kill_scheduler": _SCHEDULER,
    "stop_scheduler": _SCHEDULER,
    "pause_replica": _SCHEDULER,
    "app_slow": frozenset({"job", "reminder"}),
    "kill_daprd": _SCHEDULER,  # only when no other sidecar (or no other actor host) is connected
    "kill_app": frozenset({"workflow"}),
    "app_down": frozenset({"workflow"}),
    "scale_in": _SCHEDULER,
    "restart_redis": frozenset({"workflow"}),
    "app_failing": frozenset(),
    "scale_out": frozenset(),
}

# Where losing a tick is Dapr's documented behaviour (``promises`` may not fail on it).
# - binding: the sidecar that is down, paused or cannot reach its app skips its own ticks
#   (kit cron.go run: an overdue entry fires once at wake, the ticks it missed are not
#   replayed; a refused POST is not retried). ``app_failing``: the 500 is an attempt, not a loss.
# - gated bindings: as a binding, plus a tick whose gate call fails (Redis down) or whose
#   winner is told to fail is not done (harness/apps/app.py _gated_binding).
# - job and reminder: a trigger sent to a sidecar whose app is down fails (streamer.go
#   invokeApp: the app channel's error -> FAILED) and the failure policy may run out before an
#   attempt reaches a live app (drop: at once). Reminders go to the actor's host only
#   (placement), so a dead or unreachable host fails every attempt until placement moves it.
# - job-sdk: the same for the gRPC app.
# - workflow: never (timers are retried forever, TIMER_POLICY; state is durable).
LOSSES_UNDER: dict[str, frozenset[str]] = {
    "kill_daprd": frozenset({"binding", "binding-lock", "binding-claim", "reminder"}),
    "kill_app": frozenset({"binding", "binding-lock", "binding-claim", "job", "job-sdk",
                           "reminder"}),
    "app_down": frozenset({"binding", "binding-lock", "binding-claim", "job", "job-sdk",
                           "reminder"}),
    "pause_replica": frozenset({"binding", "binding-lock", "binding-claim"}),
    "app_failing": frozenset({"binding-lock", "binding-claim"}),
    "app_slow": frozenset(),
    "scale_in": frozenset({"binding", "binding-lock", "binding-claim", "reminder"}),
    "scale_out": frozenset(),
    "kill_scheduler": frozenset(),
    "stop_scheduler": frozenset(),
    "restart_redis": frozenset({"binding-lock", "binding-claim"}),
}

# Where a duplicate delivery is Dapr's documented behaviour: a stream that breaks with a trigger
# in flight marks it undeliverable and the Scheduler re-sends it to another stream while the old
# receiver may have passed it to its app (pool/loops/stream/stream.go handleShutdown); a
# Scheduler that dies before the answer reaches it fires the tick again (the counter was not
# advanced, counter.go). A workflow activity cut off mid-run is run again (durable task:
# at-least-once activities). Gated bindings never do the work twice (the lock or first-write key
# outlives the tick), plain bindings never fire a tick twice on one sidecar.
DUPLICATES_UNDER: dict[str, frozenset[str]] = {
    "kill_daprd": _SCHEDULER, "pause_replica": _SCHEDULER, "scale_in": _SCHEDULER,
    "kill_scheduler": _JOBS, "stop_scheduler": _JOBS,
    "kill_app": frozenset({"workflow"}), "app_down": frozenset({"workflow"}),
    "restart_redis": frozenset({"workflow"}),
    "app_failing": frozenset(), "app_slow": frozenset(), "scale_out": frozenset(),
}

# What happens to ticks a mechanism cannot fire in time (the catalog's ``catch_up``, as a rule).
CATCH_UP: dict[str, str] = {
    "job": "replay every held tick back to back",
    "job-sdk": "replay every held tick back to back",
    "reminder": "replay every held tick back to back",
    "workflow": "the held timer fires once; the loop goes on from there",
    "binding": "an overdue entry fires once at wake; the rest are skipped",
    "binding-lock": "an overdue entry fires once at wake; the rest are skipped",
    "binding-claim": "an overdue entry fires once at wake; the rest are skipped",
}
assert set(CATCH_UP) == set(MECHANISMS)

# go-etcd-cron internal/leadership/leadership.go: a killed member's leadership key outlives it
# by its lease (20 s); dapr-facts.md measured 20-23 s without fires after a SIGKILL, and the
# recorded runs in tests/unit/histories 23.1 s (fault_kill_scheduler) and 23.4 s
# (mechanisms_kill_scheduler): the source's 20 s plus the re-election, so up to 24 s here.
LEASE_S = (20.0, 24.0)
# After SIGCONT the overdue cron entry fires (kit cron.go) up to ~2 s later: in
# tests/unit/histories/fault_pause_replica.jsonl replica 1, paused 8.0-12.05 s, fired at
# 14.01 s and again at 14.04 s (its regular fire of the 14 s tick, ``Next = Schedule.Next(wake)``
# with the wake just before 14 s), so the first of the two stood for a tick it had missed.
RESUME_LAG_S = (0.01, 2.0)
# Placement moves an actor off a dead host after its heartbeat timeout (measured ~2-4 s here).
REBALANCE_S = (2.0, 4.0)
SLOW_DELAY_S = 5.0  # harness/drive/nemesis.py SLOW_DELAY_MS


# ============================================================================================
# The world: replicas, Scheduler, Redis over time
# ============================================================================================

@dataclass(frozen=True)
class Span:
    start: float
    end: float
    state: ReplicaState
    kind: str  # the fault kind that causes it


@dataclass
class ReplicaLife:
    index: int
    app: str  # "http" or "grpc"
    started: float  # daprd exec'd (replica_started)
    ready: float  # healthy (replica_ready): its stream is open, its cron running
    pid: int
    stopped: float | None = None  # scale_in's replica_stopped
    spans: list[Span] = field(default_factory=list)

    def state(self, t: float) -> ReplicaState:
        if t < self.started:
            return "absent"
        if self.stopped is not None and t >= self.stopped:
            return "gone"
        if t < self.ready:
            return "starting"
        for span in self.spans:
            if span.start <= t < span.end:
                return span.state
        return "ok"

    def span_at(self, t: float) -> Span | None:
        return next((s for s in self.spans if s.start <= t < s.end), None)


@dataclass(frozen=True)
class Handler:
    """The scenario's answer rule for the task (harness/apps/recorder.py rule_for)."""

    status: int = 200
    delay_s: float = 0.0


@dataclass
class World:
    replicas: dict[int, ReplicaLife]
    scheduler_down: list[tuple[float, float, str]] = field(default_factory=list)  # start, resume
    redis_down: list[tuple[float, float]] = field(default_factory=list)
    rng: random.Random = field(default_factory=random.Random)
    _hosts: list[tuple[float, int]] = field(default_factory=list)

    def of_app(self, app: str) -> list[ReplicaLife]:
        return [r for r in self.replicas.values() if r.app == app]

    def scheduler_up_at(self, t: float) -> float:
        """The first moment from ``t`` the Scheduler fires (it fires nothing while down)."""
        for start, resume, _ in sorted(self.scheduler_down):
            if start <= t < resume:
                t = resume
        return t

    def scheduler_outage(self, a: float, b: float) -> tuple[float, float, str] | None:
        """An outage that starts in ``(a, b]``: an answer due then never reaches the Scheduler."""
        return next((o for o in self.scheduler_down if a < o[0] <= b), None)

    def redis_up_at(self, t: float) -> float:
        for start, end in sorted(self.redis_down):
            if start <= t < end:
                t = end
        return t

    def redis_is_down(self, t: float) -> bool:
        return any(start <= t < end for start, end in self.redis_down)

    def connected(self, app: str, t: float) -> list[ReplicaLife]:
        """Sidecars with an open Scheduler stream: started, healthy, not killed or gone (a
        paused sidecar's stream stays open; an app_down sidecar's too)."""
        return [r for r in self.of_app(app)
                if r.state(t) in ("ok", "app_down", "paused", "failing", "slow")]

    def next_connect(self, app: str, t: float) -> float:
        """When a trigger staged at ``t`` (no stream for the app) becomes deliverable
        (counters.go: staged until the prefix is deliverable, then Enqueue)."""
        moments = sorted({t, *(s.end for r in self.of_app(app) for s in r.spans),
                          *(r.ready for r in self.of_app(app))})
        for m in moments:
            if m >= t and self.connected(app, m + 1e-6):
                return m + 1e-6
        return math.inf

    def actor_host(self, t: float) -> ReplicaLife | None:
        """The HTTP replica placement has put the actor on at ``t``: the first one ready; when
        the host dies (sidecar down, gone) placement moves the actor to a live replica once the
        host's heartbeat times out (REBALANCE_S)."""
        if not self._hosts:
            first = min((r for r in self.of_app("http")), key=lambda r: (r.ready, r.index))
            self._hosts.append((first.ready, first.index))
        host_from, host = self._hosts[-1]
        while True:
            life = self.replicas[host]
            death = next((x for x in _deaths(life) if x >= host_from), None)
            if death is None or death > t:
                break
            moved = death + self.rng.uniform(*REBALANCE_S)
            alive = [r for r in self.of_app("http") if r.index != host
                     and r.state(moved) in ("ok", "failing", "slow", "app_down")]
            if not alive:
                moved = max(moved, self._back_at(life, death))
                alive = [life]
            host = min(alive, key=lambda r: r.index).index
            self._hosts.append((moved, host))
            host_from = moved
        chosen = [h for start, h in self._hosts if start <= t]
        return self.replicas[chosen[-1]] if chosen else None

    def _back_at(self, life: ReplicaLife, death: float) -> float:
        span = life.span_at(death)
        return span.end if span is not None else math.inf


def _deaths(life: ReplicaLife) -> list[float]:
    out = [s.start for s in life.spans if s.state == "sidecar_down"]
    if life.stopped is not None:
        out.append(life.stopped)
    return sorted(out)


# ============================================================================================
# Truth records
# ============================================================================================

@dataclass
class Attempt:
    """One request Dapr makes to an app replica (recorded or not), with its true label."""

    mechanism: str
    name: str
    replica: int
    at: float  # arrival at the app (the recorded wall time, before any clock step)
    status: int | None  # what the app answered; None: refused (app down), never recorded
    recorded: bool
    role: Role
    succeeded: bool
    due: float | None = None  # the scheduled time of the tick it stands for
    iteration: int | None = None  # workflow
    work: bool | None = None  # gated and workflow
    gate: str | None = None
    payload: Any = None
    legit: bool = True  # Dapr can make it (False: an injected anomaly)
    early: bool = False  # it came before the tick it does (a workflow iteration run early)
    why: str = ""  # the rule or the anomaly that made it


@dataclass
class Tick:
    """One scheduled tick of a task (per replica for a plain binding)."""

    mechanism: str
    due: float
    replica: int | None = None  # plain bindings: the sidecar whose tick it is
    iteration: int | None = None  # workflow
    attempts: list[Attempt] = field(default_factory=list)
    complete: bool = False  # Dapr made every attempt it owes (or was told to stop)
    # Why losing this tick is documented: a fault kind (LOSSES_UNDER), or "superseded" (due
    # before a delete or overwrite that came before Dapr reached it).
    excuse: str | None = None
    period: float = 1.0


@dataclass
class Delivery:
    ticks: list[Tick]
    attempts: list[Attempt]


@dataclass(frozen=True)
class Task:
    """What the model delivers: one scenario task and its timeline."""

    mechanism: str
    name: str
    schedule: str | None = None  # binding, gated, workflow
    segments: tuple[JobSegment, ...] = ()  # job, job-sdk, reminder
    start: float = 0.0  # workflow: when it was started
    handler: Handler = Handler()
    data: Any = None


@dataclass(frozen=True)
class JobSegment:
    """One life of a job in the Scheduler: from a create (or an overwrite) to the next overwrite
    or delete (counters.go handleInformed: a Put replaces the counter, with a new partition id,
    so its count starts again; a delete deschedules it)."""

    created: float  # the Scheduler's clock when it parsed the job (builder.go Parse ``now``)
    schedule: str | None = None
    due_s: float | None = None
    repeats: int | None = None
    ttl_s: float | None = None
    policy: Policy = DEFAULT_POLICY
    payload: Any = None
    ends: float = math.inf

    @property
    def due(self) -> float | None:
        return None if self.due_s is None else self.created + self.due_s

    @property
    def expiration(self) -> float | None:
        # builder.go Parse: ttl counts from the due time when there is one, else from now.
        if self.ttl_s is None:
            return None
        return (self.due if self.due is not None else self.created) + self.ttl_s

    def ticks(self) -> Iterator[float]:
        schedule = Schedule.parse(self.schedule) if self.schedule else None
        return job_ticks(schedule, self.created, self.due, self.repeats, self.expiration)

    @property
    def period(self) -> float:
        return Schedule.parse(self.schedule).period if self.schedule else 1.0


# ============================================================================================
# Simulation
# ============================================================================================

def _latency(rng: random.Random) -> float:
    return rng.uniform(0.002, 0.015)


@dataclass(frozen=True)
class Answer:
    recorded: bool
    arrival: float
    status: int | None
    done: float  # when the answer reaches daprd
    state: ReplicaState


def _answer(world: World, life: ReplicaLife, sent: float, mechanism: str, handler: Handler,
            rng: random.Random) -> Answer:
    """What one replica's app does with a request sent at ``sent``."""
    arrival = sent + _latency(rng)
    span = life.span_at(arrival)
    state = life.state(arrival)
    over_http = MECHANISMS[mechanism].over_http
    if state == "paused":  # frozen: the request waits in the socket until SIGCONT
        assert span is not None
        return _answer(world, life, span.end, mechanism, handler, rng)
    if state in ("app_down", "sidecar_down", "gone", "absent"):
        return Answer(False, arrival, None, arrival + 0.001, state)
    if state == "failing" and over_http:
        return Answer(True, arrival, 500, arrival + 0.002, state)
    if state == "slow" and over_http:  # the nemesis' rule replaces the status too (200)
        return Answer(True, arrival, 200, arrival + SLOW_DELAY_S, state)
    return Answer(True, arrival, handler.status, arrival + handler.delay_s + 0.002, "ok")


def simulate(task: Task, world: World, horizon: float) -> Delivery:
    """Every request Dapr makes for ``task`` until ``horizon``, labelled."""
    if task.mechanism in ("job", "job-sdk", "reminder"):
        return _scheduled(task, world, horizon)
    if task.mechanism == "workflow":
        return _workflow(task, world, horizon)
    return _bindings(task, world, horizon)


# --- Scheduler jobs: job, job-sdk, reminder ----------------------------------------------------

def _app_of(mechanism: str) -> str:
    return MECHANISMS[mechanism].app


def _scheduled(task: Task, world: World, horizon: float) -> Delivery:
    ticks: list[Tick] = []
    attempts: list[Attempt] = []
    for segment in task.segments:
        ready = segment.created  # the job's previous tick is answered (none yet)
        for due in segment.ticks():
            # counters.go: the next tick is enqueued only once the previous one is answered
            # (handleTrigger -> Enqueue), and fires at once if overdue.
            fire = world.scheduler_up_at(max(due, ready))
            if fire >= horizon:
                break
            if fire >= segment.ends:
                # Due before the job was overwritten or deleted, but not reached in time (the
                # ticks before it still held the counter): counters.go handleInformed drops it.
                ticks += [Tick(task.mechanism, t, complete=True, excuse="superseded",
                               period=segment.period)
                          for t in itertools.takewhile(lambda t: t < segment.ends,
                                                       itertools.chain([due], segment.ticks()))
                          if t >= due]
                break
            tick = Tick(task.mechanism, due, period=segment.period)
            ready = _chain(task, segment, tick, fire, world, attempts, horizon)
            ticks.append(tick)
    return Delivery(ticks, attempts)


def _chain(task: Task, segment: JobSegment, tick: Tick, fire: float, world: World,
           attempts: list[Attempt], horizon: float) -> float:
    """The attempts of one tick; returns when its last answer reached the Scheduler."""
    rng, app, policy = world.rng, _app_of(task.mechanism), segment.policy
    failed, at, resend = 0, fire, False
    causes: list[str] = []
    while True:
        if at >= segment.ends or at >= horizon:
            tick.complete = True  # deleted or overwritten (nothing more is owed), or unseen
            if not any(a.recorded for a in tick.attempts):
                tick.excuse = "superseded"
            return at
        at = _deliverable(world, app, at)
        if at == math.inf:
            return at  # no sidecar ever connects again: the tick is owed, never delivered
        life = _receiver(world, task, at)
        answer = _answer(world, life, at, task.mechanism, task.handler, rng)
        ok = answer_succeeds(task.mechanism, answer.status)
        _record(task, tick, attempts, life, answer, ok, segment.payload, resend)
        # The stream broke with the trigger in flight (its sidecar died before the answer), or
        # the Scheduler died before the answer reached it: the trigger is sent again at once to
        # another stream (pool/loops/stream/stream.go handleShutdown -> UNDELIVERABLE ->
        # counters.go Stage/Enqueue), or on recovery (the counter never advanced, counter.go).
        # Neither counts as a failed attempt.
        broken = _stream_break(task, life, at, answer)
        outage = world.scheduler_outage(at, answer.done)
        if broken is not None or outage is not None:
            again = broken if broken is not None else outage[1]
            at, resend = world.scheduler_up_at(again), answer.recorded
            continue
        resend = False
        if ok:
            return answer.done
        if not answer.recorded:
            causes.append(_cause(life, answer))
        failed += 1
        if not policy.tries_again(failed):
            tick.complete = True
            if not any(a.recorded for a in tick.attempts):
                tick.excuse = causes[-1] if causes else None
            return answer.done
        at = world.scheduler_up_at(max(policy.retry_due(tick.due, failed), answer.done))


def _cause(life: ReplicaLife, answer: Answer) -> str:
    span = life.span_at(answer.arrival)
    if span is not None:
        return span.kind
    return "scale_in" if answer.state == "gone" else answer.state


def _deliverable(world: World, app: str, at: float) -> float:
    """Staging: with no stream for the app the trigger waits for one (counters.go
    UNDELIVERABLE -> Stage; Deliverable -> Enqueue), and the Scheduler must be up too."""
    for _ in range(20):
        nxt = world.scheduler_up_at(at)
        if not world.connected(app, nxt):
            nxt = world.next_connect(app, nxt)
        if nxt == at or nxt == math.inf:
            return nxt
        at = nxt
    return at


def _receiver(world: World, task: Task, at: float) -> ReplicaLife:
    """Job triggers go to one stream of the app-id, round robin over every sidecar's streams
    (pool/loops/connections: a random connected sidecar here); a reminder goes to whichever
    sidecar, which calls the actor's host (placement), so the host is who answers."""
    if task.mechanism == "reminder":
        host = world.actor_host(at)
        assert host is not None
        return host
    return world.rng.choice(world.connected(_app_of(task.mechanism), at))


def _stream_break(task: Task, life: ReplicaLife, sent: float, answer: Answer) -> float | None:
    """When the receiving stream broke with this trigger in flight (None: it did not). For a
    reminder the stream is another sidecar's: a dead host is a failed call, not a break."""
    if task.mechanism == "reminder":
        return None
    deaths = [s.start for s in life.spans if s.state == "sidecar_down"]
    if life.stopped is not None:
        deaths.append(life.stopped)
    for death in deaths:
        if sent <= death < answer.done or (not answer.recorded and sent <= death <= answer.arrival):
            return death + 0.005
    return None


def _record(task: Task, tick: Tick, attempts: list[Attempt], life: ReplicaLife, answer: Answer,
            ok: bool, payload: Any, resend: bool) -> None:
    """The attempt, labelled against what is recorded: the first recorded attempt is
    ``first`` (an earlier one may have hit a dead app unseen), a re-sent one ``duplicate``, the
    others ``retry``."""
    before = [a for a in tick.attempts if a.recorded]
    role: Role
    if not before:
        role = "first"
    elif resend or before[-1].succeeded:
        role = "duplicate"
    else:
        role = "retry"
    attempt = Attempt(task.mechanism, task.name, life.index, answer.arrival, answer.status,
                      answer.recorded, role, ok, due=tick.due, payload=payload,
                      why=f"replica {answer.state}" + (", re-sent" if resend else ""))
    tick.attempts.append(attempt)
    attempts.append(attempt)


# --- Workflow ------------------------------------------------------------------------------------

def _workflow(task: Task, world: World, horizon: float) -> Delivery:
    """The harness's loop (harness/apps/workflow_app.py cleanup_loop): the activity (the work,
    recorded with tick = iteration), a durable timer of one period, continue-as-new.

    - The activity runs on any replica's worker (each replica runs one, its activity actor is
      placed anywhere). It runs even while Redis is down, but its result cannot be saved, so it
      runs again once Redis is back: tests/unit/histories/mechanisms_restart_redis.jsonl shows
      iteration 5 at 8.14 s (Redis down 8.0-12.1 s) and again at 12.25 s.
    - The timer is a one-shot reminder on the orchestration's actor (TIMER_POLICY: retried every
      second, forever): held while the Scheduler is down, it fires once on recovery (no replay
      of the iterations the wait skipped: mechanisms_kill_scheduler.jsonl resumes with
      iteration 5 after 23 s); held while the actor's host is paused (mechanisms_pause_replica:
      iteration 5 waits for SIGCONT); retried while the host is dead until placement moves
      the actor, or while its app is down.
    """
    rng = world.rng
    period = Schedule.parse(task.schedule or "@every 1s").period
    ticks: list[Tick] = []
    attempts: list[Attempt] = []
    at = task.start + rng.uniform(0.02, 0.08)
    iteration, due = 1, at
    while at < horizon:
        workers = [r for r in world.of_app("http") if r.state(at) in ("ok", "failing", "slow")]
        if not workers:
            at = _next_worker(world, at)
            continue
        life = rng.choice(workers)
        tick = Tick("workflow", due, iteration=iteration, period=period, complete=True)
        payload = _workflow_payload(task, period, iteration)
        _activity(tick, attempts, task, life.index, at, "first", "activity", payload)
        done = at
        rerun = _cut_off(world, life, at)
        if world.redis_is_down(at):
            back = world.redis_up_at(at) + rng.uniform(0.1, 0.3)
            rerun = (back, rng.choice(world.of_app("http")).index, "restart_redis")
        if rerun is not None:
            _activity(tick, attempts, task, rerun[1], rerun[0], "duplicate",
                      f"activity re-run after {rerun[2]}", payload)
            done = rerun[0]
        ticks.append(tick)
        created = done + rng.uniform(0.01, 0.04)  # the orchestrator schedules the timer
        due = created + period
        at = _timer_fired(world, due, horizon) + rng.uniform(0.02, 0.06)  # then continue-as-new
        iteration += 1
    return Delivery(ticks, attempts)


def _activity(tick: Tick, attempts: list[Attempt], task: Task, replica: int, at: float,
              role: Role, why: str, payload: dict[str, Any]) -> None:
    attempt = Attempt("workflow", task.name, replica, at, 200, True, role, True, due=tick.due,
                      iteration=tick.iteration, work=True, payload=payload, why=why)
    tick.attempts.append(attempt)
    attempts.append(attempt)


def _timer_fired(world: World, due: float, horizon: float) -> float:
    """When the durable timer due at ``due`` reaches a live orchestration."""
    at = world.scheduler_up_at(due)
    while at < horizon:
        host = world.actor_host(at)
        state = host.state(at) if host is not None else "absent"
        if state in ("ok", "failing", "slow", "starting"):
            return world.redis_up_at(at)
        if state == "paused" and host is not None:
            span = host.span_at(at)
            at = span.end if span is not None else at + 1.0
        else:
            at = world.scheduler_up_at(at + TIMER_POLICY.interval_s)  # failed: retried in 1 s
    return at


def _next_worker(world: World, at: float) -> float:
    moments = sorted({*(s.end for r in world.of_app("http") for s in r.spans),
                      *(r.ready for r in world.of_app("http"))})
    return next((m + 1e-6 for m in moments if m >= at), math.inf)


def _cut_off(world: World, life: ReplicaLife, at: float) -> tuple[float, int, str] | None:
    """A replica fault that starts within 50 ms of an activity on that replica cuts it off."""
    for span in life.spans:
        if span.state in ("sidecar_down", "app_down", "paused", "gone") and at <= span.start < at + 0.05:
            others = [r for r in world.of_app("http")
                      if r.index != life.index and r.state(span.start + 1.0) == "ok"]
            if others:
                return span.start + 1.0, world.rng.choice(others).index, span.kind
    return None


def _workflow_payload(task: Task, period: float, iteration: int) -> dict[str, Any]:
    # harness/apps/workflow_app.py workflow_input + the activity's ``instance``.
    return {"task": task.name, "period_s": period, "data": task.data, "iteration": iteration,
            "instance": task.name}


# --- Cron bindings: binding, binding-lock, binding-claim ---------------------------------------

def _cron_runs(life: ReplicaLife, rng: random.Random) -> list[tuple[float, float]]:
    """When the replica's daprd runs its cron: from init (just before it reports healthy) to its
    death, again after each restart (a killed daprd loses its in-memory cron)."""
    runs, start = [], life.ready - rng.uniform(0.05, 0.3)
    for span in sorted((s for s in life.spans if s.state == "sidecar_down"), key=lambda s: s.start):
        runs.append((start, span.start))
        start = span.end - rng.uniform(0.05, 0.3)
    runs.append((start, life.stopped if life.stopped is not None else math.inf))
    return runs


def _bindings(task: Task, world: World, horizon: float) -> Delivery:
    """Every sidecar runs its own cron (components-contrib bindings/cron/cron.go Read: one
    dapr/kit cron per sidecar) and calls its own app; gated mechanisms then take the tick's
    gate in the handler (harness/apps/app.py _gated_binding)."""
    schedule = Schedule.parse(task.schedule or "@every 1s")
    ticks: list[Tick] = []
    attempts: list[Attempt] = []
    for life in world.of_app("http"):
        runs = _cron_runs(life, world.rng)
        for i, run in enumerate(runs):
            restart = runs[i + 1][0] if i + 1 < len(runs) else None
            _cron_run(task, schedule, life, run, restart, world, horizon, ticks, attempts)
    if task.mechanism in ("binding-lock", "binding-claim"):
        return _gate(task, schedule, ticks, attempts, world)
    return Delivery(ticks, attempts)


def _cron_run(task: Task, schedule: Schedule, life: ReplicaLife, run: tuple[float, float],
              restart: float | None, world: World, horizon: float, ticks: list[Tick],
              attempts: list[Attempt]) -> None:
    """dapr/kit cron/cron.go run: ``entry.Next = Schedule.Next(now)`` at start; on each wake the
    entries due fire once (startJob: each in its own goroutine, so a slow answer delays
    nothing) and ``Next = Schedule.Next(wake)``. For ``@every`` that is wake + D, so the chain
    slips by each timer's lateness; a cron spec goes back to its grid. A paused process wakes
    late: the overdue entry fires once, at the wake, and the ticks it missed are skipped. A
    killed daprd's cron is gone with it: its ticks until the restart are skipped."""
    rng, period = world.rng, schedule.period
    due = schedule.next_after(run[0])
    while due < min(run[1], horizon):
        wake = due + rng.uniform(0.0002, 0.002)  # Go timer lateness
        span = life.span_at(wake)
        skipped: list[float] = []
        if span is not None and span.state == "paused":
            wake = span.end + rng.uniform(*RESUME_LAG_S)
            skipped = _missed(schedule, due, wake)
        if wake >= run[1]:
            break
        for missed in skipped[:-1]:  # the wake fire stands for the latest tick it missed
            ticks.append(Tick(task.mechanism, missed, replica=life.index, complete=True,
                              excuse="pause_replica", period=period))
        stands_for = skipped[-1] if skipped else due
        tick = Tick(task.mechanism, stands_for, replica=life.index, complete=True, period=period,
                    excuse="pause_replica" if skipped else None)
        answer = _answer(world, life, wake, task.mechanism, task.handler, rng)
        if answer.recorded:
            attempt = Attempt(task.mechanism, task.name, life.index, answer.arrival,
                              answer.status, True, "first", True, due=stands_for,
                              why=f"cron fire, replica {answer.state}")
            tick.attempts.append(attempt)
            attempts.append(attempt)
        else:
            tick.excuse = _cause(life, answer)
        ticks.append(tick)
        due = schedule.next_after(wake)
    if restart is None:
        return  # the replica was stopped for good (scale_in) or the horizon came first
    # The killed cron's ticks, skipped until the restart: a cron spec's grid ticks before the new
    # cron starts; for ``@every`` the old chain's ticks more than half a period before the new
    # chain's first fire (one period after its start), i.e. round(gap / D) - 1 of them.
    limit = restart + schedule.every / 2 if schedule.every is not None else restart
    while due < min(limit, horizon):
        ticks.append(Tick(task.mechanism, due, replica=life.index, complete=True,
                          excuse="kill_daprd", period=period))
        due = due + schedule.every if schedule.every is not None else schedule.next_after(due)


def _missed(schedule: Schedule, due: float, wake: float) -> list[float]:
    """The ticks due from ``due`` up to ``wake`` (a ``@every`` chain counts on at D)."""
    out, t = [], due
    while t <= wake:
        out.append(t)
        t = t + schedule.every if schedule.every is not None else schedule.next_after(t)
    return out


def _gate(task: Task, schedule: Schedule, per_replica: list[Tick], attempts: list[Attempt],
          world: World) -> Delivery:
    """One tick across replicas; the calls race for the gate (lock.redis SET NX /
    state.redis first-write, harness/apps/gates.py): the first call to reach it wins, the
    rest lose; a call while Redis is down fails (no work); a winner told to fail
    (app_failing) holds the gate without doing the work (harness/apps/app.py _gated_binding)."""
    rng = world.rng
    by_due: dict[float, Tick] = {}
    for t in per_replica:  # the sidecars' ticks, each call under the key its app computes
        by_due.setdefault(t.due, Tick(task.mechanism, t.due, complete=True, period=schedule.period))
        if t.excuse:  # the sidecar skipped it, or its catch-up call went under a later key
            by_due[t.due].excuse = by_due[t.due].excuse or t.excuse
    for call in attempts:
        # harness/apps/gates.py tick_key: the scheduled time at or before the call's arrival,
        # which all sidecars share for a cron schedule (a late catch-up call takes the key of
        # the tick it arrives in, not of the tick it stands for).
        key = math.floor(call.at / schedule.period + 1e-9) * schedule.period
        tick = by_due.setdefault(key, Tick(task.mechanism, key, complete=True,
                                           period=schedule.period))
        call.due = key
        tick.attempts.append(call)
    for tick in by_due.values():
        calls = sorted(tick.attempts, key=lambda a: a.at + rng.uniform(0.001, 0.02))
        won = False
        for call in calls:
            down = world.redis_is_down(call.at)
            wins = not won and not down
            won = won or wins
            call.work = wins and (call.status or 200) < 300
            call.gate = _gate_text(task.mechanism, wins, down, rng)
            if wins and not call.work and "failing" in call.why:
                tick.excuse = "app_failing"  # the winner was told to fail: no work
            if down:
                tick.excuse = tick.excuse or "restart_redis"
    return Delivery(sorted(by_due.values(), key=lambda t: t.due), attempts)


def _gate_text(mechanism: str, wins: bool, down: bool, rng: random.Random) -> str:
    """The ``gate`` field as harness/apps/gates.py GateResult.record writes it."""
    ms = rng.uniform(2, 40)
    if down:
        return f"None {5000 + ms:.0f}ms ConnectError: connection refused"
    if mechanism == "binding-lock":
        return f"200 {ms:.0f}ms {{\"success\":{'true' if wins else 'false'}}}"
    return f"204 {ms:.0f}ms " if wins else f"409 {ms:.0f}ms {{\"errorCode\":\"ERR_STATE_SAVE\"}}"


# ============================================================================================
# Counting the truth
# ============================================================================================

@dataclass
class Counts:
    """What a correct checker must find for one task: the definitions the properties hold it to.

    A *tick* is one scheduled due time: per sidecar for a plain binding (the checker's per
    replica view), per grid instant across sidecars for a gated binding (keyed as the app keys
    it, harness/apps/gates.py tick_key), per iteration for a workflow (due: the previous
    iteration's timer, i.e. its activity plus one period), per Scheduler tick for the others
    (repeats.go: on the schedule from the Scheduler's clock at create, never drifting; for a
    ``@every`` binding the chain: previous fire + D). A tick is *judged* when its due time is in
    [window_start, window_end).

    - lost: a judged tick without the delivery Dapr owed: no recorded attempt (gated, workflow:
      no work done), or a failed chain that stopped short of its policy (retries missing).
      Documented losses count too (``excuse``: a fault kind of LOSSES_UNDER, or ``superseded``:
      due before a delete or overwrite that came before Dapr reached it); ``lost_unexcused``
      are the others.
    - undelivered: every attempt the policy owes was made and failed (the app refused).
    - duplicated / extra: judged ticks with an attempt that is neither the first nor a retry
      the policy makes (a re-send after a broken stream or lost answer, a retry beyond the
      count, one sooner than ``tick + k * interval``, a second gate winner, a re-run activity,
      a second fire of one sidecar) / how many such attempts.
    - early: attempts before the tick they could stand for (Dapr never fires early).
    - late: judged ticks whose first recorded attempt came more than LATE_FRACTION of a period
      after the due time (replays after a hold included).
    - retries: recorded attempts the failure policy makes after a failed one.
    - impossible: attempts no rule explains (after a delete, past repeats or ttl, from a
      stopped or unknown replica).
    """

    ticks: int = 0
    lost: int = 0  # judged ticks without a delivery Dapr owed (no attempt, or retries missing)
    lost_unexcused: int = 0  # ... where no fault documents the loss
    duplicated: int = 0  # judged ticks with an attempt Dapr cannot make for them twice
    duplicated_unexcused: int = 0
    extra: int = 0  # such attempts, summed
    early: int = 0  # attempts before their tick (anywhere in the window)
    late: int = 0  # judged ticks whose first delivery came > LATE_FRACTION period late
    retries: int = 0  # recorded retries the failure policy makes
    undelivered: int = 0  # judged ticks whose every owed attempt was made and failed
    impossible: int = 0  # attempts no rule explains (after deletion, past repeats/ttl, ...)


def _delivered(tick: Tick) -> bool:
    owed = [a for a in tick.attempts if a.recorded and a.role in ("first", "retry", "duplicate")]
    if tick.mechanism in ("binding-lock", "binding-claim", "workflow"):
        return any(a.work for a in owed)
    return any(a.succeeded for a in owed)


def _attempted(tick: Tick) -> bool:
    return any(a.recorded and a.role in ("first", "retry") for a in tick.attempts)


def tally(delivery: Delivery, window: tuple[float, float]) -> Counts:
    counts = Counts()
    start, end = window
    for tick in delivery.ticks:
        if not start <= tick.due < end:
            continue
        counts.ticks += 1
        legit = [a for a in tick.attempts if a.recorded and a.role in ("first", "retry")]
        if not _delivered(tick):
            if tick.mechanism in ("binding-lock", "binding-claim", "workflow", "binding"):
                lost = True if tick.mechanism != "binding" else not _attempted(tick)
            else:
                lost = not legit or not tick.complete
            if lost:
                counts.lost += 1
                counts.lost_unexcused += tick.excuse is None
            else:
                counts.undelivered += 1
        dups = _duplicates(tick)
        if dups:
            counts.duplicated += 1
            counts.extra += len(dups)
            counts.duplicated_unexcused += any(not a.legit for a in dups)
        if legit and legit[0].at > tick.due + LATE_FRACTION * tick.period:
            counts.late += 1
        counts.retries += sum(1 for a in legit if a.role == "retry")
    for attempt in delivery.attempts:
        if attempt.recorded and (attempt.role == "early" or attempt.early) and start <= attempt.at < end:
            counts.early += 1
        if attempt.recorded and attempt.role == "impossible":
            counts.impossible += 1
    return counts


def _duplicates(tick: Tick) -> list[Attempt]:
    recorded = [a for a in tick.attempts if a.recorded]
    if tick.mechanism in ("binding-lock", "binding-claim"):
        workers = [a for a in recorded if a.work]
        return workers[1:]
    return [a for a in recorded if a.role == "duplicate"]


def breaks_expectation(counts: Counts, expectation: Any) -> list[str]:
    """Why the true counts break a harness.scenario.model.Expectation (empty: they do not).
    An attempt no rule explains breaks every expectation: Dapr cannot make it."""
    reasons = []
    if counts.impossible:
        reasons.append(f"{counts.impossible} attempt(s) Dapr cannot make")
    if counts.lost > expectation.max_lost:
        reasons.append(f"lost {counts.lost} > {expectation.max_lost}")
    allowed = expectation.duplicates_allowed
    if allowed is not None and counts.duplicated > allowed:
        reasons.append(f"duplicated {counts.duplicated} > {allowed}")
    if counts.early > expectation.max_early:
        reasons.append(f"early {counts.early} > {expectation.max_early}")
    if counts.ticks < expectation.min_ticks:
        reasons.append(f"ticks {counts.ticks} < {expectation.min_ticks}")
    return reasons


def breaks_promise(counts: Counts) -> list[str]:
    """Why the truth breaks Dapr's promise under the scenario's faults: a loss or a duplicate
    no fault documents (LOSSES_UNDER, DUPLICATES_UNDER), an attempt no rule explains, an early
    attempt (Dapr never fires before the due time: repeats.go, kit cron.go)."""
    reasons = []
    if counts.lost_unexcused:
        reasons.append(f"{counts.lost_unexcused} tick(s) lost without a fault that allows it")
    if counts.duplicated_unexcused:
        reasons.append(f"{counts.duplicated_unexcused} tick(s) duplicated without a fault that allows it")
    if counts.impossible:
        reasons.append(f"{counts.impossible} attempt(s) Dapr cannot make")
    if counts.early:
        reasons.append(f"{counts.early} early attempt(s)")
    return reasons
