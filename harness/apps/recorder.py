"""The part of every sample app that writes triggers to the run's history.

Shared by the HTTP app (harness/apps/app.py), the gRPC app for SDK jobs
(harness/apps/grpc_app.py) and the workflow activity (harness/apps/workflow_app.py), so that each
attempt Dapr makes is recorded the same way, before the app answers.

Environment: HARNESS_HISTORY (history file), HARNESS_REPLICA (replica index),
HARNESS_APP_HANDLERS (JSON list of answer rules, see scenario.AppHandler), HARNESS_TASKS (JSON
list of the scenario's tasks: mechanism, name, schedule, data), APP_API_TOKEN.
"""

from __future__ import annotations

import fnmatch
import json
import os
import time
from pathlib import Path
from typing import Any

from harness.record.history import HistoryWriter, Mechanism, Trigger

__all__ = ["Arrival", "TriggerLog", "decode_body", "outcome_of"]

Arrival = tuple[float, float]  # (time.time(), time.monotonic()) when a request arrived


def decode_body(raw: bytes) -> Any:
    """Parsed JSON; the text when it is not JSON; None when empty."""
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def outcome_of(authorized: bool, status: int) -> str:
    if not authorized:
        return "refused"
    return "ok" if status < 400 else "failed"


class TriggerLog:
    """One replica's writer of triggers, with the answer rules the scenario set."""

    def __init__(self) -> None:
        self.writer = HistoryWriter(Path(os.environ["HARNESS_HISTORY"]))
        self.replica = int(os.environ.get("HARNESS_REPLICA", "0"))
        self.token = os.environ.get("APP_API_TOKEN") or None
        self.handlers: list[dict[str, Any]] = json.loads(os.environ.get("HARNESS_APP_HANDLERS", "[]"))
        self.tasks: list[dict[str, Any]] = json.loads(os.environ.get("HARNESS_TASKS", "[]"))

    def tasks_of(self, *mechanisms: str) -> dict[str, dict[str, Any]]:
        """The scenario's tasks of these mechanisms, by name."""
        return {t["name"]: t for t in self.tasks if t["mechanism"] in mechanisms}

    def rule_for(self, mechanism: Mechanism, name: str) -> dict[str, Any]:
        """The last matching rule wins, so a rule set during a run overrides the defaults."""
        chosen: dict[str, Any] = {}
        for rule in self.handlers:
            if rule.get("mechanism") == mechanism and fnmatch.fnmatchcase(name, rule.get("name", "*")):
                chosen = rule
        return chosen

    def write(self, mechanism: Mechanism, name: str, arrival: Arrival | None = None, *,
              raw: bytes = b"", headers: dict[str, str] | None = None, status: int = 200,
              authorized: bool = True, work: bool | None = None,
              tick: str | None = None, gate: str | None = None,
              payload: Any = None) -> Trigger:
        """Append one trigger; ``payload`` defaults to the decoded ``raw`` body."""
        wall, mono = arrival or (time.time(), time.monotonic())
        trigger = Trigger(
            mechanism=mechanism, name=name, replica=self.replica, pid=os.getpid(), wall=wall,
            mono=mono, payload=decode_body(raw) if payload is None else payload,
            headers=headers or {}, status=status, outcome=outcome_of(authorized, status),  # type: ignore[arg-type]
            raw=raw.decode("utf-8", errors="replace")[:2000] if raw else None,
            work=work, tick=tick, gate=gate,
        )
        self.writer.append(trigger)
        return trigger
