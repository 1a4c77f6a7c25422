"""The sample "Task API": a FastAPI app whose scheduled work is a cleanup of old completed todos.

It is the app every replica runs. Each trigger (a Jobs API callback or a cron binding call) is
appended to the run's history *before* the handler answers, so a crash after the answer loses
nothing. Scenarios steer how it answers (status, delay, body) through HARNESS_APP_HANDLERS or,
during a run, through POST /_harness/handlers.

It also hosts the other mechanisms' handlers: binding-lock and binding-claim bindings (the
handler takes a gate per tick first, harness/run/gates.py), the reminder actor
(harness/run/actors.py) and, when the scenario has workflow tasks, a workflow worker
(harness/run/workflow_app.py).

Environment: as harness/run/recorder.py, plus HARNESS_BINDINGS (JSON object: route -> binding
name) and DAPR_HTTP_PORT / DAPR_GRPC_PORT (its sidecar). APP_API_TOKEN, when set, is what Dapr
sends as dapr-api-token; any request without it is refused with 401 and recorded as refused.
"""

from __future__ import annotations

import asyncio
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

from harness.run import actors, gates, workflow_app
from harness.run.history import Mechanism, Trigger
from harness.run.recorder import Arrival, TriggerLog

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


class Recorder(TriggerLog):
    """The HTTP app's trigger log: reads what it records from the request."""

    def __init__(self) -> None:
        super().__init__()
        # route -> binding component name
        self.bindings: dict[str, str] = json.loads(os.environ.get("HARNESS_BINDINGS", "{}"))

    async def record(self, request: Request, mechanism: Mechanism, name: str,
                     arrival: Arrival | None = None, **gated: Any) -> tuple[Trigger, dict[str, Any]]:
        arrival = arrival or (time.time(), time.monotonic())
        raw = await request.body()
        headers = {k: v for k, v in request.headers.items() if k in RECORDED_HEADERS}
        authorized = self.token is None or request.headers.get("dapr-api-token") == self.token
        if "dapr-api-token" in request.headers:
            headers["dapr-api-token"] = "<valid>" if authorized else "<invalid>"
        rule = self.rule_for(mechanism, name) if authorized else {}
        status = int(rule.get("status", 200)) if authorized else 401
        trigger = self.write(mechanism, name, arrival, raw=raw, headers=headers, status=status,
                             authorized=authorized, **gated)
        return trigger, rule


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


def _dapr_url() -> str:
    return f"http://127.0.0.1:{os.environ.get('DAPR_HTTP_PORT', '3500')}"


async def _answer(request: Request, mechanism: Mechanism, name: str,
                  arrival: Arrival | None = None, **gated: Any) -> Response:
    trigger, rule = await _recorder().record(request, mechanism, name, arrival, **gated)
    if trigger.outcome == "refused":
        return JSONResponse({"error": "missing or wrong dapr-api-token"}, status_code=401)
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
    gated = _recorder().tasks_of("binding-lock", "binding-claim")
    if name in gated:
        return await _gated_binding(request, name, gated[name])
    return await _answer(request, "binding", name)
