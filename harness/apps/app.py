"""The sample "Task API": a FastAPI app whose scheduled work is a cleanup of old completed todos.

It is the app every replica runs (``uvicorn harness.apps.app:app``, on httptools and uvloop).
Each trigger (a Jobs API callback, a cron binding call, a reminder) is appended to the run's
history *before* the app answers, so a crash after the answer loses nothing. Scenarios steer
how it answers (status, delay, body) through HARNESS_APP_HANDLERS or, during a run, through
PUT /_harness/handlers.

``app`` is ``FrontDoor`` (harness/apps/front.py): the token check, then the trigger routes
recorded and answered without the router; every other request reaches ``api``, the FastAPI app
below, which declares every route (the trigger routes too, which it serves when FrontDoor
passes them on). It also hosts the other mechanisms' handlers: binding-lock and binding-claim
bindings (the handler takes a gate per tick first, harness/apps/gates.py), the reminder actor
(harness/apps/actors.py) and, when the scenario has workflow tasks, a workflow worker
(harness/apps/workflow_app.py).

Environment: harness/apps/environment.py, plus DAPR_HTTP_PORT / DAPR_GRPC_PORT (its sidecar).
APP_API_TOKEN, when set, is what Dapr sends as dapr-api-token: every request to every route
without it is refused with 401 before its body is read, and recorded as refused: a trigger
route as a refused trigger, any other as a request_refused event.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from harness.apps import actors, gates, workflow_app
from harness.apps.front import FrontDoor, HttpRecorder, answer
from harness.apps.recorder import Arrival
from harness.scenario.mechanisms import Mechanism
from harness.scenario.model import AppHandler, TaskSpec

__all__ = ["api", "app"]

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


recorder: HttpRecorder | None = None
store = TaskStore()


def _recorder() -> HttpRecorder:
    """The process's one trigger log, made at start (FrontDoor's lifespan) or first use."""
    global recorder
    if recorder is None:
        recorder = HttpRecorder()
    return recorder


@asynccontextmanager
async def _lifespan(_: FastAPI) -> AsyncIterator[None]:
    """Workflow tasks need a workflow worker in every replica (it connects to its daprd)."""
    worker = workflow_app.start_worker(_recorder()) if _recorder().tasks_of("workflow") else None
    yield
    if worker is not None:
        worker.stop()


api = FastAPI(title="Task API (Dapr schedule harness sample app)", lifespan=_lifespan)


def _dapr_url() -> str:
    return f"http://127.0.0.1:{os.environ.get('DAPR_HTTP_PORT', '3500')}"


def _run_scheduled_work(name: str, payload: Any) -> int:
    """The cleanup the schedule exists for; any trigger runs it with its retention setting."""
    retention = RETENTION_DEFAULT_S
    if isinstance(payload, dict):
        if "retention_seconds" in payload:
            retention = float(payload["retention_seconds"])
        elif "retention_days" in payload:
            retention = float(payload["retention_days"]) * 86400
    return store.cleanup(retention)


# What uvicorn serves (harness.apps.app:app): the token check and the trigger routes first.
app = FrontDoor(api, _recorder, _run_scheduled_work)


async def _answer(request: Request, mechanism: Mechanism, name: str,
                  arrival: Arrival | None = None, **gated: Any) -> Response:
    """A trigger FrontDoor left to the router: recorded, then answered as FrontDoor would."""
    arrival = arrival or (time.time(), time.monotonic())
    trigger, rule = _recorder().receive(mechanism, name, arrival, await request.body(),
                                        request.scope["headers"], **gated)
    status, body = await answer(trigger, rule, _run_scheduled_work)
    return Response(body, status_code=status, media_type="application/json")


@api.get("/healthz")
async def healthz() -> dict[str, Any]:
    return {"replica": _recorder().replica, "pid": os.getpid()}


@api.post("/job/{name:path}")
async def job_trigger(name: str, request: Request) -> Response:
    return await _answer(request, "job", name)


@api.post("/todos")
async def add_todo(body: dict[str, Any]) -> dict[str, Any]:
    todo = store.add(str(body.get("title", "")))
    return {"id": todo.id, "title": todo.title}


@api.post("/todos/{todo_id}/complete")
async def complete_todo(todo_id: int, body: dict[str, Any] | None = None) -> Response:
    todo = store.todos.get(todo_id)
    if todo is None:
        return JSONResponse({"error": "no such todo"}, status_code=404)
    todo.done_at = float((body or {}).get("done_at", time.time()))
    return JSONResponse({"id": todo.id, "done_at": todo.done_at})


@api.get("/todos")
async def list_todos() -> list[dict[str, Any]]:
    return [{"id": t.id, "title": t.title, "done_at": t.done_at} for t in store.todos.values()]


@api.put("/_harness/handlers")
async def set_handlers(rules: list[AppHandler]) -> dict[str, int]:
    """Replace the answer rules during a run (the nemesis uses this for failing/slow windows)."""
    _recorder().handlers = tuple(rules)
    return {"rules": len(rules)}


@api.get("/dapr/config")
async def dapr_config() -> dict[str, Any]:
    """daprd asks which actor types this app hosts (placement then spreads their ids)."""
    return actors.app_config(bool(_recorder().tasks_of("reminder")))


@api.put("/actors/{actor_type}/{actor_id}/method/remind/{reminder}")
async def reminder_trigger(actor_type: str, actor_id: str, reminder: str,
                           request: Request) -> Response:
    if actor_type != actors.ACTOR_TYPE:
        return JSONResponse({"error": f"no actor type {actor_type}"}, status_code=404)
    return await _answer(request, "reminder", reminder)


@api.put("/actors/{actor_type}/{actor_id}/method/{method}")
async def actor_method(actor_type: str, actor_id: str, method: str) -> Response:
    return JSONResponse({"error": f"no method {method}"}, status_code=404)


@api.delete("/actors/{actor_type}/{actor_id}")
async def actor_deactivate(actor_type: str, actor_id: str) -> Response:
    return Response(status_code=200)  # the actor keeps no in-memory state


async def _gated_binding(request: Request, name: str, task: TaskSpec) -> Response:
    """binding-lock / binding-claim: take the tick's gate, record the attempt, work if won."""
    arrival = (time.time(), time.monotonic())
    tick = gates.tick_key(task.schedule, arrival[0])
    take = gates.lock_tick if task.mechanism == "binding-lock" else gates.claim_tick
    async with httpx.AsyncClient() as http:
        result = await take(http, _dapr_url(), name, tick, _recorder().replica)
    # A winner told to fail (app_failing) holds the tick without doing its work: no work.
    failing = _recorder().rule_for(task.mechanism, name).status >= 300
    return await _answer(request, task.mechanism, name, arrival,
                         work=result.work and not failing, tick=tick, gate=result.record())


@api.api_route("/{route}", methods=["POST", "OPTIONS"])
async def binding_trigger(route: str, request: Request) -> Response:
    """Gated bindings, and daprd's OPTIONS probe of a route (FrontDoor answers plain bindings)."""
    if route not in _recorder().bindings:
        return JSONResponse({"error": f"no binding route /{route}"}, status_code=404)
    if request.method == "OPTIONS":
        return Response(status_code=200)  # daprd's probe for an input binding route
    name = _recorder().bindings[route]
    if name in _recorder().gated:
        return await _gated_binding(request, name, _recorder().gated[name])
    return await _answer(request, "binding", name)
