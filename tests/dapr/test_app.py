"""The sample app on its own (no Dapr): what it records, and that a record outlives a crash."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.record.history import load_history
from harness.paths import REPO_ROOT
from harness.cluster.ports import PortReservation
from harness.cluster.process import ManagedProcess
from harness.cluster.wait import wait_until

TOKEN = "secret-token"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[str, Path, ManagedProcess]]:
    ports = PortReservation(1)
    port = ports.ports[0]
    history = tmp_path / "history.jsonl"
    proc = ManagedProcess(
        "app", [sys.executable, "-m", "uvicorn", "harness.apps.app:app", "--host", "127.0.0.1",
                "--port", str(port), "--log-level", "warning"],
        run_id="test-app", log_path=tmp_path / "app.log", cwd=REPO_ROOT, ports=ports,
        env={"HARNESS_HISTORY": str(history), "HARNESS_REPLICA": "4", "APP_API_TOKEN": TOKEN,
             "HARNESS_BINDINGS": '{"nightly": "nightly-cron"}'})
    proc.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{url}/healthz", headers={"dapr-api-token": TOKEN},
                                     timeout=1).status_code == 200,
                   timeout_s=30, what="app healthy")
        yield url, history, proc
    finally:
        proc.stop()


def test_trigger_is_recorded_before_the_answer_and_survives_a_kill(app: tuple[str, Path, ManagedProcess]) -> None:
    url, history, proc = app
    data = {"action": "cleanup-completed-todos", "retention_days": 30, "note": "ünïcode"}
    response = httpx.post(f"{url}/job/daily-cleanup", json=data, headers={"dapr-api-token": TOKEN})
    assert response.status_code == 200
    proc.kill()  # SIGKILL right after the answer: the record must already be on disk
    [trigger] = load_history(history).triggers
    assert (trigger.mechanism, trigger.name, trigger.replica, trigger.outcome) == (
        "job", "daily-cleanup", 4, "ok")
    assert trigger.payload == data
    assert trigger.headers["dapr-api-token"] == "<valid>"  # presence recorded, never the token


def test_request_without_the_token_is_refused_not_a_trigger(app: tuple[str, Path, ManagedProcess]) -> None:
    url, history, _ = app
    assert httpx.post(f"{url}/job/daily-cleanup", json={}).status_code == 401
    assert httpx.post(f"{url}/nightly", headers={"dapr-api-token": "wrong"}).status_code == 401
    records = load_history(history)
    assert [t.outcome for t in records.triggers] == ["refused", "refused"]
    assert records.received("job") == [] and records.received("binding") == []


def test_binding_route_maps_to_its_component_and_unknown_routes_are_404(
        app: tuple[str, Path, ManagedProcess]) -> None:
    url, history, _ = app
    assert httpx.post(f"{url}/nightly", headers={"dapr-api-token": TOKEN}).status_code == 200
    assert httpx.post(f"{url}/other", headers={"dapr-api-token": TOKEN}).status_code == 404
    [trigger] = load_history(history).received("binding")
    assert trigger.name == "nightly-cron" and trigger.payload is None


def test_handler_rules_set_during_a_run_change_the_answer(app: tuple[str, Path, ManagedProcess]) -> None:
    url, history, _ = app
    rules = [{"mechanism": "job", "name": "flaky-*", "status": 503}]
    headers = {"dapr-api-token": TOKEN}
    assert httpx.put(f"{url}/_harness/handlers", json=rules).status_code == 401
    assert httpx.put(f"{url}/_harness/handlers", json=rules, headers=headers).status_code == 200
    assert httpx.post(f"{url}/job/flaky-1", json={}, headers=headers).status_code == 503
    assert httpx.post(f"{url}/job/steady", json={}, headers=headers).status_code == 200
    outcomes = {t.name: (t.status, t.outcome) for t in load_history(history).triggers}
    assert outcomes == {"flaky-1": (503, "failed"), "steady": (200, "ok")}
