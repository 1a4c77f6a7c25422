"""One request through an ASGI app in-process (no server, no process), as uvicorn would send it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any


@dataclass
class Answer:
    status: int
    body: bytes
    read_body: bool  # whether the app asked for the request body


def request(app: Any, method: str, path: str, *, body: bytes = b"{}",
            headers: dict[str, str] | None = None) -> Answer:
    raw = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    scope: dict[str, Any] = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                             "method": method, "path": path, "raw_path": path.encode(),
                             "root_path": "", "scheme": "http", "query_string": b"",
                             "headers": raw, "client": ("127.0.0.1", 1),
                             "server": ("127.0.0.1", 2)}
    asked: list[bool] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        asked.append(True)
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return Answer(sent[0]["status"], payload, bool(asked))


def lifespan_startup(app: Any) -> dict[str, Any]:
    """The message the app answers a lifespan startup with."""
    sent: list[dict[str, Any]] = []
    messages = iter([{"type": "lifespan.startup"}])

    async def receive() -> dict[str, Any]:
        return next(messages, None) or await asyncio.Event().wait()  # type: ignore[func-returns-value]

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def run() -> None:
        task = asyncio.ensure_future(app({"type": "lifespan", "asgi": {"version": "3.0"}},
                                         receive, send))
        while not sent and not task.done():
            await asyncio.sleep(0)
        task.cancel()

    asyncio.run(run())
    return sent[0]
