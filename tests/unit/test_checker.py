"""The checker's tick model and verdicts, on histories built in code; no Dapr needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from builders import T0, ev, history, trig

from harness.check.checker import (
    JOB_SUCCESS_METRIC,
    SCHEDULER_TRIGGERED_METRIC,
    check,
    cross_check,
)
from harness.run.history import Event, History, load_history
from harness.scenario.model import BindingSpec, Expectation, JobSpec, Scenario

HISTORIES = Path(__file__).parent / "histories"


# --- builders ----------------------------------------------------------------------------------


def window(end: float, start: float = T0, replicas: int = 3,
           ready: dict[int, float] | None = None) -> list[Event]:
    ready = ready or {}
    events = [ev("replica_ready", ready.get(r, start - 5), replica=r) for r in range(replicas)]
    return [*events, ev("window_start", start), ev("window_end", end)]


def created(name: str, sent: float = T0, status: int = 204) -> Event:
    return ev("job_created", sent + 0.05, name=name, spec={}, sent_wall=sent, status=status)


def scenario(*, replicas: int = 3, jobs: tuple[JobSpec, ...] = (),
             bindings: tuple[BindingSpec, ...] = (), **expect: Expectation) -> Scenario:
    return Scenario(name="t", source=Path("t.yaml"), replicas=replicas, window_s=21, jobs=jobs,
                    bindings=bindings, expect=expect)


def only(result: Any) -> dict[str, Any]:
    assert len(result.results) == 1
    return result.results[0].to_dict()


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
    d = only(check(job_every2(), scenario(jobs=(EVERY2,), job=EXACTLY_ONCE)))
    # Ticks T0+2..T0+18 are expected (T0+20 > window_end - grace = T0+19.5).
    assert d["ticks_expected"] == 9
    assert d["exactly_once_ticks"] == 9 and d["duplicated_ticks"] == 0 and d["lost_ticks"] == 0
    assert d["triggers"] == 10  # the T0+20 trigger counts, outside tick stats
    assert d["triggers_per_tick"] == 1.0
    assert d["per_replica"] == {"0": 3, "1": 4, "2": 3}
    assert d["lateness_ms"]["p50"] == pytest.approx(50.0)
    assert d["early_triggers"] == 0 and d["phase_estimated"] is False
    # A job is delivered to one replica per tick, so the per-replica view shows losses.
    assert d["per_replica_view"] == {"ticks_expected": 27, "once": 9, "duplicated": 0, "lost": 18}
    assert d["verdict"] == "pass" and d["reasons"] == []
    assert d["schedule"] == "@every 2s" and d["mechanism"] == "job" and d["replicas"] == 3
    assert d["window_s"] == 21.0 and d["delivery_expected"] == "exactly_once"


def test_job_duplicated_tick_fails() -> None:
    result = check(job_every2(extra=(T0 + 6.3,)), scenario(jobs=(EVERY2,), job=EXACTLY_ONCE))
    d = only(result)
    assert d["duplicated_ticks"] == 1 and d["exactly_once_ticks"] == 8
    assert d["verdict"] == "fail" and not result.passed
    assert d["reasons"] == ["duplicated 1 ticks, allowed 0"]


def test_job_lost_tick_fails() -> None:
    d = only(check(job_every2(skip=(4,)), scenario(jobs=(EVERY2,), job=EXACTLY_ONCE)))
    assert d["lost_ticks"] == 1 and d["ticks_expected"] == 9
    assert d["reasons"] == ["lost 1 ticks, allowed 0"]


def test_at_least_once_ignores_duplicates_but_not_losses() -> None:
    expect = Expectation(delivery="at_least_once")
    dup = only(check(job_every2(extra=(T0 + 6.3,)), scenario(jobs=(EVERY2,), job=expect)))
    assert dup["duplicated_ticks"] == 1 and dup["verdict"] == "pass"
    lost = only(check(job_every2(skip=(4,)), scenario(jobs=(EVERY2,), job=expect)))
    assert lost["verdict"] == "fail"


def test_job_early_trigger_fails() -> None:
    job = JobSpec(name="tick", schedule="@every 10s")
    h = history(*window(T0 + 31), created("tick"),
                trig("job", "tick", 0, T0 + 9.5),    # before its tick T0+10: early
                trig("job", "tick", 1, T0 + 20.01))  # just after T0+20: not early
    d = only(check(h, scenario(jobs=(job,), job=EXACTLY_ONCE)))
    assert d["early_triggers"] == 1
    assert d["exactly_once_ticks"] == 2
    assert "1 early triggers, allowed 0" in d["reasons"]


def test_job_grid_starts_at_creation_truncated_to_the_second() -> None:
    # Sent at T0+0.3; the scheduler truncates its creation time to T0, so the first tick is at
    # T0+10 (not T0+10.3) and a trigger at T0+10.01 is on time, 10 ms late.
    job = JobSpec(name="tick", schedule="@every 10s")
    h = history(*window(T0 + 21), created("tick"), trig("job", "tick", 0, T0 + 10.01),
                trig("job", "tick", 2, T0 + 20.01))
    d = only(check(h, scenario(jobs=(job,), job=EXACTLY_ONCE)))
    assert d["early_triggers"] == 0 and d["verdict"] == "pass"
    assert d["lateness_ms"]["max"] == pytest.approx(10.0)


def test_tie_goes_to_the_earlier_tick() -> None:
    # T0+3 is exactly between ticks T0+2 and T0+4: it is a late T0+2 trigger, not an early one.
    h = history(*window(T0 + 21), created("tick"), trig("job", "tick", 0, T0 + 3.0))
    d = only(check(h, scenario(jobs=(EVERY2,))))
    assert d["early_triggers"] == 0 and d["lateness_ms"]["max"] == pytest.approx(1000.0)
    assert d["exactly_once_ticks"] == 1 and d["lost_ticks"] == 8


def test_ticks_after_job_deleted_are_not_expected() -> None:
    h = job_every2(skip=(6, 7, 8, 9, 10))
    h = History(triggers=h.triggers, events=h.events + (ev("job_deleted", T0 + 11.0, name="tick"),))
    d = only(check(h, scenario(jobs=(EVERY2,), job=EXACTLY_ONCE)))
    assert d["ticks_expected"] == 5 and d["lost_ticks"] == 0 and d["verdict"] == "pass"


def test_refused_triggers_are_ignored() -> None:
    base = job_every2()
    refused = [trig("job", "tick", 2, T0 + 2 * k + 0.01, outcome="refused") for k in range(1, 10)]
    h = History(triggers=base.triggers + tuple(refused), events=base.events)
    d = only(check(h, scenario(jobs=(EVERY2,), job=Expectation(delivery="exactly_once", triggers=10))))
    assert d["triggers"] == 10 and d["duplicated_ticks"] == 0 and d["verdict"] == "pass"


def test_exact_trigger_total() -> None:
    d = only(check(job_every2(), scenario(jobs=(EVERY2,),
                                          job=Expectation(delivery="exactly_once", triggers=12))))
    assert d["reasons"] == ["10 triggers, expected exactly 12"]


def test_repeats_limit() -> None:
    job = JobSpec(name="tick", schedule="@every 2s", repeats=3)
    expect = Expectation(delivery="exactly_once", triggers=3)
    triggers = [trig("job", "tick", k % 3, T0 + 2 * k + 0.05) for k in (1, 2, 3)]
    h = history(*window(T0 + 21), created("tick"), *triggers)
    d = only(check(h, scenario(jobs=(job,), job=expect)))
    assert d["ticks_expected"] == 3 and d["lost_ticks"] == 0 and d["verdict"] == "pass"
    # A fourth trigger has no tick of its own: it lands on the last one, a duplicate.
    h4 = history(*window(T0 + 21), created("tick"), *triggers, trig("job", "tick", 0, T0 + 8.05))
    d4 = only(check(h4, scenario(jobs=(job,), job=EXACTLY_ONCE)))
    assert d4["ticks_expected"] == 3 and d4["duplicated_ticks"] == 1 and d4["verdict"] == "fail"


@pytest.mark.parametrize("due", ["5s", "PT5S", "2025-11-24T16:00:05Z"])
def test_one_time_due_time_job(due: str) -> None:
    job = JobSpec(name="once", dueTime=due)
    h = history(*window(T0 + 21), created("once"), trig("job", "once", 1, T0 + 5.2))
    d = only(check(h, scenario(jobs=(job,), job=Expectation(delivery="exactly_once", triggers=1))))
    assert d["schedule"] == f"dueTime {due}"
    assert d["ticks_expected"] == 1 and d["exactly_once_ticks"] == 1
    assert d["lateness_ms"]["p50"] == pytest.approx(200.0)
    assert d["verdict"] == "pass"


def test_one_time_job_never_fired_is_lost() -> None:
    job = JobSpec(name="once", dueTime="2025-11-24T16:00:07Z")
    h = history(*window(T0 + 21), created("once"))
    d = only(check(h, scenario(jobs=(job,), job=EXACTLY_ONCE)))
    assert d["ticks_expected"] == 1 and d["lost_ticks"] == 1 and d["verdict"] == "fail"
    assert d["lateness_ms"] == {"p50": None, "p90": None, "p99": None, "max": None}


@pytest.mark.parametrize("ttl", ["7s", "PT7S", "2025-11-24T16:00:07Z"])
def test_ttl_cutoff(ttl: str) -> None:
    job = JobSpec(name="tick", schedule="@every 2s", ttl=ttl)
    triggers = [trig("job", "tick", k % 3, T0 + 2 * k + 0.05) for k in (1, 2, 3)]
    d = only(check(history(*window(T0 + 21), created("tick"), *triggers),
                   scenario(jobs=(job,), job=EXACTLY_ONCE)))
    assert d["ticks_expected"] == 3 and d["verdict"] == "pass"


def test_job_with_dueTime_and_schedule() -> None:
    job = JobSpec(name="tick", schedule="@every 5s", dueTime="3s")
    triggers = [trig("job", "tick", 0, T0 + t + 0.1) for t in (3, 8, 13, 18)]
    d = only(check(history(*window(T0 + 21), created("tick"), *triggers),
                   scenario(jobs=(job,), job=EXACTLY_ONCE)))
    assert d["ticks_expected"] == 4 and d["exactly_once_ticks"] == 4 and d["verdict"] == "pass"


def test_job_not_created_fails() -> None:
    h = history(*window(T0 + 21), created("tick", status=500))
    d = only(check(h, scenario(jobs=(EVERY2,), job=EXACTLY_ONCE)))
    assert d["verdict"] == "fail" and d["ticks_expected"] == 0
    assert any("was not created" in r for r in d["reasons"])


def test_probe_jobs_are_not_checked() -> None:
    probe = JobSpec(name="bad", schedule="* * * * *", expect_status=500)
    result = check(job_every2(), scenario(jobs=(EVERY2, probe), job=EXACTLY_ONCE))
    assert [r.name for r in result.results] == ["tick"]


def test_min_ticks_window_too_short() -> None:
    expect = Expectation(delivery="exactly_once", min_ticks=20)
    d = only(check(job_every2(), scenario(jobs=(EVERY2,), job=expect)))
    assert d["reasons"] == ["window too short: 9 ticks expected, need at least 20"]


def test_no_expectation_is_not_applicable() -> None:
    result = check(job_every2(skip=(3,)), scenario(jobs=(EVERY2,)))
    d = only(result)
    assert d["verdict"] == "n/a" and d["lost_ticks"] == 1 and result.passed


def test_lateness_percentiles() -> None:
    job = JobSpec(name="tick", schedule="@every 2s")
    triggers = [trig("job", "tick", 0, T0 + 2 * k + 0.01 * k) for k in range(1, 11)]  # 10..100 ms
    h = history(*window(T0 + 22), created("tick"), *triggers)
    d = only(check(h, scenario(jobs=(job,), job=EXACTLY_ONCE)))
    assert d["ticks_expected"] == 10
    lat = d["lateness_ms"]
    assert lat["p50"] == pytest.approx(55.0, abs=1e-3)
    assert lat["p90"] == pytest.approx(91.0, abs=1e-3)
    assert lat["p99"] == pytest.approx(99.1, abs=1e-3)
    assert lat["max"] == pytest.approx(100.0, abs=1e-3)


def test_missing_window_is_an_error() -> None:
    with pytest.raises(ValueError, match="window_end"):
        check(history(ev("window_start", T0)), scenario(jobs=(EVERY2,)))


# --- bindings ----------------------------------------------------------------------------------

EVERY2_BINDING = BindingSpec(name="cron", schedule="@every 2s")


def binding_every2(silent: tuple[int, ...] = ()) -> History:
    """Three sidecars, each '@every 2s' from its own start (phases 0.3, 0.7, 1.1 s)."""
    triggers = [
        trig("binding", "cron", r, T0 + 0.3 + 0.4 * r + 2 * j + 0.005 * (j % 3))
        for r in range(3) if r not in silent for j in range(11)
    ]
    return history(*window(T0 + 21), *triggers)


def test_binding_every_out_of_phase_fires_on_every_replica() -> None:
    sc = scenario(bindings=(EVERY2_BINDING,), binding=PER_REPLICA)
    result = check(binding_every2(), sc)
    d = only(result)
    assert d["phase_estimated"] is True and d["early_triggers"] == 0
    assert d["ticks_expected"] == 10
    assert d["duplicated_ticks"] == 10 and d["exactly_once_ticks"] == 0 and d["lost_ticks"] == 0
    assert d["triggers_per_tick"] == 3.0 and d["triggers"] == 33
    assert d["per_replica_view"] == {"ticks_expected": 30, "once": 30, "duplicated": 0, "lost": 0}
    assert d["lateness_ms"]["p50"] >= 0.0 and d["lateness_ms"]["max"] == pytest.approx(10.0, abs=1e-3)
    assert d["verdict"] == "pass" and result.passed
    strict = only(check(binding_every2(), scenario(bindings=(EVERY2_BINDING,), binding=EXACTLY_ONCE)))
    assert strict["verdict"] == "fail" and strict["reasons"] == ["duplicated 10 ticks, allowed 0"]


def test_binding_replica_with_no_triggers() -> None:
    sc = scenario(bindings=(EVERY2_BINDING,), binding=PER_REPLICA)
    d = only(check(binding_every2(silent=(2,)), sc))
    assert d["per_replica"] == {"0": 11, "1": 11, "2": 0}
    # Silent replica: floor((19.5 - 0) / 2) = 9 ticks certainly lost.
    assert d["per_replica_view"] == {"ticks_expected": 29, "once": 20, "duplicated": 0, "lost": 9}
    assert d["lost_ticks"] == 0 and d["duplicated_ticks"] == 10  # replicas 0 and 1 cover every k
    assert d["reasons"] == ["lost 9 ticks, allowed 0 (per replica)"]


def test_binding_six_field_cron_grid_on_second_boundaries() -> None:
    binding = BindingSpec(name="cron", schedule="*/5 * * * * *")
    triggers = [trig("binding", "cron", r, T0 + t + 0.02 + 0.01 * r)
                for r in range(2) for t in (5, 10, 15, 20, 25, 30)]
    h = history(*window(T0 + 31, start=T0 + 1, replicas=2), *triggers)
    d = only(check(h, scenario(replicas=2, bindings=(binding,), binding=PER_REPLICA)))
    assert d["phase_estimated"] is False
    assert d["ticks_expected"] == 5  # T0+5 .. T0+25 (T0+30 > T0+29.5)
    assert d["duplicated_ticks"] == 5 and d["triggers_per_tick"] == 2.0
    assert d["per_replica_view"] == {"ticks_expected": 10, "once": 10, "duplicated": 0, "lost": 0}
    assert d["lateness_ms"]["p50"] == pytest.approx(25.0, abs=1e-3)
    assert d["lateness_ms"]["max"] == pytest.approx(30.0, abs=1e-3)
    assert d["verdict"] == "pass"


def test_binding_cron_early_trigger_and_late_replica() -> None:
    binding = BindingSpec(name="cron", schedule="*/5 * * * * *")
    triggers = [trig("binding", "cron", 0, T0 + t + 0.02) for t in (5, 10, 15, 20, 25)]
    triggers += [trig("binding", "cron", 1, T0 + 14.9), trig("binding", "cron", 1, T0 + 20.02),
                 trig("binding", "cron", 1, T0 + 25.02)]
    h = history(*window(T0 + 31, start=T0 + 1, replicas=2, ready={1: T0 + 12}), *triggers)
    d = only(check(h, scenario(replicas=2, bindings=(binding,), binding=PER_REPLICA)))
    assert d["early_triggers"] == 1
    # Replica 1 became ready at T0+12: its ticks start at T0+15.
    assert d["per_replica_view"] == {"ticks_expected": 8, "once": 8, "duplicated": 0, "lost": 0}
    assert d["reasons"] == ["1 early triggers, allowed 0"]


def test_binding_cron_silent_replica_loses_all_ticks() -> None:
    binding = BindingSpec(name="cron", schedule="*/5 * * * * *")
    triggers = [trig("binding", "cron", 0, T0 + t + 0.02) for t in (5, 10, 15, 20, 25)]
    h = history(*window(T0 + 31, start=T0 + 1, replicas=2), *triggers)
    d = only(check(h, scenario(replicas=2, bindings=(binding,), binding=PER_REPLICA)))
    assert d["per_replica_view"]["lost"] == 5 and d["exactly_once_ticks"] == 5
    assert d["verdict"] == "fail"


def test_job_and_binding_together() -> None:
    h = History(triggers=job_every2().triggers + binding_every2().triggers,
                events=job_every2().events)
    result = check(h, scenario(jobs=(EVERY2,), bindings=(EVERY2_BINDING,), job=EXACTLY_ONCE,
                               binding=EXACTLY_ONCE))
    verdicts = {(r.mechanism, r.verdict) for r in result.results}
    assert verdicts == {("job", "pass"), ("binding", "fail")}
    assert result.passed is False
    out = result.to_dict()
    assert out["passed"] is False and len(out["results"]) == 2


def test_to_dict_shape() -> None:
    d = only(check(job_every2(), scenario(jobs=(EVERY2,), job=EXACTLY_ONCE)))
    assert list(d) == [
        "mechanism", "name", "replicas", "schedule", "window_s", "ticks_expected", "triggers",
        "triggers_per_tick", "per_replica", "exactly_once_ticks", "duplicated_ticks",
        "lost_ticks", "early_triggers", "per_replica_view", "lateness_ms", "lateness_samples_ms", "phase_estimated",
        "delivery_expected", "verdict", "reasons",
    ]
    assert list(d["lateness_ms"]) == ["p50", "p90", "p99", "max"]


# --- recorded fixtures -------------------------------------------------------------------------


def test_fixture_job_history() -> None:
    h = load_history(HISTORIES / "job_every2s_3replicas.jsonl")
    d = only(check(h, scenario(jobs=(EVERY2,), job=EXACTLY_ONCE)))
    assert d["ticks_expected"] == 9 and d["exactly_once_ticks"] == 8 and d["lost_ticks"] == 1
    assert d["triggers"] == 9  # a refused request is not a trigger
    assert d["reasons"] == ["lost 1 ticks, allowed 0"]


def test_fixture_binding_history() -> None:
    h = load_history(HISTORIES / "binding_every2s_3replicas.jsonl")
    d = only(check(h, scenario(bindings=(EVERY2_BINDING,), binding=PER_REPLICA)))
    assert d["phase_estimated"] is True
    assert d["per_replica_view"] == {"ticks_expected": 15, "once": 15, "duplicated": 0, "lost": 0}
    assert d["duplicated_ticks"] == 5 and d["verdict"] == "pass"


# --- metrics cross-check -----------------------------------------------------------------------


def test_cross_check() -> None:
    counts = {"a": 4, "b": 6}
    assert cross_check(counts, {JOB_SUCCESS_METRIC: 10.0, SCHEDULER_TRIGGERED_METRIC: 10.0}) == []
    assert cross_check(counts, {}) == []
    problems = cross_check(counts, {JOB_SUCCESS_METRIC: 10.0, SCHEDULER_TRIGGERED_METRIC: 12.0})
    assert len(problems) == 1 and SCHEDULER_TRIGGERED_METRIC in problems[0] and "10" in problems[0]
