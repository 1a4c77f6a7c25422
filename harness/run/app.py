"""The sample "Task API": a FastAPI app whose scheduled work is a cleanup of old completed todos.

It is the app every replica runs. Each trigger (a Jobs API callback or a cron binding call) is
appended to the run's history *before* the handler answers, so a crash after the answer loses
nothing. Scenarios steer how it answers (status, delay, body) through HARNESS_APP_HANDLERS or,
during a run, through POST /_harness/handlers.

Environment: HARNESS_HISTORY (history file), HARNESS_REPLICA (replica index),
HARNESS_BINDINGS (JSON object: route -> binding name), HARNESS_APP_HANDLERS (JSON list of handler
rules, see scenario.AppHandler), APP_API_TOKEN (when set, Dapr sends it as dapr-api-token and
every request to every route without it is refused with 401 before its body is read, and
recorded as refused: a trigger route as a refused trigger, any other as a request_refused event).
"""

from __future__ import annotations

import asyncio
import fnmatch
import hmac
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from harness.run.history import HistoryWriter, Mechanism, Trigger

__all__ = ["TokenGuard", "app"]

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
        """An authorized trigger (TokenGuard has refused the others before this point)."""
        wall, mono = time.time(), time.monotonic()
        raw = await request.body()
        headers = {k: v for k, v in request.headers.items() if k in RECORDED_HEADERS}
        if "dapr-api-token" in request.headers:
            headers["dapr-api-token"] = "<valid>"  # presence recorded, never the token
        rule = self.rule_for(mechanism, name)
        status = int(rule.get("status", 200))
        trigger = Trigger(
            mechanism=mechanism, name=name, replica=self.replica, pid=os.getpid(), wall=wall,
            mono=mono, payload=_decode(raw), headers=headers, status=status,
            outcome="ok" if status < 400 else "failed",
            raw=raw.decode("utf-8", errors="replace")[:2000] if raw else None,
        )
        self.writer.append(trigger)
        return trigger, rule

    def refused(self, method: str, path: str, headers: dict[str, str]) -> None:
        """Record a request TokenGuard refused: as a refused trigger if it was one."""
        wall, mono = time.time(), time.monotonic()
        seen = {k: v for k, v in headers.items() if k in RECORDED_HEADERS}
        if "dapr-api-token" in headers:
            seen["dapr-api-token"] = "<invalid>"
        target = self.trigger_target(method, path)
        if target is None:
            self.writer.event("request_refused", method=method, path=path[:200],
                              replica=self.replica, headers=seen)
            return
        self.writer.append(Trigger(mechanism=target[0], name=target[1], replica=self.replica,
                                   pid=os.getpid(), wall=wall, mono=mono, headers=seen,
                                   status=401, outcome="refused"))

    def trigger_target(self, method: str, path: str) -> tuple[Mechanism, str] | None:
        """(mechanism, name) when ``method path`` is a job or binding trigger route."""
        if method != "POST":
            return None
        if path.startswith("/job/") and len(path) > len("/job/"):
            return "job", path[len("/job/"):]
        route = path.lstrip("/")
        return ("binding", self.bindings[route]) if route in self.bindings else None


class TokenGuard:
    """Pure ASGI middleware: with APP_API_TOKEN set, a request without it never reaches a route.

    It runs before any route reads the body, compares in constant time (hmac.compare_digest),
    and records the refusal. Dapr sends the token as dapr-api-token on every call to the app
    (docs: "Authenticate requests from Dapr using token authentication").
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        recorder = _recorder()
        if scope["type"] != "http" or recorder.token is None:
            await self.app(scope, receive, send)
            return
        raw: dict[bytes, bytes] = dict(scope["headers"])  # ASGI header names are lowercase
        if hmac.compare_digest(raw.get(b"dapr-api-token", b""), recorder.token.encode()):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in raw.items()}
        recorder.refused(scope["method"], scope["path"], headers)
        response = JSONResponse({"error": "missing or wrong dapr-api-token"}, status_code=401)
        await response(scope, receive, send)


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


recorder: Recorder | None = None
store = TaskStore()
app = FastAPI(title="Task API (Dapr schedule harness sample app)")
app.add_middleware(TokenGuard)


def _recorder() -> Recorder:
    global recorder
    if recorder is None:
        recorder = Recorder()
    return recorder


async def _answer(request: Request, mechanism: Mechanism, name: str) -> Response:
    trigger, rule = await _recorder().record(request, mechanism, name)
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
