"""One test (or more) per class of wrong verdicts a reviewer found by hand, each named for its
class: every one of them failed on the checker before these fixes."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
from builders import T0, ev, history, trig

from harness.check import Bound, CheckReport, MechanismResult, check_run
from harness.record.history import Event, History, Trigger, load_history
from harness.scenario.model import (
    BindingSpec,
    Expectation,
    FailurePolicy,
    FaultSpec,
    JobSpec,
    Scenario,
    TaskSpec,
)

EXACTLY_ONCE = Expectation(delivery="exactly_once")
AT_LEAST_ONCE = Expectation(delivery="at_least_once")
PER_REPLICA = Expectation(delivery="once_per_replica")
EVERY2 = JobSpec(name="j", schedule="@every 2s")


def window(end_s: float, replicas: int = 3, start_s: float = 0.0) -> list[Event]:
    ready = [ev("replica_ready", T0 - 5, replica=r) for r in range(replicas)]
    return [*ready, ev("window_start", T0 + start_s), ev("window_end", T0 + end_s)]


def created(name: str = "j", sent_s: float = 0.0, **spec: object) -> Event:
    return ev("job_created", T0 + sent_s + 0.02, name=name, spec=spec, sent_wall=T0 + sent_s,
              status=204)


def api_call(method: str, sent_s: float, job: str = "j", body: object = None,
             status: int = 204) -> Event:
    return ev("api_call", T0 + sent_s + 0.02, index=0, id=None, method=method, api="v1.0",
              job=job, url="u", body=body, sent_wall=T0 + sent_s, status=status, response="",
              error=None)


def fault(kind: str, start_s: float, end_s: float, **where: int) -> list[Event]:
    attrs = {"fault": kind, "target": "x", **where}
    return [ev("fault_start", T0 + start_s, **attrs), ev("fault_end", T0 + end_s, **attrs)]


def scenario(*, jobs: tuple[JobSpec, ...] = (), bindings: tuple[BindingSpec, ...] = (),
             tasks: tuple[TaskSpec, ...] = (), faults: tuple[FaultSpec, ...] = (),
             replicas: int = 3, window_s: float = 24, **expect: Expectation) -> Scenario:
    return Scenario(name="c", source=Path("c.yaml"), replicas=replicas, window_s=window_s,
                    jobs=jobs, bindings=bindings, tasks=tasks, faults=faults, expect=expect)


def job_fires(times_s: list[float], delay: float = 0.01, name: str = "j") -> list[Trigger]:
    return [trig("job", name, k % 3, T0 + t + delay) for k, t in enumerate(times_s)]


def failed(replica: int, wall: float, name: str = "j") -> Trigger:
    return trig("job", name, replica, wall, outcome="failed")


def only(report: CheckReport) -> MechanismResult:
    (entry,) = report.mechanisms
    return entry


def one_time(policy: dict[str, object] | None = None) -> JobSpec:
    return JobSpec(name="j", dueTime="2s",
                   failurePolicy=None if policy is None else FailurePolicy.model_validate(policy))


# --- 1. retries the failure policy cannot produce --------------------------------------------


def test_class_1_retries_drop_never_retries() -> None:
    job = one_time({"drop": {}})
    h = history(*window(21), created(dueTime="2s", failurePolicy={"drop": {}}), failed(0, T0 + 2.01),
                trig("job", "j", 1, T0 + 2.51))
    m = only(check_run(scenario(jobs=(job,), job=EXACTLY_ONCE), h))
    assert m.retries == 0 and m.across.duplicated == Bound(1, 1) and m.verdict == "fail"


def test_class_1_retries_count_bounded_by_max_retries() -> None:
    h = history(*window(21), created(), *(failed(0, T0 + 2.01 + i) for i in range(5)))
    m = only(check_run(scenario(jobs=(one_time(),), job=EXACTLY_ONCE), h))
    assert m.retries == 3  # Dapr's default: 3 retries; the fifth attempt is a duplicate
    assert m.across.duplicated == Bound(1, 1) and m.verdict == "fail"


def test_class_1_retries_no_sooner_than_the_interval() -> None:
    policy = {"constant": {"interval": "5s", "maxRetries": 3}}
    h = history(*window(21), created(dueTime="2s", failurePolicy=policy), failed(0, T0 + 2.01),
                trig("job", "j", 1, T0 + 2.11))
    m = only(check_run(scenario(jobs=(one_time(policy),), job=EXACTLY_ONCE), h))
    assert m.retries == 0 and m.across.duplicated.high == 1 and m.verdict == "fail"


def test_class_1_retries_never_the_next_ticks_delivery() -> None:
    # Tick 2 fails and its retry (due at 3 s) never comes; tick 4 is delivered on time.
    fires = [t for t in job_fires([2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22]) if t.wall > T0 + 3]
    h = history(*window(24), created(), failed(0, T0 + 2.01), *fires)
    m = only(check_run(scenario(jobs=(EVERY2,), job=AT_LEAST_ONCE), h))
    assert m.retries == 0 and m.across.abandoned.high == 1 and m.verdict != "pass"


def test_class_1_retries_a_one_time_job_failed_and_never_retried_is_undelivered() -> None:
    h = history(*window(21), created(), failed(0, T0 + 2.01))
    m = only(check_run(scenario(jobs=(one_time(),), job=EXACTLY_ONCE), h))
    assert m.across.undelivered == 1 and m.across.abandoned == Bound(1, 1)
    assert m.verdict == "fail" and "never retried" in " ".join(m.reasons)


# --- 2. triggers that should not exist ---------------------------------------------------------


def test_class_2_unexplained_a_fire_after_deletion() -> None:
    h = history(*window(24), created(), *job_fires([2, 4, 6, 8, 10]),
                ev("job_deleted", T0 + 11, name="j", status=204), trig("job", "j", 0, T0 + 17))
    report = check_run(scenario(jobs=(EVERY2,), job=AT_LEAST_ONCE), h)
    m = only(report)
    assert m.accounting.unexplained == 1 and m.verdict == "fail" and not report.passed


def test_class_2_unexplained_fires_past_repeats() -> None:
    job = JobSpec(name="j", schedule="@every 2s", repeats=4)
    h = history(*window(24), created(repeats=4, schedule="@every 2s"),
                *job_fires([2, 4, 6, 8, 10, 12]))
    m = only(check_run(scenario(jobs=(job,), job=AT_LEAST_ONCE), h))
    assert m.across.ticks == 4 and m.accounting.unexplained == 2 and m.verdict == "fail"


def test_class_2_unexplained_fires_past_ttl() -> None:
    job = JobSpec(name="j", schedule="@every 2s", ttl="7s")
    h = history(*window(24), created(ttl="7s", schedule="@every 2s"), *job_fires([2, 4, 6, 8]))
    m = only(check_run(scenario(jobs=(job,), job=AT_LEAST_ONCE), h))
    assert m.across.ticks == 3 and m.accounting.unexplained == 1 and m.verdict == "fail"


# --- 3. early under every delivery kind ----------------------------------------------------------


def test_class_3_early_read_under_at_least_once() -> None:
    # Every tick on time, and one more 35 % of a period before tick 10.
    h = history(*window(24), created(), *job_fires([2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22]),
                trig("job", "j", 2, T0 + 10 - 0.7))
    m = only(check_run(scenario(jobs=(EVERY2,), job=AT_LEAST_ONCE), h))
    assert m.early == 1 and m.verdict != "pass"


# --- 4. only faults that can hold the Scheduler's triggers excuse a replay --------------------


@pytest.mark.parametrize(("kind", "spec"), [
    ("restart_redis", FaultSpec(kind="restart_redis", at_s=4)),
    ("scale_out", FaultSpec(kind="scale_out", at_s=4)),
    ("app_slow", FaultSpec(kind="app_slow", at_s=4, duration_s=2, replica=0)),
])
def test_class_4_stalls_only_from_faults_that_hold_triggers(kind: str, spec: FaultSpec) -> None:
    # Tick 14 lost and tick 16 delivered twice, 10 s after the fault: no fault holds these.
    fires = job_fires([2, 4, 6, 8, 10, 12, 16, 18, 20, 22]) + [trig("job", "j", 1, T0 + 16.3)]
    h = history(*window(24), created(), *fault(kind, 4, 6 if kind == "app_slow" else 4.1,
                                               **({"replica": 0} if kind == "app_slow" else {})),
                *fires)
    m = only(check_run(scenario(jobs=(EVERY2,), faults=(spec,), job=AT_LEAST_ONCE), h))
    assert m.across.lost == Bound(0, 1) and m.verdict == "ambiguous"


def test_class_4_the_catalog_declares_what_each_fault_holds() -> None:
    from harness.scenario.faults import FAULTS, HOLDS

    assert set(HOLDS) == set(FAULTS)
    assert "job" in HOLDS["kill_scheduler"] and "job" not in HOLDS["restart_redis"]
    assert not HOLDS["scale_out"] and not HOLDS["app_failing"]


# --- 5. triggers from a stopped replica ----------------------------------------------------------


def test_class_5_stopped_replica_fires_are_unexplained() -> None:
    cron = BindingSpec(name="c", schedule="*/2 * * * * *")
    even = [float(t) for t in range(0, 23, 2)]
    fires = [trig("binding", "c", r, T0 + t + 0.003) for r in (0, 1) for t in even]
    fires += [trig("binding", "c", 2, T0 + t + 0.003) for t in even if t <= 8 or t in (12, 14)]
    h = history(*window(24), *fault("scale_in", 8, 8.5, replica=2),
                ev("replica_stopped", T0 + 8.4, replica=2), *fires)
    s = scenario(bindings=(cron,), faults=(FaultSpec(kind="scale_in", at_s=8, replica=2),),
                 binding=PER_REPLICA)
    report = check_run(s, h)
    m = only(report)
    assert m.accounting.unexplained == 2 and m.accounting.after_window == 0
    assert m.verdict == "fail" and report.checker("accounting").verdict == "fail"  # type: ignore[union-attr]


# --- 6. the kind reading is never harsher than the strict one ----------------------------------


def test_class_6_readings_a_binding_never_fires_early() -> None:
    cron = BindingSpec(name="c", schedule="*/2 * * * * *")
    fires = [trig("binding", "c", 0, T0 + t + 0.003) for t in range(-2, 23, 2)]
    fires.append(trig("binding", "c", 0, T0 - 0.1))  # a copy of the tick before the window
    h = history(*window(24, replicas=1), *fires)
    m = only(check_run(scenario(bindings=(cron,), replicas=1, binding=PER_REPLICA), h))
    for view in (m.across, m.per_replica_view):
        for b in (view.duplicated, view.lost, view.extra, view.once):
            assert b.low <= b.high
    assert m.per_replica_view.duplicated == Bound(0, 0) and m.verdict == "pass"


def test_class_6_readings_messages_name_the_reading_truthfully() -> None:
    # Kind reading: tick 10 delivered early; strict: tick 8 twice and tick 10 lost.
    fires = job_fires([2, 4, 6, 8, 12, 14, 16, 18, 20, 22]) + [trig("job", "j", 0, T0 + 9.7)]
    h = history(*window(24), created(), *fires)
    m = only(check_run(scenario(jobs=(EVERY2,), job=AT_LEAST_ONCE), h))
    assert m.verdict == "fail"  # every reading breaks at_least_once, on different counts
    text = " ".join(m.reasons)
    assert "kindest" not in text and "0 under the kind reading, 1 under the strict one" in text


# --- 7. workflows ---------------------------------------------------------------------------------

WORKFLOW = TaskSpec(mechanism="workflow", name="wf", schedule="@every 2s")


def iteration(key: int, wall: float, replica: int = 0) -> Trigger:
    return replace(trig("workflow", "wf", replica, wall), work=True, tick=str(key))


def workflow_history(walls: list[tuple[int, float]], *extra: Event, end_s: float = 24) -> History:
    started = ev("workflow_started", T0 + 0.02, name="wf", workflow="w", spec={},
                 sent_wall=T0, status=202, response="")
    return history(*window(end_s), started, *extra,
                   *(iteration(k, T0 + at) for k, at in walls))


def test_class_7_workflows_an_early_iteration_run_twice_does_not_crash() -> None:
    walls = [(k, 2.0 * k + 0.05) for k in range(4)] + [(4, 6.4), (4, 6.9)]
    walls += [(k, 2.0 * k + 0.05) for k in range(5, 12)]
    m = only(check_run(scenario(tasks=(WORKFLOW,), workflow=EXACTLY_ONCE),
                       workflow_history(walls)))
    assert m.early >= 1 and m.across.duplicated.high == 1 and m.verdict == "fail"


def test_class_7_workflows_an_early_iteration_is_early_not_a_duplicate() -> None:
    walls = [(k, 2.0 * k + 0.05) for k in range(4)] + [(4, 6.4)]
    walls += [(k, 6.4 + 2.0 * (k - 4)) for k in range(5, 12)]
    m = only(check_run(scenario(tasks=(WORKFLOW,), workflow=AT_LEAST_ONCE),
                       workflow_history(walls)))
    assert m.early == 1 and m.across.duplicated == Bound(0, 0) and m.verdict == "fail"


def test_class_7_workflows_a_loop_that_stops_fails_its_promise() -> None:
    walls = [(k, 2.0 * k + 0.05) for k in range(4)]  # then nothing: the loop stopped at 8 s
    kill = fault("kill_scheduler", 8, 8.1)
    s = scenario(tasks=(WORKFLOW,), faults=(FaultSpec(kind="kill_scheduler", at_s=8),),
                 window_s=80)
    report = check_run(s, workflow_history(walls, *kill, ev("fault_recovered", T0 + 10,
                                                            fault="kill_scheduler", target="x"),
                                           end_s=80))
    promises = report.checker("promises")
    assert promises is not None and promises.verdict == "fail"
    assert any("lost at" in r for r in promises.reasons)


# --- 8. promises look at every lost tick, and at gated bindings' lost work -------------------


def test_class_8_promises_every_lost_tick_is_looked_at() -> None:
    cron = BindingSpec(name="c", schedule="* * * * * *")
    fires = [trig("binding", "c", r, T0 + t + 0.003) for r in (0, 2) for t in range(80)]
    fires += [trig("binding", "c", 1, T0 + t + 0.003) for t in range(80)
              if not 1 <= t <= 46 and t != 70]  # down 46 s by the fault, then tick 70 lost
    h = history(*window(80), *fault("kill_daprd", 0.5, 45.5, replica=1), *fires)
    s = scenario(bindings=(cron,), window_s=80,
                 faults=(FaultSpec(kind="kill_daprd", at_s=0.5, duration_s=45, replica=1),))
    promises = check_run(s, h).checker("promises")
    assert promises is not None and promises.verdict == "fail"
    assert promises.reasons == ["c: lost on replica 1 at 70.0 s, outside a fault that may cost it work"]


def test_class_8_promises_gated_lost_work_is_judged() -> None:
    claim = TaskSpec(mechanism="binding-claim", name="g", schedule="*/2 * * * * *")
    fires = [replace(trig("binding-claim", "g", r, T0 + t + 0.003 + 0.001 * r),
                     work=(r == 0 and not 4 <= t <= 22), tick=str(t))
             for t in range(0, 29, 2) for r in range(3)]
    h = history(*window(30), *fault("kill_scheduler", 2, 2.1), *fires)
    s = scenario(tasks=(claim,), window_s=30,
                 faults=(FaultSpec(kind="kill_scheduler", at_s=2),))
    promises = check_run(s, h).checker("promises")
    assert promises is not None and promises.verdict == "fail"  # 10 ticks, 18 s, no work


# --- 9. @every bindings running slow ---------------------------------------------------------------


def test_class_9_every_binding_running_slow_is_visible() -> None:
    every = BindingSpec(name="c", schedule="@every 2s")
    fires = [trig("binding", "c", 0, T0 + 0.3 + 2.98 * j) for j in range(9)]
    m = only(check_run(scenario(bindings=(every,), replicas=1, binding=PER_REPLICA),
                       history(*window(24, replicas=1), *fires)))
    assert m.late >= 7 and m.lateness_ms["max"] == pytest.approx(980.0, abs=1)
    assert m.drift is not None and m.drift["per_tick_ms"] == pytest.approx(980.0, abs=1)
    assert m.verdict == "fail" and any("ran slow" in r for r in m.reasons)


# --- 10. accounting ------------------------------------------------------------------------------


def test_class_10_accounting_a_replica_that_does_not_exist() -> None:
    cron = BindingSpec(name="c", schedule="*/2 * * * * *")
    fires = [trig("binding", "c", r, T0 + t + 0.003) for r in range(3) for t in range(0, 23, 2)]
    fires.append(trig("binding", "c", 7, T0 + 9))
    report = check_run(scenario(bindings=(cron,)), history(*window(24), *fires))
    assert only(report).accounting.unexplained == 1
    assert report.checker("accounting").verdict == "fail" and not report.passed  # type: ignore[union-attr]


def test_class_10_accounting_a_replica_never_started() -> None:
    fires = [replace(t, replica=k % 2) for k, t in
             enumerate(job_fires([2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22]))]
    fires[3] = replace(fires[3], replica=2)
    h = history(*window(24, replicas=2), created(), *fires)  # replica 2 never became ready
    report = check_run(scenario(jobs=(EVERY2,)), h)
    assert only(report).accounting.unexplained == 1 and not report.passed


# --- 11. records ---------------------------------------------------------------------------------


def _record(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {"mechanism": "job", "name": "j", "replica": 0, "pid": 1,
                               "wall": T0 + 1, "mono": 51.0, "status": 200, "kind": "trigger"}
    return {**base, **fields}


@pytest.mark.parametrize(("field", "value"), [
    ("wall", math.nan), ("wall", "1764000001.0"), ("wall", 0), ("status", None),
    ("mono", math.inf), ("replica", "one"), ("status", True),
])
def test_class_11_records_rejected_when_loaded(tmp_path: Path, field: str, value: object) -> None:
    path = tmp_path / "history.jsonl"
    lines = [json.dumps(_record()), json.dumps(_record(**{field: value}))]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError) as caught:
        load_history(path)
    message = str(caught.value)
    assert f"{path}:2" in message and field in message and "\n" not in message


@pytest.mark.timeout(60)
@pytest.mark.parametrize("schedule", ["* * * * * *", "@every 1s"])
def test_class_11_records_a_grid_never_reaches_back_to_1970(schedule: str) -> None:
    binding = BindingSpec(name="c", schedule=schedule)
    stray = Trigger(mechanism="binding", name="c", replica=0, pid=1, wall=1.0, mono=50.0 - T0)
    fires = [trig("binding", "c", 0, T0 + t + 0.003) for t in range(24)]
    report = check_run(scenario(bindings=(binding,), replicas=1, binding=PER_REPLICA),
                       history(*window(24, replicas=1), *fires, stray))
    assert not report.passed


# --- 12. correct histories ------------------------------------------------------------------------


def test_class_12_correct_a_wall_clock_step_is_not_a_loss_and_a_duplicate() -> None:
    step = -0.9  # at 9 s the wall clock steps back; the monotonic clock goes on
    fires = [replace(t, wall=t.wall + (step if t.wall > T0 + 9 else 0.0))
             for t in job_fires([2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22])]
    end = ev("window_end", T0 + 24)
    h = history(*window(24)[:-1], replace(end, wall=end.wall + step), created(), *fires)
    report = check_run(scenario(jobs=(EVERY2,), job=EXACTLY_ONCE), h)
    m = only(report)
    assert m.across.lost == Bound(0, 0) and m.across.duplicated == Bound(0, 0)
    assert m.verdict == "pass"
    assert [s.step_s for s in report.window.clock_steps] == [-0.9]


def test_class_12_correct_a_job_deleted_and_created_again() -> None:
    fires = job_fires([2, 4, 6]) + job_fires([12.5, 14.5, 16.5, 18.5, 20.5, 22.5])
    h = history(*window(24), created(), api_call("DELETE", 7),
                api_call("POST", 10.5, body={"schedule": "@every 2s"}), *fires)
    m = only(check_run(scenario(jobs=(EVERY2,), job=EXACTLY_ONCE), h))
    assert m.across.ticks == 9 and m.across.lost == Bound(0, 0)
    assert m.across.duplicated == Bound(0, 0) and m.verdict == "pass"


def test_class_12_correct_a_job_overwritten_with_a_new_schedule() -> None:
    fires = job_fires([2, 4, 6]) + job_fires([10, 13, 16, 19, 22])
    h = history(*window(24), created(), api_call("POST", 7, body={"schedule": "@every 3s",
                                                                   "overwrite": True}), *fires)
    m = only(check_run(scenario(jobs=(EVERY2,), job=EXACTLY_ONCE), h))
    assert m.across.ticks == 8 and m.across.lost == Bound(0, 0) and m.verdict == "pass"
