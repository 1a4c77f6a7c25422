"""The mechanism catalog: each way of running scheduled work the harness can test, declared once.

Read by the scenario schema (which names are allowed where), the history (the ``mechanism`` of
a trigger), the apps (which app serves which mechanism), the checker (which tick model and which
promise applies), the nemesis (which replicas a fault reaches) and the reports (labels).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

__all__ = [
    "APP_IDS",
    "GATED",
    "JOBS_API",
    "JOB_TRIGGERED",
    "LAUNCHERS",
    "LOCK_STORE",
    "MECHANISMS",
    "REDIS_BACKED",
    "SCHEDULER_BACKED",
    "STATE_STORE",
    "TASK_MECHANISMS",
    "AppKind",
    "Launcher",
    "Mechanism",
    "MechanismSpec",
    "TaskMechanism",
    "mechanisms_where",
]

Mechanism = Literal["job", "binding", "job-sdk", "reminder", "binding-lock", "binding-claim",
                    "workflow"]
# The mechanisms a scenario declares under ``tasks`` (job and binding have their own sections).
TaskMechanism = Literal["job-sdk", "reminder", "binding-lock", "binding-claim", "workflow"]
AppKind = Literal["http", "grpc"]
# How a replica's app and daprd are started: daprd directly, `dapr run`, or `dapr run -f`.
Launcher = Literal["daprd", "dapr-run", "dapr-run-f"]
LAUNCHERS: tuple[str, ...] = get_args(Launcher)

# Component names the run's Redis backs (rendered by harness/cluster/components.py).
STATE_STORE = "statestore"
LOCK_STORE = "lockstore"


@dataclass(frozen=True)
class MechanismSpec:
    """What one mechanism is, as every role needs to know it."""

    label: str  # how reports name it
    app: AppKind  # the app that serves its triggers
    scheduler_backed: bool  # its triggers come from the Scheduler service (held while it is out)
    # The app receives the Scheduler's job triggers itself, under the job's failure policy
    # (a workflow's timers are Scheduler jobs too, but its app sees activity executions).
    job_triggers: bool
    gated: bool  # every sidecar fires; a gate (lock, claim) lets one do the work
    needs_redis: bool  # its handler or runtime needs the run's Redis
    catch_up: str  # what happens to ticks that fall due while it cannot fire
    stores: str  # what it depends on besides daprd
    # Its triggers are HTTP requests to the app, answered by the scenario's handler rules (a
    # workflow's activities come over the workflow stream; job-sdk's over gRPC).
    over_http: bool = True


MECHANISMS: dict[str, MechanismSpec] = {
    "job": MechanismSpec(
        "Jobs API (HTTP)", "http", True, True, False, False,
        "the Scheduler holds due ticks and replays them once a sidecar is connected",
        "Scheduler service (embedded etcd)"),
    "binding": MechanismSpec(
        "cron input binding", "http", False, False, False, False,
        "none: a sidecar that is down skips its ticks; every sidecar fires on its own",
        "nothing beyond daprd (in-memory cron per sidecar)"),
    "job-sdk": MechanismSpec(
        "Jobs API through the Python SDK (gRPC)", "grpc", True, True, False, False,
        "as the Jobs API: held and replayed by the Scheduler",
        "Scheduler service; the app speaks gRPC (Dapr SDK)", over_http=False),
    "reminder": MechanismSpec(
        "actor reminder", "http", True, True, False, True,
        "as the Jobs API: reminders are Scheduler jobs since Dapr 1.15",
        "Scheduler service, placement, an actor state store"),
    "binding-lock": MechanismSpec(
        "cron binding + distributed lock", "http", False, False, True, True,
        "none: a tick no sidecar fires, or whose lock call fails, is not done",
        "a lock store (lock.redis: Redis; alpha component)"),
    "binding-claim": MechanismSpec(
        "cron binding + first-write claim", "http", False, False, True, True,
        "none: a tick no sidecar fires, or whose claim call fails, is not done",
        "a state store with first-write concurrency (Redis)"),
    "workflow": MechanismSpec(
        "workflow with a durable timer", "http", True, False, False, True,
        "none: the loop waits out its timer from the last iteration; skipped ticks stay skipped",
        "Scheduler service, placement, an actor state store", over_http=False),
}

assert tuple(MECHANISMS) == get_args(Mechanism), "the catalog and the Mechanism type disagree"
assert set(get_args(TaskMechanism)) == set(MECHANISMS) - {"job", "binding"}

# App-id of each app kind; every replica of one kind shares it.
APP_IDS: dict[str, str] = {"http": "taskapi", "grpc": "taskapi-grpc"}


def mechanisms_where(**flags: bool | str) -> frozenset[str]:
    """The mechanisms whose spec has every given attribute value (``gated=True``, ...)."""
    return frozenset(name for name, spec in MECHANISMS.items()
                     if all(getattr(spec, key) == value for key, value in flags.items()))


SCHEDULER_BACKED = mechanisms_where(scheduler_backed=True)
JOB_TRIGGERED = mechanisms_where(job_triggers=True)
# Jobs created through the Jobs API (over HTTP, or through the SDK over gRPC): daprd counts
# their deliveries in dapr_component_job_success_count.
JOBS_API = frozenset({"job", "job-sdk"})
GATED = mechanisms_where(gated=True)
REDIS_BACKED = mechanisms_where(needs_redis=True)
TASK_MECHANISMS: tuple[str, ...] = get_args(TaskMechanism)
