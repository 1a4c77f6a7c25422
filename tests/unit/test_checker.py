"""The delivery checker on histories built in code: tick models, both readings, verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import T0, ev, history, trig

from harness.check import (
    JOB_SUCCESS_METRIC,
    SCHEDULER_TRIGGERED_METRIC,
    Bound,
    CheckReport,
    MechanismResult,
    check_run,
    cross_check,
)
from harness.record.history import Event, History, load_history
from harness.scenario.model import BindingSpec, Expectation, JobSpec, Scenario

HISTORIES = Path(__file__).parent / "histories"


def window(end: float, start: float = T0, replicas: int = 3,
           ready: dict[int, float] | None = None) -> list[Event]:
    ready = ready or {}
    events = [ev("replica_ready", ready.get(r, start - 5), replica=r) for r in range(replicas)]
    return [*events, ev("window_start", start), ev("window_end", end)]


def created(name: str, sent: float = T0, status: int = 204, **spec: object) -> Event:
    return ev("job_created", sent + 0.05, name=name, spec=spec, sent_wall=sent, status=status)


def scenario(*, replicas: int = 3, jobs: tuple[JobSpec, ...] = (),
             bindings: tuple[BindingSpec, ...] = (), **expect: Expectation) -> Scenario:
    return Scenario(name="t", source=Path("t.yaml"), replicas=replicas, window_s=21, jobs=jobs,
                    bindings=bindings, expect=expect)


def check(h: History, s: Scenario) -> CheckReport:
    return check_run(s, h)


def only(report: CheckReport) -> MechanismResult:
    assert len(report.mechanisms) == 1
    return report.mechanisms[0]


EXACTLY_ONCE = Expectation(delivery="exactly_once")
PER_REPLICA = Expectation(delivery="once_per_replica")
EVERY2 = JobSpec(name="tick", schedule="@every 2s")


def job_every2(skip: tuple[int, ...] = (), extra: tuple[float, ...] = (), late: float = 0.05,
               end: float = T0 + 21) -> History:
    """Job '@every 2s' created at T0 (grid T0+2k): one trigger per tick, round robin."""
    triggers = [trig("job", "tick", k % 3, T0 + 2 * k + late) for k in range(1, 11) if k not in skip]
    triggers += [trig("job", "tick", 1, t) for t in extra]
    return history(*window(end), created("tick"), *triggers)


# --- jobs --------------------------------------------------------------------------------------


def test_job_exactly_once_across_three_replicas() -> None:
    m = only(check(job_every2(), scenario(jobs=(EVERY2,), job=EXACTLY_ONCE)))
    assert m.across.ticks == 10  # T0+2 .. T0+20, all before window_end = T0+21
    assert m.across.once == Bound(10, 10) and m.across.duplicated == Bound(0, 0)
    assert m.across.lost == Bound(0, 0) and not m.ambiguous
    assert m.triggers == 10 and m.triggers_per_tick == 1.0
    assert m.accounting.judged == 10 and m.accounting.total == 10
    assert m.per_replica == {0: 3, 1: 4, 2: 3}
    assert m.lateness_ms["p50"] == pytest.approx(50.0)
    assert m.early == 0 and m.retries == 0 and m.deliveries == 10 and m.attempts == 10
    # A job is delivered to one replica per tick, so the per-replica view shows losses.
    assert (m.per_replica_view.ticks, m.per_replica_view.lost.high) == (30, 20)
    assert m.verdict == "pass" and m.reasons == []
    assert (m.schedule, m.mechanism, m.replicas, m.window_s) == ("@every 2s", "job", 3, 21.0)


def test_job_duplicated_tick_fails() -> None:
    report = check(job_every2(extra=(T0 + 6.3,)), scenario(jobs=(EVERY2,), job=EXACTLY_ONCE))
    m = only(report)
    assert m.across.duplicated == Bound(1, 1) and m.across.once == Bound(9, 9)
    assert m.verdict == "fail" and not report.passed
    assert m.reasons == ["duplicated 1 ticks, allowed 0"]


def test_job_lost_tick_fails() -> None:
    m = only(check(job_every2(skip=(4,)), scenario(jobs=(EVERY2,), job=EXACTLY_ONCE)))
    assert m.across.lost == Bound(1, 1) and m.across.ticks == 10
    assert m.reasons == ["lost 1 ticks, allowed 0"]


def test_at_least_once_ignores_duplicates_but_not_losses() -> None:
    expect = Expectation(delivery="at_least_once")
    dup = only(check(job_every2(extra=(T0 + 6.3,)), scenario(jobs=(EVERY2,), job=expect)))
    assert dup.across.duplicated.high == 1 and dup.verdict == "pass"
    lost = only(check(job_every2(skip=(4,)), scenario(jobs=(EVERY2,), job=expect)))
    assert lost.verdict == "fail"


def test_job_early_trigger_fails() -> None:
    job = JobSpec(name="tick", schedule="@every 10s")
    h = history(*window(T0 + 29), created("tick"),
                trig("job", "tick", 0, T0 + 9.5),    # before its tick T0+10: early
                trig("job", "tick", 1, T0 + 20.01))  # just after T0+20: not early
    m = only(check(h, scenario(jobs=(job,), job=EXACTLY_ONCE)))
    assert m.early == 1
    # Kind reading: the early trigger delivered T0+10; strict: T0+10 was never delivered.
    assert m.across.lost == Bound(0, 1) and m.ambiguous
    assert "1 early attempts, allowed 0" in m.reasons and m.verdict == "fail"


def test_job_grid_starts_at_the_create_request() -> None:
    job = JobSpec(name="tick", schedule="@every 10s")
    h = history(*window(T0 + 21), created("tick"), trig("job", "tick", 0, T0 + 10.01),
                trig("job", "tick", 2, T0 + 20.01))
    m = only(check(h, scenario(jobs=(job,), job=EXACTLY_ONCE)))
    assert m.early == 0 and m.verdict == "pass"
    assert m.lateness_ms["max"] == pytest.approx(10.0)


def test_a_trigger_between_ticks_stands_for_the_tick_before_it() -> None:
    h = history(*window(T0 + 21), created("tick"), trig("job", "tick", 0, T0 + 3.0))
    m = only(check(h, scenario(jobs=(EVERY2,))))
    assert m.early == 0 and m.lateness_ms["max"] == pytest.approx(1000.0)
    assert m.across.once.high == 1 and m.across.lost == Bound(9, 9)


def test_ticks_after_job_deleted_are_not_expected() -> None:
    h = job_every2(skip=(6, 7, 8, 9, 10))
    h = History(triggers=h.triggers, events=h.events + (ev("job_deleted", T0 + 11.0, name="tick"),))
    m = only(check(h, scenario(jobs=(EVERY2,), job=EXACTLY_ONCE)))
    assert m.across.ticks == 5 and m.across.lost.high == 0 and m.verdict == "pass"


def test_refused_triggers_are_ignored() -> None:
    base = job_every2()
    refused = [trig("job", "tick", 2, T0 + 2 * k + 0.01, outcome="refused") for k in range(1, 10)]
    h = History(triggers=base.triggers + tuple(refused), events=base.events)
    m = only(check(h, scenario(jobs=(EVERY2,), job=Expectation(delivery="exactly_once", triggers=10))))
    assert m.triggers == 10 and m.across.duplicated.high == 0 and m.verdict == "pass"


def test_exact_trigger_total() -> None:
    m = only(check(job_every2(), scenario(jobs=(EVERY2,),
                                          job=Expectation(delivery="exactly_once", triggers=12))))
    assert m.reasons == ["10 triggers, expected exactly 12"]


def test_repeats_limit() -> None:
    job = JobSpec(name="tick", schedule="@every 2s", repeats=3)
    expect = Expectation(delivery="exactly_once", triggers=3)
    triggers = [trig("job", "tick", k % 3, T0 + 2 * k + 0.05) for k in (1, 2, 3)]
    h = history(*window(T0 + 21), created("tick"), *triggers)
    m = only(check(h, scenario(jobs=(job,), job=expect)))
    assert m.across.ticks == 3 and m.across.lost.high == 0 and m.verdict == "pass"
    # A fourth trigger where a fourth tick would be is a fire past the job's repeats: no tick
    # explains it (it used to be read as a duplicate of the third, which at_least_once allows).
    h4 = history(*window(T0 + 21), created("tick"), *triggers, trig("job", "tick", 0, T0 + 8.05))
    m4 = only(check(h4, scenario(jobs=(job,), job=EXACTLY_ONCE)))
    assert m4.across.ticks == 3 and m4.accounting.unexplained == 1 and m4.verdict == "fail"


@pytest.mark.parametrize("due", ["5s", "PT5S", "2025-11-24T16:00:05Z"])
def test_one_time_due_time_job(due: str) -> None:
    job = JobSpec(name="once", dueTime=due)
    h = history(*window(T0 + 21), created("once"), trig("job", "once", 1, T0 + 5.2))
    m = only(check(h, scenario(jobs=(job,), job=Expectation(delivery="exactly_once", triggers=1))))
    assert m.schedule == f"dueTime {due}"
    assert m.across.ticks == 1 and m.across.once.high == 1
    assert m.lateness_ms["p50"] == pytest.approx(200.0) and m.verdict == "pass"


def test_one_time_job_never_fired_is_lost() -> None:
    job = JobSpec(name="once", dueTime="2025-11-24T16:00:07Z")
    m = only(check(history(*window(T0 + 21), created("once")), scenario(jobs=(job,), job=EXACTLY_ONCE)))
    assert m.across.ticks == 1 and m.across.lost == Bound(1, 1) and m.verdict == "fail"
    assert m.lateness_ms == {"p50": None, "p90": None, "p99": None, "max": None}


@pytest.mark.parametrize("ttl", ["7s", "PT7S", "2025-11-24T16:00:07Z"])
def test_ttl_cutoff(ttl: str) -> None:
    job = JobSpec(name="tick", schedule="@every 2s", ttl=ttl)
    triggers = [trig("job", "tick", k % 3, T0 + 2 * k + 0.05) for k in (1, 2, 3)]
    m = only(check(history(*window(T0 + 21), created("tick"), *triggers),
                   scenario(jobs=(job,), job=EXACTLY_ONCE)))
    assert m.across.ticks == 3 and m.verdict == "pass"


def test_job_with_dueTime_and_schedule() -> None:
    job = JobSpec(name="tick", schedule="@every 5s", dueTime="3s")
    triggers = [trig("job", "tick", 0, T0 + t + 0.1) for t in (3, 8, 13, 18)]
    m = only(check(history(*window(T0 + 21), created("tick"), *triggers),
                   scenario(jobs=(job,), job=EXACTLY_ONCE)))
    assert m.across.ticks == 4 and m.across.once.high == 4 and m.verdict == "pass"


def test_job_not_created_fails() -> None:
    m = only(check(history(*window(T0 + 21), created("tick", status=500)),
                   scenario(jobs=(EVERY2,), job=EXACTLY_ONCE)))
    assert m.verdict == "fail" and m.across.ticks == 0
    assert any("was not created" in r for r in m.reasons)


def test_probe_jobs_are_not_checked() -> None:
    probe = JobSpec(name="bad", schedule="* * * * *", expect_status=500)
    report = check(job_every2(), scenario(jobs=(EVERY2, probe), job=EXACTLY_ONCE))
    assert [r.name for r in report.mechanisms] == ["tick"]


def test_min_ticks_window_too_short() -> None:
    expect = Expectation(delivery="exactly_once", min_ticks=20)
    m = only(check(job_every2(), scenario(jobs=(EVERY2,), job=expect)))
    assert m.reasons == ["window too short: 10 ticks judged, need at least 20"]


def test_no_expectation_is_not_applicable() -> None:
    report = check(job_every2(skip=(3,)), scenario(jobs=(EVERY2,)))
    m = only(report)
    assert m.verdict == "n/a" and m.across.lost.high == 1 and report.passed


def test_lateness_percentiles() -> None:
    triggers = [trig("job", "tick", 0, T0 + 2 * k + 0.01 * k) for k in range(1, 11)]  # 10..100 ms
    m = only(check(history(*window(T0 + 21), created("tick"), *triggers),
                   scenario(jobs=(EVERY2,), job=EXACTLY_ONCE)))
    assert m.across.ticks == 10
    assert m.lateness_ms["p50"] == pytest.approx(55.0, abs=1e-3)
    assert m.lateness_ms["p90"] == pytest.approx(91.0, abs=1e-3)
    assert m.lateness_ms["p99"] == pytest.approx(99.1, abs=1e-3)
    assert m.lateness_ms["max"] == pytest.approx(100.0, abs=1e-3)


def test_missing_window_is_an_error() -> None:
    with pytest.raises(ValueError, match="window_end"):
        check(history(ev("window_start", T0)), scenario(jobs=(EVERY2,)))


def test_a_trigger_of_an_unknown_task_fails_the_accounting() -> None:
    h = job_every2()
    h = History(triggers=h.triggers + (trig("job", "stranger", 0, T0 + 3),), events=h.events)
    report = check(h, scenario(jobs=(EVERY2,), job=EXACTLY_ONCE))
    accounting = report.checker("accounting")
    assert accounting is not None and accounting.verdict == "fail" and not report.passed
    assert "stranger" in accounting.reasons[0]


# --- the delivery model ----------------------------------------------------------------------


def failing(status: int, count: int, start: float = 2.0) -> History:
    attempts = [trig("job", "once", 0, T0 + start + i + 0.01) for i in range(count)]
    attempts = [t.__class__(**{**t.__dict__, "status": status,
                               "outcome": "ok" if status < 400 else "failed"}) for t in attempts]
    return history(*window(T0 + 21), created("once"), *attempts)


def test_retries_of_a_failed_tick_are_not_duplicates() -> None:
    job = JobSpec(name="once", dueTime="2s")
    m = only(check(failing(500, 4), scenario(jobs=(job,), job=EXACTLY_ONCE)))
    assert (m.attempts, m.deliveries, m.failed, m.retries) == (4, 0, 4, 3)
    assert m.across.duplicated == Bound(0, 0) and m.across.lost == Bound(0, 0)
    assert m.across.undelivered == 1


@pytest.mark.parametrize(("status", "delivered"), [(200, 1), (204, 1), (404, 1), (302, 0), (400, 0)])
def test_dapr_counts_2xx_and_404_as_done(status: int, delivered: int) -> None:
    job = JobSpec(name="once", dueTime="2s")
    m = only(check(failing(status, 1), scenario(jobs=(job,))))
    assert m.deliveries == delivered and m.failed == 1 - delivered


def test_a_delivery_after_a_retry_ends_the_tick() -> None:
    job = JobSpec(name="once", dueTime="2s")
    h = failing(500, 2)
    ok = trig("job", "once", 1, T0 + 4.02)
    m = only(check(History(triggers=h.triggers + (ok,), events=h.events), scenario(jobs=(job,))))
    assert (m.attempts, m.deliveries, m.retries) == (3, 1, 2) and m.across.once.high == 1


# --- bindings ----------------------------------------------------------------------------------

EVERY2_BINDING = BindingSpec(name="cron", schedule="@every 2s")


def binding_every2(silent: tuple[int, ...] = (), jitter: float = 0.005) -> History:
    """Three sidecars, each '@every 2s' from its own start (phases 0.3, 0.7, 1.1 s)."""
    triggers = [
        trig("binding", "cron", r, T0 + 0.3 + 0.4 * r + 2 * j + jitter * (j % 3))
        for r in range(3) if r not in silent for j in range(11)
    ]
    return history(*window(T0 + 21), *triggers)


def test_binding_every_out_of_phase_fires_on_every_replica() -> None:
    report = check(binding_every2(), scenario(bindings=(EVERY2_BINDING,), binding=PER_REPLICA))
    m = only(report)
    # A fire's lateness is its gap beyond D: the jitter, at most 5 ms (the chain's first fire
    # has no known origin and no lateness).
    assert m.early == 0 and m.lateness_ms["max"] == pytest.approx(5.0, abs=1e-3)
    assert m.per_replica_view.ticks == 32 and m.per_replica_view.once.high == 32
    assert m.per_replica_view.lost == Bound(0, 0)
    assert m.across.ticks == 11 and m.across.duplicated.high == 11
    assert m.triggers == 33 and m.accounting.judged == 32 and m.accounting.after_window == 1
    assert m.drift is not None and m.drift["per_tick_ms"] == pytest.approx(0.5, abs=0.01)  # the jitter
    assert m.verdict == "pass" and report.passed
    strict = only(check(binding_every2(), scenario(bindings=(EVERY2_BINDING,), binding=EXACTLY_ONCE)))
    assert strict.verdict == "fail" and strict.reasons == ["duplicated 11 ticks, allowed 0"]


def test_binding_every_drift_is_measured_per_tick_and_per_day() -> None:
    triggers = [trig("binding", "cron", 0, T0 + 0.3 + j * 2.001) for j in range(11)]
    m = only(check(history(*window(T0 + 21, replicas=1), *triggers),
                   scenario(replicas=1, bindings=(EVERY2_BINDING,), binding=PER_REPLICA)))
    assert m.drift is not None
    assert m.drift["per_tick_ms"] == pytest.approx(1.0, abs=1e-3)
    assert m.drift["per_day_s"] == pytest.approx(43.2, abs=0.01)


def test_binding_every_fire_less_than_a_period_after_the_previous_is_early() -> None:
    triggers = [trig("binding", "cron", 0, T0 + 0.3 + j * 2) for j in range(5)]
    triggers += [trig("binding", "cron", 0, T0 + 9.5)]  # 1.2 s after T0+8.3
    triggers += [trig("binding", "cron", 0, T0 + 9.5 + j * 2) for j in range(1, 6)]
    m = only(check(history(*window(T0 + 21, replicas=1), *triggers),
                   scenario(replicas=1, bindings=(EVERY2_BINDING,), binding=PER_REPLICA)))
    assert m.early == 1 and m.verdict == "fail"


def test_binding_replica_with_no_triggers() -> None:
    m = only(check(binding_every2(silent=(2,)), scenario(bindings=(EVERY2_BINDING,), binding=PER_REPLICA)))
    assert m.per_replica == {0: 11, 1: 11}
    assert m.lost_by_replica == {0: 0, 1: 0, 2: 10}
    assert m.reasons == ["lost 10 ticks, allowed 0 (per replica)"]


def test_binding_six_field_cron_grid_on_second_boundaries() -> None:
    binding = BindingSpec(name="cron", schedule="*/5 * * * * *")
    triggers = [trig("binding", "cron", r, T0 + t + 0.02 + 0.01 * r)
                for r in range(2) for t in (5, 10, 15, 20, 25, 30)]
    h = history(*window(T0 + 31, start=T0 + 1, replicas=2), *triggers)
    m = only(check(h, scenario(replicas=2, bindings=(binding,), binding=PER_REPLICA)))
    assert m.across.ticks == 6 and m.across.duplicated.high == 6 and m.triggers_per_tick == 2.0
    assert m.per_replica_view.ticks == 12 and m.per_replica_view.once.high == 12
    assert m.lateness_ms["p50"] == pytest.approx(25.0, abs=1e-3)
    assert m.lateness_ms["max"] == pytest.approx(30.0, abs=1e-3)
    assert m.verdict == "pass"


def test_binding_cron_overdue_fire_stands_for_the_tick_before_it() -> None:
    # dapr/kit cron fires an overdue entry once, at wake time: replica 1 woke at T0+14.9, so
    # that fire stands for T0+10 (late), and T0+15 is its own tick.
    binding = BindingSpec(name="cron", schedule="*/5 * * * * *")
    triggers = [trig("binding", "cron", 0, T0 + t + 0.02) for t in (5, 10, 15, 20, 25)]
    triggers += [trig("binding", "cron", 1, T0 + t) for t in (5.02, 14.9, 15.02, 20.02, 25.02)]
    h = history(*window(T0 + 28, start=T0 + 1, replicas=2), *triggers)
    m = only(check(h, scenario(replicas=2, bindings=(binding,), binding=PER_REPLICA)))
    assert m.early == 0 and m.per_replica_view.duplicated == Bound(0, 0)
    assert m.per_replica_view.lost == Bound(0, 0) and m.lateness_ms["max"] == pytest.approx(4900.0)


def test_binding_cron_silent_replica_loses_all_ticks() -> None:
    binding = BindingSpec(name="cron", schedule="*/5 * * * * *")
    triggers = [trig("binding", "cron", 0, T0 + t + 0.02) for t in (5, 10, 15, 20, 25)]
    h = history(*window(T0 + 28, start=T0 + 1, replicas=2), *triggers)
    m = only(check(h, scenario(replicas=2, bindings=(binding,), binding=PER_REPLICA)))
    assert m.per_replica_view.lost.high == 5 and m.across.once.high == 5
    assert m.verdict == "fail"


def test_job_and_binding_together() -> None:
    h = History(triggers=job_every2().triggers + binding_every2().triggers,
                events=job_every2().events)
    report = check(h, scenario(jobs=(EVERY2,), bindings=(EVERY2_BINDING,), job=EXACTLY_ONCE,
                               binding=EXACTLY_ONCE))
    assert {(r.mechanism, r.verdict) for r in report.mechanisms} == {("job", "pass"), ("binding", "fail")}
    assert report.passed is False and report.verdict == "fail"


# --- recorded fixtures -------------------------------------------------------------------------


def test_fixture_job_history() -> None:
    h = load_history(HISTORIES / "job_every2s_3replicas.jsonl")
    m = only(check(h, scenario(jobs=(EVERY2,), job=EXACTLY_ONCE)))
    assert m.triggers == 9  # a refused request is not a trigger
    assert m.accounting.total == m.triggers
    assert m.across.lost.high >= 1 and m.verdict == "fail"


def test_fixture_binding_history() -> None:
    h = load_history(HISTORIES / "binding_every2s_3replicas.jsonl")
    binding = BindingSpec(name="cron", schedule="@every 2s")
    m = only(check(h, scenario(bindings=(binding,), binding=PER_REPLICA)))
    assert m.per_replica_view.lost == Bound(0, 0) and m.per_replica_view.duplicated == Bound(0, 0)
    assert m.accounting.total == m.triggers and m.verdict == "pass"


# --- metrics cross-check -----------------------------------------------------------------------


def test_cross_check() -> None:
    counts = {"a": 4, "b": 6}
    assert cross_check(counts, {JOB_SUCCESS_METRIC: 10.0, SCHEDULER_TRIGGERED_METRIC: 10.0}) == []
    assert cross_check(counts, {}) == []
    problems = cross_check(counts, {JOB_SUCCESS_METRIC: 10.0, SCHEDULER_TRIGGERED_METRIC: 12.0})
    assert len(problems) == 1 and SCHEDULER_TRIGGERED_METRIC in problems[0] and "10" in problems[0]


def test_the_benchmarks_synthetic_history_is_clean() -> None:
    from harness.bench.checker import synthetic_history

    scenario, synthetic = synthetic_history(600)
    report = check(synthetic, scenario)
    assert report.passed and sum(m.accounting.total for m in report.mechanisms) == 600


def test_an_every_chain_restarts_its_phase_after_an_overdue_fire() -> None:
    """dapr/kit sets next = wake + D: after a stall of 21.3 s the chain counts from the late
    fire, so the fires after it are not early; the late fire stands for the tick 20 s on (1.3 s
    late, under three quarters of a period), so 9 ticks were lost (it used to read 10)."""
    walls = [T0 + 0.3 + 2 * j for j in range(4)]
    walls += [walls[-1] + 21.3 + 2 * j for j in range(6)]
    triggers = [trig("binding", "cron", 0, w) for w in walls]
    m = only(check(history(*window(T0 + 40, replicas=1), *triggers),
                   scenario(replicas=1, bindings=(EVERY2_BINDING,))))
    assert m.early == 0 and m.per_replica_view.lost.high == 9
