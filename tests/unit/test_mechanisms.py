"""The mechanisms beside job and binding, without starting a process: scenario fields,
history records, rendered components, tick keys, the handlers' gates and the apps' handlers."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import yaml

from harness.apps import actors, gates, grpc_app, workflow_app
from harness.cluster.components import install_redis_components
from harness.record.history import HistoryWriter, Trigger, load_history
from harness.apps.recorder import TriggerLog
from harness.scenario.model import AppHandler, ScenarioError, TaskSpec
from harness.scenario.loading import load_scenario

TASKS: list[dict[str, Any]] = [
    {"mechanism": "job-sdk", "name": "t-sdk", "schedule": "@every 2s"},
    {"mechanism": "binding-lock", "name": "t-lock", "schedule": "*/2 * * * * *"},
    {"mechanism": "binding-claim", "name": "t-claim", "schedule": "*/2 * * * * *"},
    {"mechanism": "reminder", "name": "t-rem", "schedule": "@every 2s"},
    {"mechanism": "workflow", "name": "t-wf", "schedule": "@every 2s"},
]


def scenario_file(tmp_path: Path, **fields: Any) -> Path:
    doc = {"replicas": 3, "window_s": 20, "tasks": TASKS, **fields}
    path = tmp_path / "mech.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


# --- scenario fields ---------------------------------------------------------------------------

def test_tasks_load_and_size_both_apps(tmp_path: Path) -> None:
    (scenario,) = load_scenario(scenario_file(tmp_path))
    assert [t.mechanism for t in scenario.tasks] == [t["mechanism"] for t in TASKS]
    assert (scenario.http_replicas, scenario.grpc_replicas, scenario.total_replicas) == (3, 3, 6)
    assert scenario.needs_redis


def test_job_sdk_alone_runs_only_the_grpc_app(tmp_path: Path) -> None:
    (scenario,) = load_scenario(scenario_file(tmp_path, tasks=TASKS[:1]))
    assert (scenario.http_replicas, scenario.grpc_replicas) == (0, 3)
    assert not scenario.needs_redis


@pytest.mark.parametrize(("change", "message"), [
    ({"name": "Bad_Name"}, "tasks[1].name: invalid task name"),
    ({"name": "t-sdk"}, "tasks[1].name: duplicate name"),
    ({"schedule": "@every 2s"}, "tasks[1].schedule: binding-lock needs a cron schedule"),
    ({"schedule": "* * *"}, "tasks[1].schedule: invalid binding schedule"),
    ({"at_s": 3}, "tasks[1].at_s: a binding is installed before start"),
    ({"mechanism": "cron-lock"}, "tasks[1].mechanism: not an allowed value"),
])
def test_bad_binding_task_fails_with_one_line(tmp_path: Path, change: dict[str, Any],
                                              message: str) -> None:
    tasks = [TASKS[0], {**TASKS[1], **change}]
    with pytest.raises(ScenarioError) as err:
        load_scenario(scenario_file(tmp_path, tasks=tasks))
    assert message in str(err.value)
    assert "\n" not in str(err.value) and "mech.yaml" in str(err.value)


@pytest.mark.parametrize("mechanism", ["reminder", "workflow"])
def test_period_mechanisms_need_every(tmp_path: Path, mechanism: str) -> None:
    tasks = [{"mechanism": mechanism, "name": "p", "schedule": "*/2 * * * * *"}]
    with pytest.raises(ScenarioError, match=rf"tasks\[0\].schedule: invalid {mechanism} period"):
        load_scenario(scenario_file(tmp_path, tasks=tasks))


def test_restart_redis_needs_a_redis_mechanism(tmp_path: Path) -> None:
    faults = [{"kind": "restart_redis", "at_s": 5, "duration_s": 2}]
    load_scenario(scenario_file(tmp_path, faults=faults))
    with pytest.raises(ScenarioError, match=r"faults\[0\].kind: no Redis in this scenario"):
        load_scenario(scenario_file(tmp_path, tasks=TASKS[:1], faults=faults))


def test_fault_replica_may_target_the_grpc_app(tmp_path: Path) -> None:
    fault = {"kind": "kill_daprd", "at_s": 5, "duration_s": 2}
    load_scenario(scenario_file(tmp_path, faults=[{**fault, "replica": 5}]))
    with pytest.raises(ScenarioError, match=r"faults\[0\].replica: no such replica.*0\.\.5"):
        load_scenario(scenario_file(tmp_path, faults=[{**fault, "replica": 6}]))


def test_every_shipped_mechanism_scenario_loads() -> None:
    root = Path(__file__).resolve().parents[2] / "scenarios"
    names = [s.name for p in sorted(root.glob("mechanisms*.yaml")) for s in load_scenario(p)]
    assert "mechanisms" in names and "mechanisms-sweep[replicas=5]" in names
    assert len([n for n in names if n.startswith("mechanisms-fault-")]) == 5


# --- history -------------------------------------------------------------------------------------

def test_old_trigger_records_load_with_no_gate(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    old = {"kind": "trigger", "mechanism": "job", "name": "j", "replica": 0, "pid": 1,
           "wall": 1.0, "mono": 1.0}
    path.write_text(json.dumps(old) + "\n")
    (trigger,) = load_history(path).triggers
    assert (trigger.work, trigger.tick, trigger.gate) == (None, None, None)


def test_gated_trigger_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    record = Trigger(mechanism="binding-claim", name="c", replica=2, pid=9, wall=5.0, mono=5.0,
                     work=False, tick="2026-11-29T10:00:02.000Z", gate="409 etag mismatch")
    with HistoryWriter(path) as writer:
        writer.append(record)
    assert load_history(path).triggers == (record,)


# --- components, ticks, gates ---------------------------------------------------------------------

def test_redis_components_render(tmp_path: Path) -> None:
    paths = install_redis_components(tmp_path, "127.0.0.1:6390")
    docs = {p.stem: yaml.safe_load(p.read_text()) for p in paths}
    state, lock = docs[gates.STATE_STORE], docs[gates.LOCK_STORE]
    meta = {m["name"]: m["value"] for m in state["spec"]["metadata"]}
    assert state["spec"]["type"] == "state.redis" and meta["actorStateStore"] == "true"
    assert meta["redisHost"] == "127.0.0.1:6390"
    assert lock["spec"]["type"] == "lock.redis" and lock["metadata"]["name"] == "lockstore"


def test_tick_key_is_the_scheduled_fire_time() -> None:
    base = 1_764_000_000.0  # a whole minute
    assert gates.tick_key("*/2 * * * * *", base + 2.0) == "2025-11-24T16:00:02.000Z"
    assert gates.tick_key("*/2 * * * * *", base + 3.999) == "2025-11-24T16:00:02.000Z"
    assert gates.tick_key("*/2 * * * * *", base + 4.0004) == "2025-11-24T16:00:04.000Z"


def _client(status: int, body: Any) -> httpx.AsyncClient:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body)
    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    client.seen = seen  # type: ignore[attr-defined]
    return client


async def _claim(status: int, won: bool) -> None:
    client = _client(status, {})
    result = await gates.claim_tick(client, "http://d", "b", "T", 1)
    assert result.work is won and result.status == status
    (request,) = client.seen  # type: ignore[attr-defined]
    body = json.loads(request.content)
    assert request.url.path == "/v1.0/state/statestore"
    assert body[0]["key"] == "claim-b-T" and body[0]["options"]["concurrency"] == "first-write"


@pytest.mark.parametrize(("status", "won"), [(204, True), (409, False), (500, False)])
def test_claim_gate_works_only_on_a_successful_save(status: int, won: bool) -> None:
    import asyncio
    asyncio.run(_claim(status, won))


@pytest.mark.parametrize(("status", "body", "won"), [
    (200, {"success": True}, True), (200, {"success": False}, False), (500, {"errorCode": "x"}, False)])
def test_lock_gate_works_only_when_the_lock_is_taken(status: int, body: Any, won: bool) -> None:
    import asyncio

    async def go() -> None:
        client = _client(status, body)
        result = await gates.lock_tick(client, "http://d", "b", "T", 2)
        assert result.work is won
        (request,) = client.seen  # type: ignore[attr-defined]
        sent = json.loads(request.content)
        assert request.url.path == "/v1.0-alpha1/lock/lockstore"
        assert sent == {"resourceId": "b-T", "lockOwner": "replica-2",
                        "expiryInSeconds": gates.LOCK_EXPIRY_S}
    asyncio.run(go())


def test_reminder_registration_body_and_url() -> None:
    assert actors.reminder_body("@every 2s", {"a": 1}) == {"dueTime": "2s", "period": "2s",
                                                          "data": {"a": 1}}
    assert actors.reminder_url("http://d", "r").endswith("/actors/CleanupActor/cleanup/reminders/r")
    with pytest.raises(ValueError):
        actors.reminder_body("*/2 * * * * *", None)


# --- the apps' handlers ------------------------------------------------------------------------------

@pytest.fixture
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    history = tmp_path / "history.jsonl"
    monkeypatch.setenv("HARNESS_HISTORY", str(history))
    monkeypatch.setenv("HARNESS_REPLICA", "1")
    monkeypatch.setenv("HARNESS_TASKS", json.dumps(TASKS))
    monkeypatch.setenv("HARNESS_BINDINGS", json.dumps({"t-lock": "t-lock", "t-claim": "t-claim"}))
    return history


@pytest.fixture
def http_app(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from fastapi.testclient import TestClient

    from harness.apps import app as app_module
    monkeypatch.setattr(app_module, "recorder", None)
    monkeypatch.setattr(app_module.workflow_app, "start_worker", lambda log: _NoWorker())
    with TestClient(app_module.app) as client:
        yield client


class _NoWorker:
    def stop(self) -> None:
        pass


def test_app_announces_the_actor_type(http_app: Any) -> None:
    assert http_app.get("/dapr/config").json()["entities"] == [actors.ACTOR_TYPE]


def test_reminder_call_is_recorded(http_app: Any, app_env: Path) -> None:
    url = f"/actors/{actors.ACTOR_TYPE}/{actors.ACTOR_ID}/method/remind/t-rem"
    assert http_app.put(url, json={"data": {"x": 1}, "dueTime": "2s"}).status_code == 200
    assert http_app.put("/actors/Other/x/method/remind/t-rem").status_code == 404
    (trigger,) = load_history(app_env).triggers
    assert (trigger.mechanism, trigger.name, trigger.replica, trigger.work) == (
        "reminder", "t-rem", 1, None)
    assert trigger.payload == {"data": {"x": 1}, "dueTime": "2s"}


@pytest.mark.parametrize(("route", "mechanism", "gate"), [
    ("t-lock", "binding-lock", "lock_tick"), ("t-claim", "binding-claim", "claim_tick")])
@pytest.mark.parametrize("won", [True, False])
def test_gated_binding_records_the_gate(http_app: Any, app_env: Path,
                                        monkeypatch: pytest.MonkeyPatch, route: str,
                                        mechanism: str, gate: str, won: bool) -> None:
    calls: list[tuple[str, str]] = []

    async def fake(http: Any, url: str, name: str, tick: str, replica: int) -> gates.GateResult:
        calls.append((name, tick))
        return gates.GateResult(won, 204 if won else 409, "answer", 12.0)
    monkeypatch.setattr(gates, gate, fake)
    response = http_app.post(f"/{route}")
    assert response.status_code == 200
    assert response.json().get("status") == ("SUCCESS" if won else "SKIPPED")
    (trigger,) = load_history(app_env).triggers
    assert (trigger.mechanism, trigger.name, trigger.work) == (mechanism, route, won)
    assert calls == [(route, trigger.tick)] and trigger.tick.endswith("Z")
    assert trigger.gate == f"{204 if won else 409} 12ms answer"


class _Event:
    def __init__(self, name: str, data: bytes) -> None:
        self.name, self.data = name, data


def test_grpc_job_handler_records_and_fails_on_purpose(app_env: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    log = TriggerLog()
    handle = grpc_app._handler(log, "t-sdk")
    handle(_Event("t-sdk", b'{"a": 1}'))
    log.handlers = (AppHandler(mechanism="job-sdk", status=500),)
    with pytest.raises(grpc_app.FailingOnPurpose):
        handle(_Event("t-sdk", b""))
    first, second = load_history(app_env).triggers
    assert (first.mechanism, first.payload, first.outcome) == ("job-sdk", {"a": 1}, "ok")
    assert (second.status, second.outcome) == (500, "failed")


class _Ctx:
    instance_id = "t-wf"

    def __init__(self) -> None:
        self.continued: Any = None

    def call_activity(self, name: str, input: Any) -> tuple[str, Any]:
        return ("activity", name, input)  # type: ignore[return-value]

    def create_timer(self, delay: Any) -> tuple[str, Any]:
        return ("timer", delay)

    def continue_as_new(self, state: Any) -> None:
        self.continued = state


def test_workflow_works_then_waits_then_continues_as_new() -> None:
    ctx = _Ctx()
    state = workflow_app.workflow_input("t-wf", 2.0, {"a": 1}, iteration=4)
    steps = list(workflow_app.cleanup_loop(ctx, state))
    assert steps[0][:2] == ("activity", workflow_app.ACTIVITY_NAME)
    assert steps[1][0] == "timer" and steps[1][1].total_seconds() == 2.0
    assert ctx.continued == {**state, "iteration": 5}


def test_workflow_activity_records_the_iteration(app_env: Path) -> None:
    log = TriggerLog()
    worker = object.__new__(workflow_app.WorkflowWorker)
    worker.recorder = log
    result = worker.activity(None, {**workflow_app.workflow_input("t-wf", 2.0, None, 3),
                                    "instance": "t-wf"})
    (trigger,) = load_history(app_env).triggers
    assert (trigger.mechanism, trigger.name, trigger.work, trigger.tick) == (
        "workflow", "t-wf", True, "3")
    assert result == {"iteration": 3, "replica": 1}


def test_sdk_job_carries_json_data() -> None:
    from harness.drive.tasks import sdk_job
    job = sdk_job(TaskSpec(mechanism="job-sdk", name="j", schedule="@every 2s", data={"a": 1}))
    proto = job._get_proto()
    assert (proto.name, proto.schedule, json.loads(proto.data.value)) == ("j", "@every 2s", {"a": 1})


# --- the restart_redis fault -------------------------------------------------------------------------

class _FakeRedis:
    """Stands in for RedisService: records the kill and the restart."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.process = SimpleNamespace(kill=lambda: self.calls.append("kill"))

    def restart(self) -> None:
        self.calls.append("restart")


