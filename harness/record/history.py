"""The history of one run: every trigger an app received and every event the harness caused.

A history is a JSON-lines file. Apps and the harness append to it concurrently; each record is
written with a single ``write(2)`` on an ``O_APPEND`` descriptor, so lines never interleave and a
record survives a crash of its writer as soon as the write returns.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import orjson

from harness.scenario.mechanisms import Mechanism

__all__ = [
    "Event",
    "History",
    "HistoryWriter",
    "Mechanism",
    "Trigger",
    "load_history",
    "record_line",
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
    # The app's own time on this request (ms): from the request reaching the app (uvicorn has
    # parsed its headers) to this record being written, which the answer follows at once (after
    # the scenario's delay_ms, if any). None in histories written before it was measured.
    app_ms: float | None = None

    kind: Literal["trigger"] = "trigger"


@dataclass(frozen=True)
class Event:
    """Something the harness did or saw, with the time it happened.

    ``event`` names what happened; ``attrs`` holds its details. Events the checker reads:

    - ``job_created``: attrs ``name``, ``spec`` (the Jobs API body sent), ``sent_wall`` (time the
      request was sent: the earliest moment the scheduler can have created the job),
      ``status`` (HTTP status of the create call).
    - ``job_deleted``: attrs ``name``.
    - ``api_call``: a scenario's ``calls`` entry: attrs ``index``, ``id``, ``method``, ``api``,
      ``job``, ``url``, ``body`` (as sent), ``sent_wall``, ``status`` (None if no answer),
      ``response`` (text), ``error``.
    - ``binding_installed``: attrs ``name``, ``schedule`` (also ``mechanism`` for binding-lock
      and binding-claim components).
    - ``job_created`` with attr ``mechanism: job-sdk``: a job created through the Python SDK
      (gRPC); ``status`` is ``"OK"`` or the gRPC status code name.
    - ``reminder_registered``: attrs ``name``, ``actor_type``, ``actor_id``, ``spec`` (body
      sent), ``sent_wall``, ``status`` (HTTP status), ``response``.
    - ``workflow_started``: attrs ``name`` (instance id), ``workflow``, ``spec`` (input),
      ``sent_wall``, ``status``, ``response``.
    - ``redis_started`` / ``redis_ready``: the run's Redis (attrs ``port``, ``pid``).
    - ``replica_started``: attrs ``replica``, ``pid`` (daprd's), ``app_id`` (``taskapi``, or
      ``taskapi-grpc`` for the gRPC app of job-sdk tasks); wall = when daprd was exec'd.
    - ``replica_ready``: attrs ``replica``, ``app_id``; wall = when its daprd reported healthy.
    - ``replica_stopped``: attrs ``replica``.
    - ``window_start`` / ``window_end``: the observation window.
    - ``fault_start`` / ``fault_end``: attrs ``fault`` (kind), ``target``.
    """

    event: str
    wall: float
    mono: float
    attrs: dict[str, Any] = field(default_factory=dict)

    kind: Literal["event"] = "event"


@dataclass(frozen=True)
class History:
    triggers: tuple[Trigger, ...]
    events: tuple[Event, ...]

    # The checkers ask per task and per event name, thousands of times for a load set: each
    # index is built on first use, in one pass (a frozen dataclass: cached_property writes the
    # instance's __dict__, not its fields).
    @cached_property
    def _events_by_name(self) -> dict[str, list[Event]]:
        index: dict[str, list[Event]] = {}
        for e in self.events:
            index.setdefault(e.event, []).append(e)
        return index

    @cached_property
    def _received_by_task(self) -> dict[tuple[str, str | None], list[Trigger]]:
        index: dict[tuple[str, str | None], list[Trigger]] = {}
        for t in sorted(self.triggers, key=lambda t: t.wall):
            if t.outcome != "refused":
                index.setdefault((t.mechanism, t.name), []).append(t)
                index.setdefault((t.mechanism, None), []).append(t)
        return index

    def events_named(self, event: str) -> list[Event]:
        return list(self._events_by_name.get(event, ()))

    def first_event(self, event: str) -> Event | None:
        found = self._events_by_name.get(event)
        return found[0] if found else None

    def received(self, mechanism: Mechanism, name: str | None = None) -> list[Trigger]:
        """Requests of a mechanism the app received from Dapr (not refused for a bad token), by
        arrival: the attempts the checkers judge (whether each was a delivery is theirs to say)."""
        return list(self._received_by_task.get((mechanism, name), ()))


def record_line(record: Trigger | Event) -> bytes:
    """One history line. orjson writes the dataclass as json.dumps(asdict(...)) would, byte for
    byte, some 40 times faster (the apps write one per trigger before answering); what it cannot
    write (an integer beyond 64 bits in a payload) goes through json."""
    try:
        return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:
        return (json.dumps(asdict(record), ensure_ascii=False, separators=(",", ":")) + "\n").encode()


class HistoryWriter:
    """Appends records to a history file; safe to use from several processes at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, record: Trigger | Event) -> None:
        os.write(self._fd, record_line(record))

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


def _parse(lines: Iterable[str], source: str) -> Iterator[Trigger | Event]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            kind = raw.pop("kind")
            yield Trigger(**raw) if kind == "trigger" else Event(**raw)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{source}:{number}: not a history record ({exc}): {line[:200]!r}") from exc


def load_history(path: Path) -> History:
    """Read a history file. A torn last line (writer killed mid-write) is an error, not skipped."""
    with path.open(encoding="utf-8") as fh:
        records = list(_parse(fh, str(path)))
    return History(
        triggers=tuple(r for r in records if isinstance(r, Trigger)),
        events=tuple(r for r in records if isinstance(r, Event)),
    )
