"""Faults on the timeline: stalls, replays, retries and the promises, on built and recorded
histories."""

from __future__ import annotations

import json
from pathlib import Path

from builders import T0, ev, history, trig

from harness.check import Bound, CheckReport, MechanismResult, check_run, window_of
from harness.record.history import Event, History, Trigger, load_history
from harness.scenario.model import BindingSpec, Expectation, FaultSpec, JobSpec, Scenario

HISTORIES = Path(__file__).parent / "histories"
JOB = JobSpec(name="j", schedule="@every 2s")
CRON = BindingSpec(name="c", schedule="*/2 * * * * *")


def base(end_s: float = 24.0, replicas: int = 3) -> list[Event]:
    ready = [ev("replica_ready", T0 - 5, replica=r) for r in range(replicas)]
    return [*ready, ev("window_start", T0), ev("window_end", T0 + end_s),
            ev("job_created", T0 + 0.05, name="j", spec={}, sent_wall=T0, status=204)]


def fault(kind: str, start_s: float, end_s: float, recovered_s: float | None = None,
          **where: int) -> list[Event]:
    attrs = {"fault": kind, "target": "x", **where}
    events = [ev("fault_start", T0 + start_s, **attrs), ev("fault_end", T0 + end_s, **attrs)]
    if recovered_s is not None:
        events.append(ev("fault_recovered", T0 + recovered_s, **attrs, seconds=recovered_s - end_s))
    return events


def job_ticks(times_s: list[float], replica: int = 0, delay: float = 0.004) -> list[Trigger]:
    return [trig("job", "j", replica, T0 + t + delay) for t in times_s]


def scenario(*faults: FaultSpec, jobs: tuple[JobSpec, ...] = (JOB,),
             bindings: tuple[BindingSpec, ...] = (), **expect: Expectation) -> Scenario:
    return Scenario(name="f", source=Path("f.yaml"), replicas=3, window_s=24, jobs=jobs,
                    bindings=bindings, faults=faults, expect=expect)


def result(report: CheckReport, mechanism: str = "job") -> MechanismResult:
    (entry,) = [m for m in report.mechanisms if m.mechanism == mechanism]
    return entry


KILL_SCHEDULER = FaultSpec(kind="kill_scheduler", at_s=7)
ON_TIME = [2, 4, 6, 18, 20, 22]  # the job's ticks in the window, but for the outage
OWED = [8, 10, 12, 14, 16]


def replay_history(fault_kind: str = "kill_scheduler") -> History:
    """The scheduler down from 7 s; at 17.3 s it fires the five ticks it owes, back-to-back."""
    replay = [trig("job", "j", i % 3, T0 + 17.3 + 0.004 * i) for i in range(len(OWED))]
    faults = fault(fault_kind, 7, 7.1, 17.2, member=0) if fault_kind else []
    return history(*base(), *faults, *job_ticks(ON_TIME), *replay)


# --- jobs --------------------------------------------------------------------------------------


def test_replayed_ticks_after_a_scheduler_outage_are_late_not_lost_nor_duplicated() -> None:
    report = check_run(scenario(KILL_SCHEDULER, job=Expectation(delivery="at_least_once")),
                       replay_history())
    m = result(report)
    assert m.across.ticks == 11 and m.across.lost == Bound(0, 0)
    assert m.across.duplicated == Bound(0, 0) and not m.ambiguous
    assert m.late == 5 and m.replayed == 5
    assert m.lateness_ms["max"] == 9300.0  # tick 8 delivered at 17.3
    assert report.passed and report.checker("promises").verdict == "pass"  # type: ignore[union-attr]


def test_the_same_burst_without_a_fault_is_ambiguous() -> None:
    """No stall explains a replay: the history reads as late ticks or as lost plus duplicated,
    so both bounds are reported and the verdict does not take the kinder one."""
    m = result(check_run(scenario(job=Expectation(delivery="at_least_once")), replay_history("")))
    assert m.across.lost == Bound(0, 4) and m.ambiguous
    assert m.verdict == "ambiguous" and "ambiguous" in m.reasons[0]


def test_replay_ticks_fall_in_the_recovering_phase() -> None:
    phases = result(check_run(scenario(KILL_SCHEDULER), replay_history())).phases
    assert phases["before"]["ticks"] == 3  # 2, 4, 6
    assert phases["during"]["ticks"] == 0  # the kill and restart took 0.1 s
    assert phases["recovering"] == {"ticks": 5, "delivered": 5, "lost": 0, "duplicated": 0,
                                    "replayed": 5}
    assert phases["after"]["ticks"] == 3 and phases["after"]["replayed"] == 0


def test_a_tick_never_delivered_is_lost_and_violates_at_least_once() -> None:
    h = history(*base(), *fault("kill_daprd", 7, 9, replica=1),
                *job_ticks([2, 4, 6, 10, 12, 14, 16, 18, 20, 22]))
    report = check_run(scenario(FaultSpec(kind="kill_daprd", at_s=7, duration_s=2, replica=1)), h)
    m = result(report)
    # Inside the stall the kind reading may shift every later delivery by one tick; the last
    # tick is lost under either reading.
    assert m.across.lost == Bound(1, 1) and m.phases["during"]["lost"] + m.phases["after"]["lost"] == 1
    assert report.checker("promises").verdict == "fail"  # type: ignore[union-attr]