class _FakeCluster:
    def __init__(self, history: HistoryWriter) -> None:
        self.history, self.redis, self.schedulers = history, _FakeRedis(), [object()]


def test_restart_redis_kills_then_restarts_and_records_both(tmp_path: Path) -> None:
    from harness.drive.nemesis import fault_actions
    from harness.scenario.model import FaultSpec

    with HistoryWriter(tmp_path / "h.jsonl") as writer:
        cluster = _FakeCluster(writer)
        fault = FaultSpec(kind="restart_redis", at_s=3, duration_s=2)
        actions = fault_actions(cluster, fault)  # type: ignore[arg-type]
        assert [(a.at_s, a.label) for a in actions] == [(3, "restart_redis start"),
                                                         (5, "restart_redis end")]
        for action in actions:
            action.act()
    assert cluster.redis.calls == ["kill", "restart"]
    events = [(e.event, e.attrs) for e in load_history(tmp_path / "h.jsonl").events]
    assert events == [("fault_start", {"fault": "restart_redis", "target": "redis"}),
                      ("fault_end", {"fault": "restart_redis", "target": "redis"})]


def test_a_winner_told_to_fail_did_no_work(http_app: Any, app_env: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    async def win(*args: Any) -> gates.GateResult:
        return gates.GateResult(True, 204, "", 3.0)
    monkeypatch.setattr(gates, "claim_tick", win)
    http_app.put("/_harness/handlers", json=[{"mechanism": "binding-claim", "status": 500}])
    assert http_app.post("/t-claim").status_code == 500
    (trigger,) = load_history(app_env).triggers
    assert (trigger.work, trigger.outcome, trigger.gate) == (False, "failed", "204 3ms ")


def test_every_schedules_tick_on_multiples_of_the_period() -> None:
    from harness.scenario.schedule import fire_at_or_before
    assert fire_at_or_before("@every 2s", 1003.5) == 1002.0
    assert fire_at_or_before("*/5 * * * *", 1_764_000_299.0) == 1_764_000_000.0  # minute grid


def _replica(index: int, calls: list[str]) -> SimpleNamespace:
    daprd = SimpleNamespace(kill=lambda: calls.append(f"kill {index}"),
                            start=lambda: calls.append(f"start {index}"))
    return SimpleNamespace(index=index, daprd=daprd, wait_ready=lambda: None)


def test_follow_hits_the_replica_of_the_latest_reminder(tmp_path: Path) -> None:
    from harness.drive.nemesis import fault_actions
    from harness.scenario.model import FaultSpec

    path, calls = tmp_path / "h.jsonl", []
    with HistoryWriter(path) as writer:
        for replica, wall in ((0, 1.0), (2, 3.0), (1, 2.0)):
            writer.append(Trigger(mechanism="reminder", name="r", replica=replica, pid=1,
                                  wall=wall, mono=wall))
        cluster = SimpleNamespace(history=writer, run=SimpleNamespace(history=path),
                                  schedulers=[object()], replica=lambda i: _replica(i, calls))
        fault = FaultSpec(kind="kill_daprd", at_s=1, duration_s=1, follow="reminder")
        for action in fault_actions(cluster, fault):  # type: ignore[arg-type]
            action.act()
    assert calls == ["kill 2", "start 2"]
    starts = [e for e in load_history(path).events if e.event == "fault_start"]
    assert [e.attrs["target"] for e in starts] == ["replica-2"]


def test_follow_without_a_trigger_is_a_fault_error(tmp_path: Path) -> None:
    from harness.drive.nemesis import fault_actions
    from harness.scenario.model import FaultSpec

    path, errors = tmp_path / "h.jsonl", []
    with HistoryWriter(path) as writer:
        cluster = SimpleNamespace(history=writer, run=SimpleNamespace(history=path),
                                  schedulers=[object()])
        fault = FaultSpec(kind="kill_app", at_s=1, duration_s=1, follow="reminder")
        for action in fault_actions(cluster, fault, errors=errors):  # type: ignore[arg-type]
            action.act()
    assert len(errors) == 1 and "no reminder trigger yet" in errors[0]
    assert [e.event for e in load_history(path).events] == ["fault_error"]


@pytest.mark.parametrize(("fault", "message"), [
    ({"kind": "kill_daprd", "at_s": 5, "follow": "reminder", "replica": 1},
     "faults[0].follow: both replica and follow"),
    ({"kind": "kill_scheduler", "at_s": 5, "follow": "reminder"},
     "faults[0].follow: kill_scheduler has no replica target"),
    ({"kind": "kill_daprd", "at_s": 5, "follow": "job"}, "faults[0].follow: not an allowed value"),
])
def test_bad_follow_fails_with_one_line(tmp_path: Path, fault: dict[str, Any],
                                        message: str) -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario(scenario_file(tmp_path, faults=[fault]))
    assert message in str(err.value)


def test_follow_needs_a_task_of_that_mechanism(tmp_path: Path) -> None:
    fault = {"kind": "kill_app", "at_s": 5, "duration_s": 1, "follow": "workflow"}
    with pytest.raises(ScenarioError, match=r"faults\[0\].follow: no task of this mechanism"):
        load_scenario(scenario_file(tmp_path, tasks=TASKS[:4], faults=[fault]))


def test_grpc_ok_counts_as_accepted() -> None:
    from harness.bench.loadgen import is_success

    assert is_success("OK") and is_success("204") and not is_success("UNAVAILABLE")


def test_setup_rebuilds_a_project_runtime_made_with_other_tags(tmp_path: Path) -> None:
    from harness.cluster import build
    from harness.cluster.runtime import DaprRuntime

    runtime = DaprRuntime(root=tmp_path, version="1.18.3", source="project build")
    manifest = tmp_path / "build-manifest.json"
    manifest.write_text(json.dumps({"tags": {"daprd": "stablecomponents"}}))
    assert build.stale_project_build(runtime)
    manifest.write_text(json.dumps({"tags": build.BUILD_TAGS}))
    assert not build.stale_project_build(runtime)
    other = DaprRuntime(root=tmp_path / "elsewhere", version="1.18.3", source="DAPR_RUNTIME_PATH")
    assert not build.stale_project_build(other)  # only the project's own build is rebuilt
    older = DaprRuntime(root=tmp_path, version="1.16.0", source="project build")
    manifest.write_text(json.dumps({"tags": {"daprd": "stablecomponents"}}))
    assert not build.stale_project_build(older)  # other versions build with stable components
