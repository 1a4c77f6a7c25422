"""The history of one run: every trigger an app received and every event the harness caused.

A history is a JSON-lines file. Apps and the harness append to it concurrently; each record is
written with a single ``write(2)`` on an ``O_APPEND`` descriptor, so lines never interleave and a
record survives a crash of its writer as soon as the write returns.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.scenario.faults import FaultKind
from harness.scenario.mechanisms import APP_IDS, Mechanism

__all__ = [
    "EVENT_TYPES",
    "ApiCallEvent",
    "BindingInstalled",
    "Created",
    "Event",
    "FaultEnd",
    "FaultEvent",
    "FaultRecovered",
    "FaultStart",
    "History",
    "HistoryWriter",
    "JobCreated",
    "JobDeleted",
    "Mechanism",
    "RecordingEnd",
    "Recorded",
    "ReminderRegistered",
    "ReplicaReady",
    "ReplicaStarted",
    "ReplicaStopped",
    "Trigger",
    "WindowEnd",
    "WindowStart",
    "WorkflowStarted",
    "load_history",
    "typed_event",
]

TriggerOutcome = Literal["ok", "failed", "refused"]


@dataclass(frozen=True)
class Trigger:
    """One HTTP request from a daprd sidecar to an app, as the app saw it."""

    mechanism: Mechanism
    name: str  # job name, or binding component name
    replica: int
    pid: int
    wall: float  # time.time() when the request arrived
    mono: float  # time.monotonic() when the request arrived (system-wide on Linux)
    payload: Any = None  # parsed JSON body; raw text if not JSON; None if empty
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 200  # HTTP status the app answered with
    outcome: TriggerOutcome = "ok"  # "refused": bad or missing dapr-api-token, not a trigger
    raw: str | None = None  # the request body as text (first 2000 characters); None if empty
    # Gated mechanisms (binding-lock, binding-claim, workflow): True if this attempt did the
    # scheduled work (won the lock or the first-write claim and was not told to fail; is the
    # activity execution), False if it did none; None where the mechanism has no gate.
    work: bool | None = None
    # The key the handler locked or claimed (the binding tick's scheduled time), or the
    # workflow iteration; None where the mechanism gives the app no tick identity.
    tick: str | None = None
    # binding-lock / binding-claim: daprd's answer to the gate call ("<status> <ms>ms <body>";
    # status None and the error when none came), so a lost gate and a failed one can be told
    # apart, and a call held up by a store outage shows its delay.
    gate: str | None = None

    kind: Literal["trigger"] = "trigger"


@dataclass(frozen=True)
class Event:
    """Something the harness did or saw, as written: ``event`` names it, ``attrs`` holds its
    details. A history holds it as the typed event of its kind (``EVENT_TYPES``), checked
    field by field; the kinds and their fields:

    - ``job_created``: ``name``, ``spec`` (the Jobs API body sent), ``sent_wall`` (time the
      request was sent: the earliest moment the scheduler can have created the job), ``status``
      (HTTP status of the create call; for ``mechanism: job-sdk``, a job created through the
      Python SDK over gRPC, ``"OK"`` or the gRPC status code name).
    - ``job_deleted``: ``name``, ``status``.
    - ``api_call``: a scenario's ``calls`` entry: ``index``, ``id``, ``method``, ``api``, ``job``,
      ``url``, ``body`` (as sent), ``sent_wall``, ``status`` (None if no answer), ``response``
      (text), ``error``.
    - ``binding_installed``: ``name``, ``schedule`` (and ``mechanism`` for binding-lock and
      binding-claim components).
    - ``reminder_registered``: ``name``, ``actor_type``, ``actor_id``, ``spec`` (body sent),
      ``sent_wall``, ``status`` (HTTP status), ``response``.
    - ``workflow_started``: ``name`` (instance id), ``workflow``, ``spec`` (input), ``sent_wall``,
      ``status``, ``response``.
    - ``redis_started`` / ``redis_ready``: the run's Redis (``port``, ``pid``).
    - ``replica_started``: ``replica``, ``pid`` (daprd's), ``app_id`` (``taskapi``, or
      ``taskapi-grpc`` for the gRPC app of job-sdk tasks); wall = when daprd was exec'd.
    - ``replica_ready``: ``replica``, ``app_id``; wall = when its daprd reported healthy.
    - ``replica_stopped``: ``replica``.
    - ``window_start`` / ``window_end`` / ``recording_end``: the observation window and the end
      of the grace period after it.
    - ``fault_start`` / ``fault_end`` / ``fault_recovered``: ``fault`` (kind), ``target``, and
      ``replica`` or ``member`` where the fault hit one.
    Other names (``cluster_ready``, ``fault_error``, ``request_refused``, ...) keep their attrs.
    """

    event: str
    wall: float
    mono: float
    attrs: dict[str, Any] = field(default_factory=dict)

    kind: Literal["event"] = "event"


# Times a record may carry: epoch seconds from 2000 to 2100 (a wall of 0 is a broken writer,
# and would make a tick grid start in 1970), and a finite monotonic clock.
EARLIEST_WALL = 946_684_800.0
LATEST_WALL = 4_102_444_800.0
Wall = Annotated[float, Field(ge=EARLIEST_WALL, le=LATEST_WALL, allow_inf_nan=False)]
Mono = Annotated[float, Field(allow_inf_nan=False)]
Replica = Annotated[int, Field(ge=0)]


class _Record(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Recorded(_Record):
    """A typed event: the fields every event has. Fields a writer added beyond its kind's
    are kept (``attrs`` shows them all)."""

    model_config = ConfigDict(extra="allow")

    event: str = Field(min_length=1)
    wall: Wall
    mono: Mono
    kind: Literal["event"] = "event"

    @property
    def attrs(self) -> dict[str, Any]:
        """The event's details as written (for readers outside the checker)."""
        return self.model_dump(exclude={"event", "wall", "mono", "kind"}, exclude_unset=True)


