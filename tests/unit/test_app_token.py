"""APP_API_TOKEN in the sample app, driven in-process through ASGI (no server, no process).

Every route is guarded, the comparison is constant-time, the body is never read for a refused
request, and each refusal is in the history.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from pathlib import Path

import pytest
from asgi import request

import harness.apps.app as app_module
from harness.apps import front
from harness.record.history import load_history

TOKEN = "app-token-3b9d"
ROUTES = [("GET", "/healthz"), ("GET", "/todos"), ("POST", "/todos"),
          ("POST", "/todos/1/complete"), ("PUT", "/_harness/handlers"), ("POST", "/job/nightly"),
          ("POST", "/nightly"), ("OPTIONS", "/nightly"), ("GET", "/docs"), ("GET", "/openapi.json")]


@pytest.fixture
def history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "history.jsonl"
    monkeypatch.setenv("HARNESS_HISTORY", str(path))
    monkeypatch.setenv("APP_API_TOKEN", TOKEN)
    monkeypatch.setenv("HARNESS_BINDINGS", '{"nightly": "nightly-cron"}')
    monkeypatch.setattr(app_module, "recorder", None)  # a fresh recorder reads this env
    yield path


def call(method: str, path: str, token: str | None, body: bytes = b"{}") -> tuple[int, bool]:
    """(status, whether the app asked for the body) of one request through the whole app."""
    headers = {"dapr-api-token": token} if token is not None else {}
    answer = request(app_module.app, method, path, body=body, headers=headers)
    return answer.status, answer.read_body


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("token", [None, "wrong", TOKEN + "x", ""])
def test_every_route_refuses_a_missing_or_wrong_token_before_reading_the_body(
        history: Path, method: str, path: str, token: str | None) -> None:
    status, read_body = call(method, path, token)
    assert (status, read_body) == (401, False)


def test_refusals_are_recorded_as_refused(history: Path) -> None:
    for method, path in ROUTES:
        call(method, path, "wrong")
    records = load_history(history)
    assert [(t.mechanism, t.name, t.outcome, t.status) for t in records.triggers] == [
        ("job", "nightly", "refused", 401), ("binding", "nightly-cron", "refused", 401)]
    assert all(t.headers["dapr-api-token"] == "<invalid>" for t in records.triggers)
    others = [(e.attrs["method"], e.attrs["path"]) for e in records.events_named("request_refused")]
    assert others == [r for r in ROUTES if r not in {("POST", "/job/nightly"), ("POST", "/nightly")}]
    assert TOKEN not in history.read_text() and "wrong" not in history.read_text()


def test_the_token_opens_every_route(history: Path) -> None:
    assert call("GET", "/healthz", TOKEN)[0] == 200
    assert call("PUT", "/_harness/handlers", TOKEN, b"[]")[0] == 200
    assert call("POST", "/todos", TOKEN, b'{"title": "t"}')[0] == 200
    assert call("POST", "/job/nightly", TOKEN)[0] == 200
    [trigger] = load_history(history).triggers
    assert (trigger.outcome, trigger.headers["dapr-api-token"]) == ("ok", "<valid>")


def test_the_comparison_is_constant_time(history: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(front.hmac, "compare_digest", spy)
    call("GET", "/healthz", "wrong")
    call("GET", "/healthz", TOKEN)
    assert seen == [(b"wrong", TOKEN.encode()), (TOKEN.encode(), TOKEN.encode())]


def test_without_a_token_configured_nothing_is_guarded(history: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APP_API_TOKEN")
    assert call("PUT", "/_harness/handlers", None, b"[]")[0] == 200
    assert load_history(history).events_named("request_refused") == []
