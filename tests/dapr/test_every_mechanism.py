"""Every mechanism beside job and binding delivers on real Dapr, and the run's Redis is a
process like any other (own group, run tag, ended, port released)."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

from harness.cluster.ports import port_is_free
from harness.cluster.reaper import tagged_processes
from harness.cluster.redis import ping, redis_service
from harness.cluster.runtime import DaprRuntime, locate_runtime
from harness.record.history import History, load_history
from harness.record.rundir import RunDir, new_run_dir
from harness.runner import run_scenario
from harness.scenario.loading import load_scenario

SCENARIO = """\
replicas: 2
window_s: 9
tasks:
  - {mechanism: job-sdk, name: m-sdk, schedule: "@every 1s", data: {action: cleanup}}
  - {mechanism: binding-lock, name: m-lock, schedule: "* * * * * *"}
  - {mechanism: binding-claim, name: m-claim, schedule: "* * * * * *"}
  - {mechanism: reminder, name: m-reminder, schedule: "@every 1s"}
  - {mechanism: workflow, name: m-workflow, schedule: "@every 1s"}
"""


@pytest.fixture(scope="module")
def runtime() -> DaprRuntime:
    return locate_runtime()


@pytest.fixture(scope="module")
def history(runtime: DaprRuntime, tmp_path_factory: pytest.TempPathFactory) -> History:
    root = tmp_path_factory.mktemp("mechanisms")
    path = root / "every-mechanism.yaml"
    path.write_text(SCENARIO)
    (scenario,) = load_scenario(path)
    result = run_scenario(scenario, runtime, runs_dir=root / "runs")
    assert result.driver_errors == []
    assert tagged_processes([result.run.run_id]) == []
    return load_history(result.run.history)


def _work_per_tick(history: History, mechanism: str) -> collections.Counter[int]:
    """How many attempts did the work, per tick key (histogram: workers -> ticks)."""
    ticks: dict[str, int] = collections.defaultdict(int)
    for trigger in history.triggers:
        if trigger.mechanism == mechanism:
            assert trigger.tick is not None
            ticks[trigger.tick] += bool(trigger.work)
    return collections.Counter(ticks.values())


@pytest.mark.parametrize("mechanism", ["binding-lock", "binding-claim"])
def test_gated_binding_works_once_per_tick_though_every_replica_is_called(
        history: History, mechanism: str) -> None:
    attempts = [t for t in history.triggers if t.mechanism == mechanism]
    assert {t.replica for t in attempts} == {0, 1}  # both sidecars' crons call the handler
    histogram = _work_per_tick(history, mechanism)
    # Every full tick inside the window had exactly one winner (the first and last may be cut).
    assert histogram[1] >= 6 and set(histogram) <= {0, 1}, histogram
    losers = [t for t in attempts if t.work is False]
    # Every loser records its gate call: daprd's answer, or (a call that failed, e.g. under
    # load) "None" and the error; most calls are answered.
    assert losers and all(t.gate for t in losers)
    answered = [t for t in losers if not t.gate.startswith("None")]
    assert len(answered) * 2 >= len(losers), [t.gate for t in losers if t not in answered]


def test_sdk_job_reaches_only_the_grpc_app(history: History) -> None:
    created = [e for e in history.events_named("job_created") if e.attrs.get("mechanism") == "job-sdk"]
    assert [e.attrs["status"] for e in created] == ["OK"]
    triggers = history.received("job-sdk", "m-sdk")
    assert len(triggers) >= 6 and {t.replica for t in triggers} <= {2, 3}
    assert all(t.payload == {"action": "cleanup"} for t in triggers)


def test_reminder_fires_on_the_actor_host_only(history: History) -> None:
    (registered,) = history.events_named("reminder_registered")
    assert registered.attrs["status"] == 204
    triggers = history.received("reminder", "m-reminder")
    assert len(triggers) >= 6 and len({t.replica for t in triggers}) == 1


def test_workflow_runs_one_activity_per_iteration(history: History) -> None:
    (started,) = history.events_named("workflow_started")
    assert started.attrs["status"] == 202
    triggers = history.received("workflow", "m-workflow")
    iterations = [int(t.tick or 0) for t in triggers]
    assert len(triggers) >= 4 and sorted(iterations) == list(range(1, len(triggers) + 1))


def test_redis_answers_restarts_and_leaves_nothing(tmp_path: Path) -> None:
    run: RunDir = new_run_dir("redis-test", base=tmp_path)
    redis = redis_service(run)
    try:
        redis.start()
        redis.wait_ready()
        pid = redis.process.pid
        redis.restart()
        assert redis.process.pid != pid and ping(redis.port)
    finally:
        redis.process.stop()
    assert tagged_processes([run.run_id]) == [] and port_is_free(redis.port)
