"""Scenario files: pure data describing one experiment, validated before anything runs.

A scenario file is YAML. Every field is checked up front; a bad file raises ScenarioError with
one message naming the file, the field, the bad value and what is allowed.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.scenario.faults import FaultKind, Link
from harness.scenario.mechanisms import REDIS_BACKED, Launcher, Mechanism, TaskMechanism
from harness.errors import UserError

__all__ = [
    "ApiCall",
    "AppHandler",
    "AppSpec",
    "BindingSpec",
    "Claim",
    "ConstantPolicy",
    "EvidencePlan",
    "Expectation",
    "FailurePolicy",
    "FaultKind",
    "ScenarioKind",
    "FaultSpec",
    "JobExpectation",
    "JobSpec",
    "Scenario",
    "ScenarioError",
    "TaskSpec",
]


class ScenarioError(UserError, ValueError):
    """A scenario file that cannot be run. The message names file, field, value, what is allowed."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ConstantPolicy(_Strict):
    interval: str = "1s"  # Go duration
    maxRetries: int | None = Field(default=None, ge=0)


class FailurePolicy(_Strict):
    constant: ConstantPolicy | None = None
    drop: dict[str, Any] | None = None


class JobSpec(_Strict):
    """A job created through the Jobs API. Field names match the API's JSON body."""

    name: str
    api: Literal["v1.0", "v1.0-alpha1"] = "v1.0"
    schedule: str | None = None
    dueTime: str | None = None
    repeats: int | None = Field(default=None, ge=1)
    ttl: str | None = None
    data: Any = None
    overwrite: bool | None = None
    failurePolicy: FailurePolicy | None = None
    # Raw extra fields sent in the body as-is (to probe that unknown fields are ignored).
    extra_fields: dict[str, Any] = Field(default_factory=dict)
    # Send dueTime as an RFC3339 UTC timestamp this many seconds after the create request
    # (rounded up to a whole second); the sent value is in the history's job_created event.
    due_rfc3339_in_s: float | None = Field(default=None, gt=0, le=86400)
    # Seconds after the window starts at which the job is created.
    at_s: float = Field(default=0.0, ge=0)
    # HTTP status the create call must return (204 normally; probes of bad input set others).
    expect_status: int = Field(default=204, ge=100, le=599)

    def body(self, now: float | None = None) -> dict[str, Any]:
        """The Jobs API request body for this job (``now``: epoch seconds of the request, used
        by ``due_rfc3339_in_s``; defaults to the current time)."""
        body: dict[str, Any] = {
            key: value
            for key, value in self.model_dump(
                include={"schedule", "dueTime", "repeats", "ttl", "data", "overwrite"},
                exclude_none=True,
            ).items()
        }
        if self.failurePolicy is not None:
            body["failurePolicy"] = self.failurePolicy.model_dump(exclude_none=True)
        if self.due_rfc3339_in_s is not None:
            due = math.ceil((time.time() if now is None else now) + self.due_rfc3339_in_s)
            body["dueTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(due))
        body.update(self.extra_fields)
        return body


class BindingSpec(_Strict):
    """A bindings.cron component installed for the app before the replicas start."""

    name: str
    schedule: str
    route: str | None = None
    template: str = "cron.yaml"  # a file in components/




class TaskSpec(_Strict):
    """Scheduled work run by one of the mechanisms beside the Jobs API over HTTP and the plain
    cron binding (see harness/drive/tasks.py for what each does).

    ``schedule``: job-sdk takes any Jobs API schedule; binding-lock and binding-claim a cron
    schedule (5 or 6 fields, not ``@every``: the tick key is the scheduled time, which every
    sidecar must share); reminder and workflow ``@every <Go duration>`` (the period).
    ``at_s``: when the job is created, the reminder registered or the workflow started; the
    binding components are installed before the replicas start, so theirs must be 0.
    """

    mechanism: TaskMechanism
    name: str
    schedule: str
    data: Any = None
    at_s: float = Field(default=0.0, ge=0)


class AppHandler(_Strict):
    """How the sample app answers triggers that match ``mechanism`` and ``name`` (a glob)."""

    mechanism: Mechanism
    name: str = "*"
    status: int = Field(default=200, ge=100, le=599)
    delay_ms: int = Field(default=0, ge=0, le=600_000)
    body: Any = None


class AppSpec(_Strict):
    api_token: str | None = None
    handlers: tuple[AppHandler, ...] = ()


class Expectation(_Strict):
    """What the checker must see for one mechanism for the scenario to pass."""

    delivery: Literal["exactly_once", "once_per_replica", "at_least_once"]
    min_ticks: int = Field(default=1, ge=0)
    max_lost: int = Field(default=0, ge=0)
    # None: no cap under at_least_once (duplicates are within its promise), 0 otherwise.
    max_duplicated: int | None = Field(default=None, ge=0)
    max_early: int = Field(default=0, ge=0)
    triggers: int | None = Field(default=None, ge=0)  # exact total, when it is known

    @property
    def duplicates_allowed(self) -> int | None:
        """How many duplicated ticks pass (None: any)."""
        if self.max_duplicated is not None:
            return self.max_duplicated
        return None if self.delivery == "at_least_once" else 0




class FaultSpec(_Strict):
    kind: FaultKind
    at_s: float = Field(ge=0)
    duration_s: float | None = Field(default=None, gt=0)
    replica: int | None = Field(default=None, ge=0)
    # Scheduler faults: which member of a `schedulers: N` cluster (default 0).
    member: int | None = Field(default=None, ge=0)
    # Instead of `replica`: hit the replica that received this mechanism's latest trigger when
    # the fault starts (placement decides which replica hosts the reminder's actor).
    follow: Literal["reminder", "workflow"] | None = None
    # Network faults (harness/scenario/faults.py says which kind takes which field):
    link: Link | None = None  # the daprd links a toxic acts on (default: to the Scheduler)
    latency_ms: int | None = Field(default=None, ge=0, le=60_000)  # latency: added delay
    jitter_ms: int | None = Field(default=None, ge=0, le=60_000)  # latency: +/- spread
    rate_kb_s: int | None = Field(default=None, ge=1, le=1_000_000)  # bandwidth: the cap
    # partition: the sides, each a list of nodes (replica-N, scheduler-N); links between
    # nodes of different sides are cut, nodes left out keep every link.
    sides: tuple[tuple[str, ...], ...] | None = None
    one_way: bool = False  # partition: only what the first side sends to the second is cut


class ApiCall(_Strict):
    """A Jobs API request on the scenario's timeline and what Dapr must answer.

    ``expect_body`` maps a dotted path into the JSON response (``data.value.action``; a number
    indexes a list; ``$`` is the whole body: parsed JSON, else the text, else null when empty)
    to the value it must hold; ``expect_absent`` lists paths that must not exist;
    ``expect_contains`` is a substring of the response text. At equal ``at_s``, ``jobs`` are
    created first, then calls run in file order.
    """

    id: str | None = None  # referenced by claims
    at_s: float = Field(default=0.0, ge=0)
    method: Literal["GET", "POST", "DELETE"]
    api: Literal["v1.0", "v1.0-alpha1"] = "v1.0"
    job: str
    body: Any = None  # POST only: sent as JSON
    raw_body: str | None = None  # POST only: sent as-is (e.g. malformed JSON)
    expect_status: int = Field(ge=100, le=599)
    expect_body: dict[str, Any] = Field(default_factory=dict)
    expect_absent: tuple[str, ...] = ()
    expect_contains: str | None = None
    # Send this call without the dapr-api-token header (shows daprd refusing it).
    omit_token: bool = False


class JobExpectation(_Strict):
    """What the triggers of one job must show; every field is optional.

    Triggers are those the app recorded for ``job`` (every delivery, whatever the app
    answered), restricted to ``[from_s, until_s)`` seconds after the window start.
    ``min_first_s``/``max_first_s`` bound the first of them after the send time of the job's
    latest successful create (a ``jobs`` entry or a POST call) before it. ``payload`` (the
    body parsed as JSON) and ``raw_body`` (its text) must match every selected trigger when
    set; ``empty_body: true`` requires every selected trigger to arrive without a body.
    ``min_ticks``, ``max_lost``, ``max_duplicated``, ``max_early`` and ``max_lateness_ms``
    judge the checker's tick model of a ``jobs`` entry over the whole window.
    """

    job: str
    from_s: float | None = Field(default=None, ge=0)
    until_s: float | None = Field(default=None, gt=0)
    triggers: int | None = Field(default=None, ge=0)
    min_triggers: int | None = Field(default=None, ge=0)
    max_triggers: int | None = Field(default=None, ge=0)
    min_spacing_s: float | None = Field(default=None, ge=0)
    max_spacing_s: float | None = Field(default=None, ge=0)
    min_first_s: float | None = None
    max_first_s: float | None = None
    payload: Any = None
    raw_body: str | None = None
    empty_body: bool = False
    headers: dict[str, str] = Field(default_factory=dict)
    min_ticks: int | None = Field(default=None, ge=0)
    max_lost: int | None = Field(default=None, ge=0)
    max_duplicated: int | None = Field(default=None, ge=0)
    max_early: int | None = Field(default=None, ge=0)
    max_lateness_ms: float | None = Field(default=None, ge=0)

    @property
    def tick_fields(self) -> tuple[str, ...]:
        return tuple(f for f in _TICK_FIELDS if getattr(self, f) is not None)


_TICK_FIELDS = ("min_ticks", "max_lost", "max_duplicated", "max_early", "max_lateness_ms")


class Claim(_Strict):
    """A claim about Dapr that this scenario shows true or false (pure data for the claims table).

    ``verdict`` records what Dapr 1.18.3 did when the scenario was written; the scenario's
    expectations encode that behaviour, so a failing run means the verdict needs re-examining.
    ``calls`` (globs over call ids), ``jobs`` and ``bindings`` name the evidence whose numbers
    the claims table prints next to ``observed``. ``shown_by`` names another scenario (a file
    stem in the same directory) whose latest run is the evidence instead of this file's.
    """

    id: str
    source: str
    statement: str
    verdict: Literal["holds", "wrong", "partly"]
    observed: str
    calls: tuple[str, ...] = ()
    jobs: tuple[str, ...] = ()
    bindings: tuple[str, ...] = ()
    shown_by: str | None = None


class EvidencePlan(_Strict):
    """How many runs ``python3 -m harness evidence`` gives this scenario: at least
    ``min_trials``; with ``upper_bound``, more until the 95 % upper limit of every ``rates``
    rate of every ``mechanisms`` mechanism (strict reading, summed over the runs) is at most
    ``upper_bound`` (a fraction: 0.01 is 1 %), or ``max_trials`` runs were made."""

    min_trials: int = Field(default=1, ge=1, le=100)
    max_trials: int = Field(default=1, ge=1, le=100)
    upper_bound: float | None = Field(default=None, gt=0, lt=1)
    rates: tuple[Literal["lost", "duplicated"], ...] = ("lost",)
    mechanisms: tuple[Mechanism, ...] = ()  # empty: every mechanism the scenario runs

    @model_validator(mode="after")
    def _trials_in_order(self) -> EvidencePlan:
        if self.min_trials > self.max_trials:
            raise ValueError(f"min_trials {self.min_trials} is above max_trials "
                             f"{self.max_trials}; allowed: min_trials <= max_trials")
        return self


ScenarioKind = Literal["comparison", "claims", "fault"]


class Scenario(_Strict):
    """One runnable scenario (a sweep file expands into several, one per replica count)."""

    name: str
    source: Path
    description: str = ""
    replicas: int = Field(ge=1, le=10)
    # Scheduler members (one embedded etcd cluster); every daprd is given all their addresses.
    schedulers: int = Field(default=1, ge=1, le=5)
    window_s: float = Field(gt=0, le=3600)
    app: AppSpec = AppSpec()
    jobs: tuple[JobSpec, ...] = ()
    bindings: tuple[BindingSpec, ...] = ()
    tasks: tuple[TaskSpec, ...] = ()  # the other mechanisms (job-sdk, reminder, ...)
    # Keyed by mechanism: job, binding and the tasks' mechanisms (job-sdk, reminder, ...).
    expect: dict[Mechanism, Expectation] = Field(default_factory=dict)
    faults: tuple[FaultSpec, ...] = ()
    calls: tuple[ApiCall, ...] = ()
    expect_jobs: tuple[JobExpectation, ...] = ()
    claim: Claim | None = None
    claims: tuple[Claim, ...] = ()
    # DAPR_API_TOKEN of every daprd; the driver sends it as dapr-api-token on every Jobs API call.
    dapr_api_token: str | None = None
    # Which Dapr and which launcher (None: the run's default).
    dapr_version: str | None = Field(default=None, pattern=r"^\d+\.\d+\.\d+$")
    launcher: Launcher | None = None
    evidence: EvidencePlan | None = None  # trials of `python3 -m harness evidence`
    # False: an evidence scenario, run by `harness run` and `harness evidence` but left out of
    # the test suite (DAPR_HARNESS_ALL_SCENARIOS=1 puts it back), e.g. network faults whose
    # kinds tests/dapr/test_network_faults.py proves in a minute.
    ci: bool = True

    @property
    def id(self) -> str:
        """Unique id of this scenario instance, used as the pytest item name."""
        return self.name

    @property
    def grpc_replicas(self) -> int:
        """Replicas of the gRPC app (app-id taskapi-grpc) that job-sdk tasks need."""
        return self.replicas if any(t.mechanism == "job-sdk" for t in self.tasks) else 0

    @property
    def http_replicas(self) -> int:
        """Replicas of the HTTP app; none when job-sdk tasks are all the scenario runs."""
        http_work = self.jobs or self.bindings or self.calls or any(
            t.mechanism != "job-sdk" for t in self.tasks)
        return self.replicas if http_work or not self.grpc_replicas else 0

    @property
    def total_replicas(self) -> int:
        """Both apps' replicas: HTTP ones are 0..h-1, gRPC ones h..h+g-1 (fault targets)."""
        return self.http_replicas + self.grpc_replicas

    @property
    def needs_redis(self) -> bool:
        return any(t.mechanism in REDIS_BACKED for t in self.tasks)

    @property
    def all_claims(self) -> tuple[Claim, ...]:
        """``claim`` and ``claims`` together (a file uses one or the other)."""
        return ((self.claim,) if self.claim is not None else ()) + self.claims

    @property
    def kind(self) -> ScenarioKind:
        """What the scenario is evidence for, decided here only: a claims scenario states
        claims (its faults serve a claim), a fault scenario injects faults, every other one is
        a comparison."""
        if self.all_claims:
            return "claims"
        return "fault" if self.faults else "comparison"