class Created(Recorded):
    """A request that created scheduled work, with when it was sent and what Dapr answered."""

    name: str
    spec: Any = None
    sent_wall: Wall
    status: int | str | None = None
    response: str | None = None


class JobCreated(Created):
    event: Literal["job_created"] = "job_created"
    mechanism: Mechanism = "job"
    api: str | None = None


class JobDeleted(Recorded):
    event: Literal["job_deleted"] = "job_deleted"
    name: str
    api: str | None = None
    status: int | None = 204


class ApiCallEvent(Recorded):
    event: Literal["api_call"] = "api_call"
    index: int = Field(ge=0)
    id: str | None = None
    method: Literal["GET", "POST", "DELETE"]
    api: str
    job: str
    url: str = ""
    body: Any = None
    omit_token: bool = False
    sent_wall: Wall
    status: int | None = None
    response: str | None = None
    error: str | None = None


class BindingInstalled(Recorded):
    event: Literal["binding_installed"] = "binding_installed"
    name: str
    schedule: str
    mechanism: Mechanism = "binding"


class ReminderRegistered(Created):
    event: Literal["reminder_registered"] = "reminder_registered"
    actor_type: str | None = None
    actor_id: str | None = None


class WorkflowStarted(Created):
    event: Literal["workflow_started"] = "workflow_started"
    workflow: str | None = None


class ReplicaEvent(Recorded):
    replica: Replica
    app_id: str = APP_IDS["http"]


class ReplicaStarted(ReplicaEvent):
    event: Literal["replica_started"] = "replica_started"


class ReplicaReady(ReplicaEvent):
    event: Literal["replica_ready"] = "replica_ready"


class ReplicaStopped(ReplicaEvent):
    event: Literal["replica_stopped"] = "replica_stopped"


class WindowStart(Recorded):
    event: Literal["window_start"] = "window_start"


class WindowEnd(Recorded):
    event: Literal["window_end"] = "window_end"


class RecordingEnd(Recorded):
    event: Literal["recording_end"] = "recording_end"


class FaultEvent(Recorded):
    fault: FaultKind
    target: str | None = None
    replica: Replica | None = None
    member: Replica | None = None


class FaultStart(FaultEvent):
    event: Literal["fault_start"] = "fault_start"


class FaultEnd(FaultEvent):
    event: Literal["fault_end"] = "fault_end"


class FaultRecovered(FaultEvent):
    event: Literal["fault_recovered"] = "fault_recovered"


EVENT_TYPES: dict[str, type[Recorded]] = {
    t.model_fields["event"].default: t
    for t in (JobCreated, JobDeleted, ApiCallEvent, BindingInstalled, ReminderRegistered,
              WorkflowStarted, ReplicaStarted, ReplicaReady, ReplicaStopped, WindowStart,
              WindowEnd, RecordingEnd, FaultStart, FaultEnd, FaultRecovered)
}