def test_a_tick_delivered_twice_is_a_duplicate_that_at_least_once_allows() -> None:
    again = trig("job", "j", 2, T0 + 10.9)  # tick 10 delivered a second time, before tick 12
    h = history(*base(), *fault("kill_app", 9, 11, replica=1), *job_ticks([2, 4, 6, 8, 10]),
                again, *job_ticks([12, 14, 16, 18, 20, 22], replica=1))
    kill = FaultSpec(kind="kill_app", at_s=9, duration_s=2, replica=1)
    m = result(check_run(scenario(kill), h))
    assert m.across.lost == Bound(0, 0) and m.across.duplicated == Bound(1, 1)
    assert m.phases["during"]["duplicated"] == 1
    assert check_run(scenario(kill, job=Expectation(delivery="at_least_once")), h).passed
    capped = result(check_run(scenario(kill, job=Expectation(delivery="at_least_once",
                                                               max_duplicated=0)), h))
    assert capped.reasons == ["duplicated 1 ticks, allowed 0"]


def test_a_failed_attempt_is_not_a_delivery_and_its_retry_is_not_a_duplicate() -> None:
    failed = trig("job", "j", 1, T0 + 8.004, outcome="failed")
    retried = trig("job", "j", 2, T0 + 9.01)
    h = history(*base(), *fault("app_failing", 7, 9.5, replica=1),
                *job_ticks([2, 4, 6, 10, 12, 14, 16, 18, 20, 22]), failed, retried)
    m = result(check_run(scenario(FaultSpec(kind="app_failing", at_s=7, duration_s=2.5, replica=1)), h))
    assert (m.failed, m.retries, m.deliveries) == (1, 1, 11)
    assert m.across.lost == Bound(0, 0) and m.across.duplicated == Bound(0, 0)


def test_a_trigger_before_its_tick_with_nothing_owed_is_early() -> None:
    h = history(*base(), *job_ticks([2, 4, 6, 8, 12, 14, 16, 18, 20, 22]),
                trig("job", "j", 0, T0 + 9.7))  # 0.3 s before tick 10, no fault
    m = result(check_run(scenario(job=Expectation(delivery="at_least_once")), h))
    # Kind reading: tick 10 delivered early; strict: tick 8 twice (the second nearer tick 10:
    # maybe tick 10 early) and tick 10 lost. Every reading breaks at_least_once (early under
    # one, lost under the other), so the run fails; it used to read as ambiguous.
    assert (m.early, m.early_low) == (1, 1) and m.across.lost == Bound(0, 1)
    assert m.verdict == "fail"


def test_inside_a_stall_a_trigger_just_before_a_tick_is_a_held_duplicate_not_early() -> None:
    """A stalled Scheduler releases held triggers late, never early: the kind reading takes
    the trigger that arrives 0.3 s before tick 10 after a daprd kill as tick 8 again (tick 10
    lost); a stalled Scheduler releases held triggers late, never early, so neither reading
    counts it early, and the strict reading's lost tick 10 keeps the promise from passing."""
    h = history(*base(), *fault("kill_daprd", 7, 9, replica=1),
                *job_ticks([2, 4, 6, 8, 12, 14, 16, 18, 20, 22]),
                trig("job", "j", 0, T0 + 9.7))
    report = check_run(scenario(FaultSpec(kind="kill_daprd", at_s=7, duration_s=2, replica=1)), h)
    m = result(report)
    assert (m.early_low, m.early) == (0, 0)
    assert m.across.duplicated == Bound(1, 1) and m.across.lost.high == 1
    promises = report.checker("promises")
    assert promises is not None and promises.verdict != "pass"


def test_a_held_trigger_released_before_the_next_tick_stands_for_the_tick_still_owed() -> None:
    h = history(*base(), *fault("pause_replica", 7, 11.9, replica=1),
                *job_ticks([2, 4, 6, 12, 14, 16, 18, 20, 22]),
                trig("job", "j", 1, T0 + 11.95), trig("job", "j", 1, T0 + 11.96))
    m = result(check_run(scenario(FaultSpec(kind="pause_replica", at_s=7, duration_s=4.9,
                                            replica=1)), h))
    assert (m.early, m.across.lost, m.across.duplicated) == (0, Bound(0, 0), Bound(0, 0))
    assert m.late == 2 and m.replayed == 2 and m.lateness_ms["max"] == 3950.0


# --- bindings ----------------------------------------------------------------------------------


def cron(replicas: dict[int, list[float]]) -> list[Trigger]:
    return [trig("binding", "c", r, T0 + t + 0.003) for r, times in replicas.items() for t in times]


EVEN = [float(t) for t in range(0, 23, 2)]  # the binding's ticks in the window (0 .. 22)


