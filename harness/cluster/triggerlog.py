"""Which Scheduler member sent each trigger, read from the members' own logs.

At ``--log-level=debug`` a 1.18 Scheduler member logs every trigger it sends, before and after
(go-etcd-cron's trigger loop, scope ``dapr.scheduler.server.cron``)::

    msg="Triggering job: app||default||taskapi||cleanup-1"
    msg="Triggered job app||default||taskapi||cleanup-1 in 2.78ms (SUCCESS)"

The key names the job: ``app||<namespace>||<app-id>||<job>`` for Jobs API jobs,
``actorreminder||<namespace>||<actor type>||<actor id>||<reminder>`` for actor reminders (and
so for workflow timers). Each trigger becomes a ``member_trigger`` event (attrs ``member``,
``key``, ``name`` (the key's last part), ``result`` (SUCCESS, FAILED, UNDELIVERABLE, or None
when the member logged no answer: cut off or killed meanwhile), ``ms``), dated when the member
began it, so a trigger the app received twice can be laid beside the members that sent it.
The per-member counter ``dapr_scheduler_jobs_triggered_total`` says how many, not which.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict, deque
from datetime import datetime
from pathlib import Path

from harness.record.history import Event

__all__ = ["TRIGGER_LOG_LEVEL", "member_trigger_events", "parse_trigger_lines"]

TRIGGER_LOG_LEVEL = "debug"
_TIME = re.compile(r'time="([^"]+)"')
_BEGIN = re.compile(r'msg="Triggering job: ([^"]+)"')
_END = re.compile(r'msg="Triggered job (\S+) in ([0-9.]+)(\w+) \((\w+)\)"')
_UNIT_MS = {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1000.0}


def _wall(line: str) -> float | None:
    found = _TIME.search(line)
    if not found:
        return None
    text = found.group(1).replace("Z", "+00:00")
    # Go prints nanoseconds; datetime takes at most microseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def parse_trigger_lines(lines: list[str], member: int) -> list[dict[str, object]]:
    """Each trigger a member logged: when it began, its key and result (see the docstring)."""
    began: dict[str, deque[dict[str, object]]] = defaultdict(deque)
    found: list[dict[str, object]] = []
    for line in lines:
        wall = _wall(line)
        if wall is None:
            continue
        if begin := _BEGIN.search(line):
            key = begin.group(1)
            record: dict[str, object] = {"member": member, "key": key,
                                         "name": key.rsplit("||", 1)[-1], "wall": wall,
                                         "result": None, "ms": None}
            began[key].append(record)
            found.append(record)
        elif end := _END.search(line):
            key, amount, unit, result = end.groups()
            pending = began.get(key)
            if pending:
                record = pending.popleft()
                record["result"] = result
                record["ms"] = round(float(amount) * _UNIT_MS.get(unit, 1.0), 3)
    return found


def member_trigger_events(log_path: Path, member: int) -> list[Event]:
    """The member's triggers as history events, dated by its log (monotonic time estimated
    from the wall clock's current offset)."""
    if not log_path.exists():
        return []
    lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    offset = time.time() - time.monotonic()
    events = []
    for record in parse_trigger_lines(lines, member):
        wall = float(record.pop("wall"))  # type: ignore[arg-type]
        events.append(Event(event="member_trigger", wall=wall, mono=wall - offset, attrs=record))
    return events
