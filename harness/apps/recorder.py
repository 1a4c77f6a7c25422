"""The part of every sample app that writes triggers to the run's history.

Shared by the HTTP app (harness/apps/app.py), the gRPC app for SDK jobs
(harness/apps/grpc_app.py) and the workflow activity (harness/apps/workflow_app.py), so that each
attempt Dapr makes is recorded the same way, before the app answers: one ``write(2)`` of one line
on the descriptor the process opened at its start.

Environment: harness/apps/environment.py (validated when the log is made, i.e. at the app's start).
"""

from __future__ import annotations

import fnmatch
import json
import os
import time
from typing import Any

from harness.apps.environment import AppEnvironment, read_environment
from harness.record.history import HistoryWriter, Mechanism, Trigger
from harness.scenario.model import AppHandler, TaskSpec

__all__ = ["Arrival", "TriggerLog", "decode_body", "outcome_of"]

Arrival = tuple[float, float]  # (time.time(), time.monotonic()) when a request arrived


def decode_body(raw: bytes) -> Any:
    """Parsed JSON; the text when it is not JSON; None when empty."""
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")  # json, not orjson: it keeps integers beyond 64 bits
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

    def __init__(self, env: AppEnvironment | None = None) -> None:
        self.env = env if env is not None else read_environment()
        self.writer = HistoryWriter(self.env.history)
        self.replica = self.env.replica
        self.token = self.env.token
        self.pid = os.getpid()
        self.handlers: tuple[AppHandler, ...] = self.env.handlers
        self.tasks: tuple[TaskSpec, ...] = self.env.tasks
        self._defaults: dict[str, AppHandler] = {}

    def tasks_of(self, *mechanisms: str) -> dict[str, TaskSpec]:
        """The scenario's tasks of these mechanisms, by name."""
        return {t.name: t for t in self.tasks if t.mechanism in mechanisms}

    def rule_for(self, mechanism: Mechanism, name: str) -> AppHandler:
        """The last matching rule wins, so a rule set during a run overrides the defaults; with
        none, the default answer (200, no delay, the default body)."""
        chosen = None
        for rule in self.handlers:
            if rule.mechanism == mechanism and fnmatch.fnmatchcase(name, rule.name):
                chosen = rule
        if chosen is not None:
            return chosen
        if mechanism not in self._defaults:
            self._defaults[mechanism] = AppHandler(mechanism=mechanism)
        return self._defaults[mechanism]

    def write(self, mechanism: Mechanism, name: str, arrival: Arrival | None = None, *,
              raw: bytes = b"", headers: dict[str, str] | None = None, status: int = 200,
              authorized: bool = True, work: bool | None = None,
              tick: str | None = None, gate: str | None = None,
              payload: Any = None) -> Trigger:
        """Append one trigger; ``payload`` defaults to the decoded ``raw`` body. With an
        ``arrival``, the time since it is the trigger's ``app_ms``."""
        wall, mono = arrival or (time.time(), time.monotonic())
        trigger = Trigger(
            mechanism=mechanism, name=name, replica=self.replica, pid=self.pid, wall=wall,
            mono=mono, payload=decode_body(raw) if payload is None else payload,
            headers=headers or {}, status=status, outcome=outcome_of(authorized, status),  # type: ignore[arg-type]
            raw=raw.decode("utf-8", errors="replace")[:2000] if raw else None,
            work=work, tick=tick, gate=gate,
            app_ms=round((time.monotonic() - mono) * 1000, 3) if arrival else None,
        )
        self.writer.append(trigger)
        return trigger
