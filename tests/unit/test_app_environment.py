"""The sample apps' environment: validated at start by the scenario's own models, one line per
problem; and a scenario handler reaches the app as the scenario said (no body: the default)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from asgi import lifespan_startup, request

import harness.apps.app as app_module
from harness.apps.environment import AppEnvironmentError, read_environment
from harness.apps.front import FrontDoor
from harness.paths import SCENARIOS_DIR
from harness.record.history import Trigger, load_history, record_line
from harness.scenario.loading import load_scenario


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"HARNESS_HISTORY": str(tmp_path / "history.jsonl"), **values}


@pytest.mark.parametrize(("variable", "value", "line"), [
    ("HARNESS_APP_HANDLERS", '[{"mechanism": "job", "status": 700}]',
     "HARNESS_APP_HANDLERS[0].status: Input should be less than or equal to 599, got 700"),
    ("HARNESS_APP_HANDLERS", '[{"mechanism": "cron"}]', "HARNESS_APP_HANDLERS[0].mechanism: "),
    ("HARNESS_APP_HANDLERS", '[{"mechanism": "job", "colour": 1}]',
     "HARNESS_APP_HANDLERS[0].colour: Extra inputs are not permitted, got 1"),
    ("HARNESS_TASKS", '[{"mechanism": "reminder", "name": "r"}]',
     "HARNESS_TASKS[0].schedule: Field required"),
    ("HARNESS_TASKS", "[{", "HARNESS_TASKS: Invalid JSON"),
    ("HARNESS_BINDINGS", '["nightly"]', "HARNESS_BINDINGS: Input should be an object"),
    ("HARNESS_BINDINGS", '{"nightly": 3}', "HARNESS_BINDINGS.nightly: Input should be a valid string"),
    ("HARNESS_REPLICA", "two", "HARNESS_REPLICA: Input should be a valid integer"),
    ("HARNESS_REPLICA", "-1", "HARNESS_REPLICA: Input should be greater than or equal to 0"),
])
def test_a_bad_variable_is_one_line_naming_it_and_the_field(tmp_path: Path, variable: str,
                                                            value: str, line: str) -> None:
    with pytest.raises(AppEnvironmentError) as caught:
        read_environment(_env(tmp_path, **{variable: value}))
    message = str(caught.value)
    assert message.startswith(line) and "\n" not in message


def test_a_missing_history_says_so(tmp_path: Path) -> None:
    with pytest.raises(AppEnvironmentError, match="^HARNESS_HISTORY: missing"):
        read_environment({})


def test_the_defaults(tmp_path: Path) -> None:
    env = read_environment(_env(tmp_path))
    assert (env.replica, env.token, env.handlers, env.tasks, dict(env.bindings)) == (
        0, None, (), (), {})


@pytest.fixture
def fresh_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(app_module, "recorder", None)
    yield


def test_a_bad_environment_fails_the_start_in_one_line(tmp_path: Path, fresh_app: None,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in _env(tmp_path, HARNESS_APP_HANDLERS='[{"mechanism": "job", "delay_ms": -5}]').items():
        monkeypatch.setenv(key, value)
    answer = lifespan_startup(app_module.app)
    assert answer["type"] == "lifespan.startup.failed"
    assert answer["message"].startswith("HARNESS_APP_HANDLERS[0].delay_ms: Input should be "
                                        "greater than or equal to 0")


def _scenario_handlers_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The app's environment as the runner hands it a scenario's handlers (claims-handlers)."""
    [scenario] = load_scenario(SCENARIOS_DIR / "claims-handlers.yaml")
    handlers = [h.model_dump(mode="json") for h in scenario.app.handlers]
    for key, value in _env(tmp_path, HARNESS_APP_HANDLERS=json.dumps(handlers)).items():
        monkeypatch.setenv(key, value)
    return tmp_path / "history.jsonl"