def test_binding_ticks_lost_on_the_faulted_replica_are_allowed_and_attributed() -> None:
    down = [t for t in EVEN if not 8 <= t <= 10]
    h = history(*base(), *fault("kill_daprd", 7.5, 11, 11.05, replica=1),
                *job_ticks(EVEN[1:]), *cron({0: EVEN, 1: down, 2: EVEN}))
    report = check_run(scenario(FaultSpec(kind="kill_daprd", at_s=7.5, duration_s=3.5, replica=1),
                                bindings=(CRON,)), h)
    m = result(report, "binding")
    assert m.view == "per replica" and m.per_replica_view.ticks == 3 * 12
    assert m.lost_by_replica == {0: 0, 1: 2, 2: 0}
    assert m.lost_at_s == [[1, 8.0], [1, 10.0]]
    assert report.checker("promises").verdict == "pass"  # type: ignore[union-attr]


def test_binding_loss_elsewhere_or_a_double_fire_violates_the_promise() -> None:
    h = history(*base(), *fault("kill_daprd", 7.5, 11, replica=1), *job_ticks(EVEN[1:]),
                *cron({0: [t for t in EVEN if t != 16], 1: EVEN, 2: [*EVEN, 4.05]}))
    report = check_run(scenario(FaultSpec(kind="kill_daprd", at_s=7.5, duration_s=3.5, replica=1),
                                bindings=(CRON,)), h)
    promises = report.checker("promises")
    assert promises is not None and promises.verdict == "fail"
    assert promises.reasons == ["c: lost on replica 0 at 16.0 s, outside a fault that may cost it work",
                                "c: 1 tick(s) fired more than once on one replica"]


def test_a_scaled_in_replica_owes_no_binding_ticks_after_it_stopped() -> None:
    h = history(*base(), *fault("scale_in", 8, 8.5, replica=2),
                ev("replica_stopped", T0 + 8.4, replica=2), *job_ticks(EVEN[1:]),
                *cron({0: EVEN, 1: EVEN, 2: [t for t in EVEN if t <= 8]}))
    s = scenario(FaultSpec(kind="scale_in", at_s=8, replica=2), bindings=(CRON,),
                 binding=Expectation(delivery="once_per_replica", max_lost=0))
    m = result(check_run(s, h), "binding")
    assert m.per_replica_view.lost == Bound(0, 0) and m.per_replica_view.ticks == 12 + 12 + 5
    assert m.verdict == "pass"


# --- the faults themselves ---------------------------------------------------------------------


def test_fault_windows_pair_start_end_and_recovery() -> None:
    h = history(*base(), *fault("stop_scheduler", 8, 14.2, 15.5, member=0),
                *fault("kill_daprd", 16, 17, replica=1))
    first, second = window_of(h).faults
    assert (first.kind, first.member, first.start, first.end, first.recovered) == (
        "stop_scheduler", 0, T0 + 8, T0 + 14.2, T0 + 15.5)
    assert (second.kind, second.replica, second.recovered) == ("kill_daprd", 1, None)
    assert first.to_dict(T0)["recovery_s"] == 1.3 and second.to_dict(T0)["recovery_s"] is None


# --- recorded runs on Dapr 1.18.3 --------------------------------------------------------------


def recorded(stem: str) -> tuple[History, Scenario]:
    scenario_json = json.loads((HISTORIES / f"{stem}.scenario.json").read_text())
    return load_history(HISTORIES / f"{stem}.jsonl"), Scenario.model_validate(scenario_json)


def test_recorded_scheduler_kill_replays_every_owed_tick_after_about_20_s() -> None:
    h, s = recorded("fault_kill_scheduler")
    report = check_run(s, h)
    (kill,) = report.window.faults
    assert kill.kind == "kill_scheduler" and kill.recovered is not None
    assert 18 < kill.recovered - kill.end < 30
    jobs = [m for m in report.mechanisms if m.mechanism == "job"]
    assert len(jobs) == 9
    for m in jobs:
        assert m.across.lost == Bound(0, 0) and m.across.duplicated == Bound(0, 0), m
        assert m.replayed >= 9, m  # every tick of the ~20 s outage
    binding = result(report, "binding")
    assert binding.per_replica_view.lost == Bound(0, 0) and binding.late == 0
    assert report.passed


def test_recorded_pause_holds_the_paused_sidecars_jobs_until_it_resumes() -> None:
    h, s = recorded("fault_pause_replica")
    report = check_run(s, h)
    jobs = [m for m in report.mechanisms if m.mechanism == "job"]
    held = [m for m in jobs if m.late]
    assert held and len(held) < len(jobs)  # only the jobs sent to the paused sidecar
    assert all(m.across.lost == Bound(0, 0) for m in jobs)
    assert all(3000 < (m.lateness_ms["max"] or 0) < 4500 for m in held)
    binding = result(report, "binding")
    assert binding.lost_by_replica is not None and binding.lost_by_replica[1] >= 1
    assert binding.lost_by_replica[0] == binding.lost_by_replica[2] == 0
    # The paused sidecar's overdue cron entry fired once at wake: late, not early.
    assert binding.early == 0 and binding.per_replica_view.duplicated == Bound(0, 0)
    assert report.passed