def typed_event(event: Event | Recorded) -> Recorded:
    """The typed event of ``event``'s kind (``ValidationError`` when a field is wrong)."""
    if isinstance(event, Recorded):
        return event
    kind = EVENT_TYPES.get(event.event, Recorded)
    return kind.model_validate({**event.attrs, "event": event.event, "wall": event.wall,
                                "mono": event.mono})


R = TypeVar("R", bound=Recorded)


@dataclass(frozen=True)
class History:
    """Triggers, and events typed by kind (raw ``Event``s given here are typed and checked)."""

    triggers: tuple[Trigger, ...]
    events: tuple[Recorded, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "events", tuple(typed_event(e) for e in self.events))

    def events_named(self, event: str) -> list[Recorded]:
        return [e for e in self.events if e.event == event]

    def events_of(self, kind: type[R]) -> list[R]:
        """Every event of one typed kind, in record order."""
        return [e for e in self.events if isinstance(e, kind)]

    def first_event(self, event: str) -> Recorded | None:
        found = self.events_named(event)
        return found[0] if found else None

    def received(self, mechanism: Mechanism, name: str | None = None) -> list[Trigger]:
        """Requests of a mechanism the app received from Dapr (not refused for a bad token), by
        arrival: the attempts the checkers judge (whether each was a delivery is theirs to say)."""
        chosen = [
            t
            for t in self.triggers
            if t.mechanism == mechanism
            and t.outcome != "refused"
            and (name is None or t.name == name)
        ]
        return sorted(chosen, key=lambda t: t.wall)


class HistoryWriter:
    """Appends records to a history file; safe to use from several processes at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, record: Trigger | Event) -> None:
        line = json.dumps(asdict(record), ensure_ascii=False, separators=(",", ":")) + "\n"
        os.write(self._fd, line.encode())

    def event(self, event: str, **attrs: Any) -> Event:
        record = Event(event=event, wall=time.time(), mono=time.monotonic(), attrs=attrs)
        self.append(record)
        return record

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TriggerRecord(_Record):
    """A ``trigger`` line, validated field by field."""

    kind: Literal["trigger"]
    mechanism: Mechanism
    name: str
    replica: int = Field(ge=0)
    pid: int
    wall: Wall
    mono: Mono
    payload: Any = None
    headers: dict[str, str] = Field(default_factory=dict)
    status: int = Field(default=200, ge=100, le=599)
    outcome: TriggerOutcome = "ok"
    raw: str | None = None
    work: bool | None = None
    tick: str | None = None
    gate: str | None = None


class EventRecord(_Record):
    """An ``event`` line's envelope, validated field by field."""

    kind: Literal["event"]
    event: str = Field(min_length=1)
    wall: Wall
    mono: Mono
    attrs: dict[str, Any] = Field(default_factory=dict)


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "record"
    return f"field {where}: {error['msg']} (got {error.get('input')!r:.80})"


def _record(line: str) -> Trigger | Recorded:
    raw = json.loads(line)
    if not isinstance(raw, dict):
        raise ValueError(f"not a JSON object: {line[:80]!r}")
    if raw.get("kind") == "trigger":
        return Trigger(**TriggerRecord.model_validate(raw).model_dump(exclude={"kind"}))
    if raw.get("kind") == "event":
        record = EventRecord.model_validate(raw)
        return typed_event(Event(record.event, record.wall, record.mono, record.attrs))
    raise ValueError(f"field kind: must be 'trigger' or 'event' (got {raw.get('kind')!r:.80})")


def _parse(lines: Iterable[str], source: str) -> Iterator[Trigger | Recorded]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield _record(line)
        except ValidationError as exc:
            raise ValueError(f"{source}:{number}: {_first_error(exc)}") from exc
        except ValueError as exc:
            reason = " ".join(str(exc).split())
            raise ValueError(f"{source}:{number}: not a history record ({reason}): "
                             f"{line[:120]!r}") from exc


def load_history(path: Path) -> History:
    """Read a history file (gzip-compressed when it ends in ``.gz``, as evidence copies are).
    A torn last line (writer killed mid-write) is an error, not skipped."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        records = list(_parse(fh, str(path)))
    return History(
        triggers=tuple(r for r in records if isinstance(r, Trigger)),
        events=tuple(r for r in records if isinstance(r, Recorded)),
    )
