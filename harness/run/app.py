"""The sample "Task API": a FastAPI app whose scheduled work is a cleanup of old completed todos.

It is the app every replica runs. Each trigger (a Jobs API callback or a cron binding call) is
appended to the run's history *before* the handler answers, so a crash after the answer loses
nothing. Scenarios steer how it answers (status, delay, body) through HARNESS_APP_HANDLERS or,
during a run, through POST /_harness/handlers.

Environment: HARNESS_HISTORY (history file), HARNESS_REPLICA (replica index),
HARNESS_BINDINGS (JSON object: route -> binding name), HARNESS_APP_HANDLERS (JSON list of handler
rules, see scenario.AppHandler), APP_API_TOKEN (when set, Dapr sends it as dapr-api-token and
any request without it is refused with 401 and recorded as refused).
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from harness.run.history import HistoryWriter, Mechanism, Trigger

__all__ = ["app"]

RECORDED_HEADERS = ("content-type", "traceparent", "user-agent", "dapr-app-id", "dapr-caller-app-id")
RETENTION_DEFAULT_S = 30 * 24 * 3600


@dataclass
class Todo:
    id: int
    title: str
    done_at: float | None = None


class TaskStore:
    """The replica's own todos (in memory): the data the scheduled cleanup works on."""

    def __init__(self) -> None:
        self.todos: dict[int, Todo] = {}
        self._next = 1

    def add(self, title: str) -> Todo:
        todo = Todo(self._next, title)
        self.todos[todo.id] = todo
        self._next += 1
        return todo

    def cleanup(self, retention_s: float) -> int:
        """Delete todos completed more than ``retention_s`` ago; returns how many."""
        cutoff = time.time() - retention_s
        old = [t.id for t in self.todos.values() if t.done_at is not None and t.done_at < cutoff]
        for todo_id in old:
            del self.todos[todo_id]
        return len(old)


class Recorder:
    def __init__(self) -> None:
        self.writer = HistoryWriter(Path(os.environ["HARNESS_HISTORY"]))
        self.replica = int(os.environ.get("HARNESS_REPLICA", "0"))
        self.token = os.environ.get("APP_API_TOKEN") or None
        # route -> binding component name
        self.bindings: dict[str, str] = json.loads(os.environ.get("HARNESS_BINDINGS", "{}"))
        self.handlers: list[dict[str, Any]] = json.loads(os.environ.get("HARNESS_APP_HANDLERS", "[]"))

    def rule_for(self, mechanism: Mechanism, name: str) -> dict[str, Any]:
        """The last matching rule wins, so a rule set during a run overrides the defaults."""
        chosen: dict[str, Any] = {}
        for rule in self.handlers:
            if rule.get("mechanism") == mechanism and fnmatch.fnmatchcase(name, rule.get("name", "*")):
                chosen = rule
        return chosen

    async def record(self, request: Request, mechanism: Mechanism, name: str) -> tuple[Trigger, dict[str, Any]]:
        wall, mono = time.time(), time.monotonic()
        raw = await request.body()
        headers = {k: v for k, v in request.headers.items() if k in RECORDED_HEADERS}
        authorized = self.token is None or request.headers.get("dapr-api-token") == self.token
        if "dapr-api-token" in request.headers:
            headers["dapr-api-token"] = "<valid>" if authorized else "<invalid>"
        rule = self.rule_for(mechanism, name) if authorized else {}
        trigger = Trigger(
            mechanism=mechanism, name=name, replica=self.replica, pid=os.getpid(), wall=wall,
            mono=mono, payload=_decode(raw), headers=headers,
            status=int(rule.get("status", 200)) if authorized else 401,
            outcome=_outcome(authorized, int(rule.get("status", 200))),
            raw=raw.decode("utf-8", errors="replace")[:2000] if raw else None,
        )
        self.writer.append(trigger)
        return trigger, rule


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def _outcome(authorized: bool, status: int) -> str:
    if not authorized:
        return "refused"
    return "ok" if status < 400 else "failed"


recorder: Recorder | None = None
store = TaskStore()
app = FastAPI(title="Task API (Dapr schedule harness sample app)")


def _recorder() -> Recorder:
    global recorder
    if recorder is None:
        recorder = Recorder()
    return recorder


async def _answer(request: Request, mechanism: Mechanism, name: str) -> Response:
    trigger, rule = await _recorder().record(request, mechanism, name)
    if trigger.outcome == "refused":
        return JSONResponse({"error": "missing or wrong dapr-api-token"}, status_code=401)
    if delay_ms := rule.get("delay_ms", 0):
        await asyncio.sleep(delay_ms / 1000)
    if trigger.status >= 300:
        return JSONResponse(rule.get("body", {"error": "failing on purpose"}), status_code=trigger.status)
    removed = _run_scheduled_work(name, trigger.payload)
    body = rule.get("body", {"status": "SUCCESS", "removed": removed})
    return JSONResponse(body, status_code=trigger.status)


def _run_scheduled_work(name: str, payload: Any) -> int:
    """The cleanup the schedule exists for; any trigger runs it with its retention setting."""
    retention = RETENTION_DEFAULT_S
    if isinstance(payload, dict):
        if "retention_seconds" in payload:
            retention = float(payload["retention_seconds"])
        elif "retention_days" in payload:
            retention = float(payload["retention_days"]) * 86400
    return store.cleanup(retention)


@app.get("/healthz")
async def healthz() -> dict[str, Any]:
    return {"replica": _recorder().replica, "pid": os.getpid()}


@app.post("/job/{name:path}")
async def job_trigger(name: str, request: Request) -> Response:
    return await _answer(request, "job", name)


@app.post("/todos")
async def add_todo(body: dict[str, Any]) -> dict[str, Any]:
    todo = store.add(str(body.get("title", "")))
    return {"id": todo.id, "title": todo.title}


@app.post("/todos/{todo_id}/complete")
async def complete_todo(todo_id: int, body: dict[str, Any] | None = None) -> Response:
    todo = store.todos.get(todo_id)
    if todo is None:
        return JSONResponse({"error": "no such todo"}, status_code=404)
    todo.done_at = float((body or {}).get("done_at", time.time()))
    return JSONResponse({"id": todo.id, "done_at": todo.done_at})


@app.get("/todos")
async def list_todos() -> list[dict[str, Any]]:
    return [{"id": t.id, "title": t.title, "done_at": t.done_at} for t in store.todos.values()]


@app.put("/_harness/handlers")
async def set_handlers(rules: list[dict[str, Any]]) -> dict[str, int]:
    """Replace the answer rules during a run (the nemesis uses this for failing/slow windows)."""
    _recorder().handlers = rules
    return {"rules": len(rules)}


@app.api_route("/{route}", methods=["POST", "OPTIONS"])
async def binding_trigger(route: str, request: Request) -> Response:
    if route not in _recorder().bindings:
        return JSONResponse({"error": f"no binding route /{route}"}, status_code=404)
    if request.method == "OPTIONS":
        return Response(status_code=200)  # daprd's probe for an input binding route
    return await _answer(request, "binding", _recorder().bindings[route])