@pytest.mark.parametrize("path", ["/job/h-constant", "/job/h-drop"])
def test_a_scenario_handler_without_a_body_answers_the_default_error_body(
        tmp_path: Path, fresh_app: None, monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    _scenario_handlers_env(monkeypatch, tmp_path)
    answer = request(app_module.app, "POST", path)
    assert (answer.status, orjson.loads(answer.body)) == (500, {"error": "failing on purpose"})


def test_a_scenario_handler_with_a_body_answers_it(tmp_path: Path, fresh_app: None,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _scenario_handlers_env(monkeypatch, tmp_path)
    answer = request(app_module.app, "POST", "/job/h-404")
    assert (answer.status, orjson.loads(answer.body)) == (404, {"error": "not found"})


def test_handler_rules_set_during_a_run_are_validated(tmp_path: Path, fresh_app: None,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _scenario_handlers_env(monkeypatch, tmp_path)
    bad = request(app_module.app, "PUT", "/_harness/handlers", body=b'[{"mechanism": "job", "status": 1000}]')
    assert bad.status == 422
    rules = b'[{"mechanism": "job", "name": "h-*", "status": 503, "body": null}]'
    assert request(app_module.app, "PUT", "/_harness/handlers", body=rules).status == 200
    answer = request(app_module.app, "POST", "/job/h-404")
    assert (answer.status, orjson.loads(answer.body)) == (503, {"error": "failing on purpose"})


def test_a_record_line_is_what_json_would_write() -> None:
    trigger = Trigger(mechanism="job", name="ünï", replica=1, pid=7, wall=1.25, mono=3.5,
                      payload={"a": [1, 2.5, None]}, headers={"x": "y"}, app_ms=0.125)
    from dataclasses import asdict
    assert record_line(trigger) == (json.dumps(asdict(trigger), ensure_ascii=False,
                                               separators=(",", ":")) + "\n").encode()
    huge = Trigger(mechanism="job", name="n", replica=0, pid=1, wall=1.0, mono=1.0,
                   payload={"n": 10**30})
    assert json.loads(record_line(huge))["payload"] == {"n": 10**30}


def test_load_history_reads_what_the_app_wrote(tmp_path: Path, fresh_app: None,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    history = _scenario_handlers_env(monkeypatch, tmp_path)
    request(app_module.app, "POST", "/job/steady", body=b'{"n": 18446744073709551617}',
            headers={"traceparent": "00-ab", "x-other": "no"})
    [trigger] = load_history(history).triggers
    assert (trigger.name, trigger.payload, trigger.status) == ("steady", {"n": 2**64 + 1}, 200)
    assert trigger.headers == {"content-type": "application/json", "traceparent": "00-ab"}
    assert trigger.app_ms is not None and 0 <= trigger.app_ms < 1000


def test_trigger_routes_are_answered_ahead_of_the_router(tmp_path: Path, fresh_app: None,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs, plain bindings and the actor's reminders never reach FastAPI; the rest does."""
    history = _scenario_handlers_env(monkeypatch, tmp_path)
    monkeypatch.setenv("HARNESS_BINDINGS", '{"nightly": "nightly-cron"}')
    routed: list[str] = []

    async def router(scope: dict, receive: object, send: object) -> None:
        routed.append(scope["path"])
        await app_module.api(scope, receive, send)

    front_door = FrontDoor(router, app_module._recorder, lambda name, payload: 0)
    for method, path in [("POST", "/job/a"), ("POST", "/nightly"),
                         ("PUT", "/actors/CleanupActor/x/method/remind/r")]:
        assert request(front_door, method, path).status == 200
    assert request(front_door, "PUT", "/actors/Other/x/method/remind/r").status == 404
    assert request(front_door, "GET", "/healthz").status == 200
    assert routed == ["/actors/Other/x/method/remind/r", "/healthz"]
    assert [(t.mechanism, t.name) for t in load_history(history).triggers] == [
        ("job", "a"), ("binding", "nightly-cron"), ("reminder", "r")]
