"""What every request to the HTTP sample app meets first: a plain ASGI app ahead of FastAPI.

``FrontDoor`` checks APP_API_TOKEN on every request (constant time, before any body is read;
a refusal is recorded), then answers the trigger routes itself: ``POST /job/{name}``,
``POST /{route}`` of a plain cron binding and ``PUT /actors/CleanupActor/{id}/method/remind/{name}``.
Each is recorded (one ``write(2)`` on the descriptor opened at start) and then answered, with no
router, dependency injection or response class in between: under thousands of triggers a
second, that overhead, not Dapr, set the ceiling. Everything else (health, todos, the handler
rules, the actor config, gated bindings, which call Dapr before answering) goes on to FastAPI,
where a reader finds every route declared. At start (ASGI lifespan) it reads and validates the
environment, so a bad one stops the app with one line.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from harness.apps.actors import ACTOR_TYPE
from harness.apps.environment import AppEnvironment, AppEnvironmentError
from harness.apps.recorder import Arrival, TriggerLog
from harness.record.history import Trigger
from harness.scenario.mechanisms import GATED, Mechanism
from harness.scenario.model import AppHandler

__all__ = ["FAILING_BODY", "FrontDoor", "HttpRecorder", "answer", "json_bytes"]

RECORDED_HEADERS = frozenset({b"content-type", b"traceparent", b"user-agent", b"dapr-app-id",
                              b"dapr-caller-app-id"})
TOKEN_HEADER = b"dapr-api-token"
FAILING_BODY = {"error": "failing on purpose"}
_JSON_HEADERS = [(b"content-type", b"application/json")]
Headers = Sequence[tuple[bytes, bytes]]  # ASGI: lowercase names, as sent
Work = Callable[[str, Any], int]  # the scheduled work a trigger runs: (name, payload) -> removed


def json_bytes(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # an integer beyond 64 bits in a scenario's body
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def seen_headers(headers: Headers, token: str) -> dict[str, str]:
    """The headers a trigger record keeps; the token's presence as ``token``, never its value."""
    seen = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers if k in RECORDED_HEADERS}
    if any(k == TOKEN_HEADER for k, _ in headers):
        seen["dapr-api-token"] = token
    return seen


class HttpRecorder(TriggerLog):
    """The HTTP app's trigger log: which routes are triggers, and what a refusal records."""

    def __init__(self, env: AppEnvironment | None = None) -> None:
        super().__init__(env)
        self.bindings = dict(self.env.bindings)  # route -> binding component name
        self.gated = self.tasks_of(*GATED)
        self.plain_bindings = {r: n for r, n in self.bindings.items() if n not in self.gated}
        self.token_bytes = self.token.encode() if self.token is not None else None

    def receive(self, mechanism: Mechanism, name: str, arrival: Arrival, raw: bytes,
                headers: Headers, **gated: Any) -> tuple[Trigger, AppHandler]:
        """Record an authorized trigger (the token was checked before this point)."""
        rule = self.rule_for(mechanism, name)
        trigger = self.write(mechanism, name, arrival, raw=raw, status=rule.status,
                             headers=seen_headers(headers, "<valid>"), **gated)
        return trigger, rule

    def refused(self, method: str, path: str, headers: Headers) -> None:
        """Record a request without the token: as a refused trigger if it was one."""
        seen = seen_headers(headers, "<invalid>")
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
        return (self.gated[name].mechanism if name in self.gated else "binding"), name

    def fast_target(self, method: str, path: str) -> tuple[Mechanism, str] | None:
        """The triggers FrontDoor answers itself: jobs, plain bindings, the actor's reminders."""
        if method == "POST":
            if path.startswith("/job/") and len(path) > len("/job/"):
                return "job", path[len("/job/"):]
            name = self.plain_bindings.get(path[1:])
            return None if name is None else ("binding", name)
        if method == "PUT" and path.startswith("/actors/"):
            parts = path[1:].split("/")
            if len(parts) == 6 and parts[1] == ACTOR_TYPE and parts[3:5] == ["method", "remind"]:
                return "reminder", parts[5]
        return None


async def answer(trigger: Trigger, rule: AppHandler, work: Work) -> tuple[int, bytes]:
    """The answer to a recorded trigger: the rule's delay, status and body (null or absent:
    the default body); the scheduled work runs when the attempt may work."""
    if rule.delay_ms:
        await asyncio.sleep(rule.delay_ms / 1000)
    if trigger.status >= 300:
        return trigger.status, json_bytes(FAILING_BODY if rule.body is None else rule.body)
    if trigger.work is False:
        return trigger.status, json_bytes({"status": "SKIPPED", "tick": trigger.tick})
    removed = work(trigger.name, trigger.payload)
    body = {"status": "SUCCESS", "removed": removed} if rule.body is None else rule.body
    return trigger.status, json_bytes(body)


async def _body(receive: Receive) -> bytes | None:
    """The whole request body; None when the client went away first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send(send: Send, status: int, body: bytes) -> None:
    headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class FrontDoor:
    """The app uvicorn serves: token check, the trigger routes, then ``api`` (FastAPI)."""

    def __init__(self, api: ASGIApp, recorder: Callable[[], HttpRecorder], work: Work) -> None:
        self.api, self.recorder, self.work = api, recorder, work

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.api(scope, receive, send)
            return
        recorder = self.recorder()
        if recorder.token_bytes is not None and not self._authorized(scope, recorder.token_bytes):
            recorder.refused(scope["method"], scope["path"], scope["headers"])
            await _send(send, 401, json_bytes({"error": "missing or wrong dapr-api-token"}))
            return
        target = recorder.fast_target(scope["method"], scope["path"])
        if target is None:
            await self.api(scope, receive, send)
            return
        await self._trigger(recorder, target, scope, receive, send)

    @staticmethod
    def _authorized(scope: Scope, token: bytes) -> bool:
        # Dapr sends the token as dapr-api-token on every call to the app (docs: "Authenticate
        # requests from Dapr using token authentication"); compared in constant time.
        sent = next((v for k, v in scope["headers"] if k == TOKEN_HEADER), b"")
        return hmac.compare_digest(sent, token)

    async def _trigger(self, recorder: HttpRecorder, target: tuple[Mechanism, str], scope: Scope,
                       receive: Receive, send: Send) -> None:
        arrival = (time.time(), time.monotonic())
        raw = await _body(receive)
        if raw is None:
            return  # the caller went away mid-request: no trigger was delivered
        trigger, rule = recorder.receive(*target, arrival, raw, scope["headers"])
        await _send(send, *await answer(trigger, rule, self.work))

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Validate the environment and open the history before the first request."""
        try:
            self.recorder()
        except (AppEnvironmentError, OSError) as exc:
            await receive()  # lifespan.startup
            await send({"type": "lifespan.startup.failed", "message": _one_line(exc)})
            return
        await self.api(scope, receive, send)


def _one_line(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, AppEnvironmentError) else f"HARNESS_HISTORY: {exc}"
    return " ".join(text.splitlines())

