"""History records: written by ``HistoryWriter``, loaded as typed events and validated triggers;
a bad record is one line naming the file, the line and the field."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.paths import REPO_ROOT
from harness.record.history import (
    ApiCallEvent,
    Event,
    FaultStart,
    History,
    HistoryWriter,
    JobCreated,
    Recorded,
    ReplicaReady,
    Trigger,
    load_history,
)

T0 = 1_764_000_000.0


def test_the_writer_api_round_trips_to_typed_events(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    with HistoryWriter(path) as writer:
        writer.event("job_created", name="j", spec={"schedule": "@every 2s"}, sent_wall=T0,
                     status=204, api="v1.0", response="")
        writer.event("replica_ready", replica=2, app_id="taskapi")
        writer.event("fault_start", fault="kill_daprd", target="replica-1", replica=1)
        writer.event("cluster_ready", replicas=3, seconds=1.5)
        writer.append(Trigger(mechanism="job", name="j", replica=0, pid=1, wall=T0 + 2,
                              mono=2.0, work=None))
    h = load_history(path)
    created, ready, fault, other = h.events
    assert isinstance(created, JobCreated) and created.sent_wall == T0 and created.status == 204
    assert created.mechanism == "job" and created.spec == {"schedule": "@every 2s"}
    assert isinstance(ready, ReplicaReady) and ready.replica == 2
    assert isinstance(fault, FaultStart) and (fault.fault, fault.replica) == ("kill_daprd", 1)
    assert type(other) is Recorded and other.attrs == {"replicas": 3, "seconds": 1.5}
    assert fault.attrs == {"fault": "kill_daprd", "target": "replica-1", "replica": 1}
    assert h.events_of(JobCreated) == [created] and h.triggers[0].wall == T0 + 2


@pytest.mark.parametrize(("event", "attrs", "field"), [
    ("job_created", {"name": "j", "spec": {}, "status": 204}, "sent_wall"),
    ("job_created", {"name": "j", "spec": {}, "sent_wall": 0.0, "status": 204}, "sent_wall"),
    ("api_call", {"index": 0, "method": "PUT", "api": "v1.0", "job": "j", "sent_wall": T0},
     "method"),
    ("replica_ready", {"replica": -1}, "replica"),
    ("fault_start", {"fault": "meteor", "target": "x"}, "fault"),
    ("replica_stopped", {"replica": "2"}, "replica"),
])
def test_a_bad_event_is_one_line_naming_file_line_and_field(tmp_path: Path, event: str,
                                                           attrs: dict[str, object],
                                                           field: str) -> None:
    path = tmp_path / "h.jsonl"
    good = {"kind": "event", "event": "window_start", "wall": T0, "mono": 1.0, "attrs": {}}
    bad = {"kind": "event", "event": event, "wall": T0, "mono": 1.0, "attrs": attrs}
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(ValueError) as caught:
        load_history(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:2: field {field}") and "\n" not in message


def test_a_torn_last_line_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text('{"kind": "event", "event": "window_start", "wall": 1764000000.0, "mo')
    with pytest.raises(ValueError, match=r"h\.jsonl:1: not a history record"):
        load_history(path)


def test_events_built_in_code_are_typed_and_checked() -> None:
    h = History((), (Event("api_call", T0, 1.0, {"index": 0, "method": "POST", "api": "v1.0",
                                                  "job": "j", "sent_wall": T0, "status": 204}),))
    assert isinstance(h.events[0], ApiCallEvent) and h.events[0].status == 204
    with pytest.raises(ValueError, match="sent_wall"):
        History((), (Event("job_created", T0, 1.0, {"name": "j"}),))


# Reading an event's or trigger's details through a fallback (``.attrs``, ``getattr``, ``.get(``)
# instead of its typed field hides a record that lacks it.
FALLBACK = re.compile(r"\.attrs\b|getattr\(|\b(?:e|event|start|record|t|trigger)\.get\(")


def test_the_checker_reads_typed_events_not_fallbacks() -> None:
    found = [f"{path.name}:{n}: {line.strip()}"
             for path in sorted((REPO_ROOT / "harness" / "check").glob("*.py"))
             for n, line in enumerate(path.read_text().splitlines(), start=1)
             if FALLBACK.search(line)]
    assert found == []
