"""The sample "Task API": a FastAPI app whose scheduled work is a cleanup of old completed todos.

It is the app every replica runs. Each trigger (a Jobs API callback or a cron binding call) is
appended to the run's history *before* the handler answers, so a crash after the answer loses
nothing. Scenarios steer how it answers (status, delay, body) through HARNESS_APP_HANDLERS or,
during a run, through POST /_harness/handlers.

It also hosts the other mechanisms' handlers: binding-lock and binding-claim bindings (the
handler takes a gate per tick first, harness/apps/gates.py), the reminder actor
(harness/apps/actors.py) and, when the scenario has workflow tasks, a workflow worker
(harness/apps/workflow_app.py).

Environment: as harness/apps/recorder.py, plus HARNESS_BINDINGS (JSON object: route -> binding
name) and DAPR_HTTP_PORT / DAPR_GRPC_PORT (its sidecar). APP_API_TOKEN, when set, is what Dapr
sends as dapr-api-token: every request to every route without it is refused with 401 before its
body is read (``TokenGuard``), and recorded as refused: a trigger route as a refused trigger, any
other as a request_refused event.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from harness.apps import actors, gates, workflow_app
from harness.record.history import Trigger
from harness.scenario.mechanisms import GATED, Mechanism
from harness.apps.recorder import Arrival, TriggerLog

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


class Recorder(TriggerLog):
    """The HTTP app's trigger log: reads what it records from the request."""

    def __init__(self) -> None:
        super().__init__()
        # route -> binding component name
        self.bindings: dict[str, str] = json.loads(os.environ.get("HARNESS_BINDINGS", "{}"))

    async def record(self, request: Request, mechanism: Mechanism, name: str,
                     arrival: Arrival | None = None, **gated: Any) -> tuple[Trigger, dict[str, Any]]:
        """An authorized trigger (TokenGuard has refused the others before this point)."""
        arrival = arrival or (time.time(), time.monotonic())
        raw = await request.body()
        headers = {k: v for k, v in request.headers.items() if k in RECORDED_HEADERS}
        if "dapr-api-token" in request.headers:
            headers["dapr-api-token"] = "<valid>"  # presence recorded, never the token
        rule = self.rule_for(mechanism, name)
        trigger = self.write(mechanism, name, arrival, raw=raw, headers=headers,
                             status=int(rule.get("status", 200)), **gated)
        return trigger, rule

    def refused(self, method: str, path: str, headers: dict[str, str]) -> None:
        """Record a request TokenGuard refused: as a refused trigger if it was one."""
        seen = {k: v for k, v in headers.items() if k in RECORDED_HEADERS}
        if "dapr-api-token" in headers:
            seen["dapr-api-token"] = "<invalid>"
        target = self.trigger_target(method, path)
        if target is None:
            self.writer.event("request_refused", method=method, path=path[:200],
                              replica=self.replica, headers=seen)
            return
        self.write(target[0], target[1], headers=seen, status=401, authorized=False)

    def trigger_target(self, method: str, path: str) -> tuple[Mechanism, str] | None:
        """(mechanism, name) when ``method path`` is a trigger route of this app."""
        parts = path.strip("/").split("/")
        if method == "PUT" and len(parts) == 6 and parts[0] == "actors" and parts[3:5] == ["method", "remind"]:
            return "reminder", parts[5]
        if method != "POST":
            return None
        if path.startswith("/job/") and len(path) > len("/job/"):
            return "job", path[len("/job/"):]
        route = path.lstrip("/")
        if route not in self.bindings:
            return None
        name = self.bindings[route]
        gated = self.tasks_of(*GATED)
        return (gated[name]["mechanism"] if name in gated else "binding"), name


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


recorder: Recorder | None = None
store = TaskStore()


def _recorder() -> Recorder:
    global recorder
    if recorder is None:
        recorder = Recorder()
    return recorder


@asynccontextmanager
async def _lifespan(_: FastAPI) -> AsyncIterator[None]:
    """Workflow tasks need a workflow worker in every replica (it connects to its daprd)."""
    worker = None
    if os.environ.get("HARNESS_HISTORY") and _recorder().tasks_of("workflow"):
        worker = workflow_app.start_worker(_recorder())
    yield
    if worker is not None:
        worker.stop()


app = FastAPI(title="Task API (Dapr schedule harness sample app)", lifespan=_lifespan)
app.add_middleware(TokenGuard)


def _dapr_url() -> str:
    return f"http://127.0.0.1:{os.environ.get('DAPR_HTTP_PORT', '3500')}"


async def _answer(request: Request, mechanism: Mechanism, name: str,
                  arrival: Arrival | None = None, **gated: Any) -> Response:
    trigger, rule = await _recorder().record(request, mechanism, name, arrival, **gated)
    if delay_ms := rule.get("delay_ms", 0):
        await asyncio.sleep(delay_ms / 1000)
    if trigger.status >= 300:
        return JSONResponse(rule.get("body", {"error": "failing on purpose"}), status_code=trigger.status)
    if trigger.work is False:
        return JSONResponse({"status": "SKIPPED", "tick": trigger.tick}, status_code=trigger.status)
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


@app.get("/dapr/config")
async def dapr_config() -> dict[str, Any]:
    """daprd asks which actor types this app hosts (placement then spreads their ids)."""
    return actors.app_config(bool(_recorder().tasks_of("reminder")))


@app.put("/actors/{actor_type}/{actor_id}/method/remind/{reminder}")
async def reminder_trigger(actor_type: str, actor_id: str, reminder: str,
                           request: Request) -> Response:
    if actor_type != actors.ACTOR_TYPE:
        return JSONResponse({"error": f"no actor type {actor_type}"}, status_code=404)
    return await _answer(request, "reminder", reminder)


@app.put("/actors/{actor_type}/{actor_id}/method/{method}")
async def actor_method(actor_type: str, actor_id: str, method: str) -> Response:
    return JSONResponse({"error": f"no method {method}"}, status_code=404)


@app.delete("/actors/{actor_type}/{actor_id}")
async def actor_deactivate(actor_type: str, actor_id: str) -> Response:
    return Response(status_code=200)  # the actor keeps no in-memory state


async def _gated_binding(request: Request, name: str, task: dict[str, Any]) -> Response:
    """binding-lock / binding-claim: take the tick's gate, record the attempt, work if won."""
    arrival = (time.time(), time.monotonic())
    tick = gates.tick_key(task["schedule"], arrival[0])
    take = gates.lock_tick if task["mechanism"] == "binding-lock" else gates.claim_tick
    async with httpx.AsyncClient() as http:
        result = await take(http, _dapr_url(), name, tick, _recorder().replica)
    # A winner told to fail (app_failing) holds the tick without doing its work: no work.
    failing = int(_recorder().rule_for(task["mechanism"], name).get("status", 200)) >= 300
    return await _answer(request, task["mechanism"], name, arrival,
                         work=result.work and not failing, tick=tick, gate=result.record())


@app.api_route("/{route}", methods=["POST", "OPTIONS"])
async def binding_trigger(route: str, request: Request) -> Response:
    if route not in _recorder().bindings:
        return JSONResponse({"error": f"no binding route /{route}"}, status_code=404)
    if request.method == "OPTIONS":
        return Response(status_code=200)  # daprd's probe for an input binding route
    name = _recorder().bindings[route]
    gated = _recorder().tasks_of(*GATED)
    if name in gated:
        return await _gated_binding(request, name, gated[name])
    return await _answer(request, "binding", name)
