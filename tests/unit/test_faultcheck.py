"""Fault statistics on histories: built in code for each case, and recorded from real runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from builders import T0, ev, history, trig

from harness.check.checker import check
from harness.check.faults import assign_in_order, fault_stats, fault_windows
from harness.run.history import Event, History, Trigger, load_history
from harness.scenario.model import BindingSpec, Expectation, FaultSpec, JobSpec, Scenario

HISTORIES = Path(__file__).parent / "histories"
JOB = JobSpec(name="j", schedule="@every 2s")
CRON = BindingSpec(name="c", schedule="*/2 * * * * *")


# --- builders ----------------------------------------------------------------------------------


def base(end_s: float = 24.0, replicas: int = 3) -> list[Event]:
    ready = [ev("replica_ready", T0 - 5, replica=r) for r in range(replicas)]
    return [*ready, ev("window_start", T0), ev("window_end", T0 + end_s),
            ev("job_created", T0 + 0.05, name="j", spec={}, sent_wall=T0, status=204)]


def fault(kind: str, start_s: float, end_s: float, recovered_s: float | None = None,
          **where: int) -> list[Event]:
    attrs = {"fault": kind, "target": "x", **where}
    events = [ev("fault_start", T0 + start_s, **attrs), ev("fault_end", T0 + end_s, **attrs)]
    if recovered_s is not None:
        events.append(ev("fault_recovered", T0 + recovered_s, **attrs,
                         seconds=recovered_s - end_s))
    return events


def job_ticks(times_s: list[float], replica: int = 0, delay: float = 0.004) -> list[Trigger]:
    return [trig("job", "j", replica, T0 + t + delay) for t in times_s]


def scenario(*faults: FaultSpec, jobs: tuple[JobSpec, ...] = (JOB,),
             bindings: tuple[BindingSpec, ...] = (), **expect: Expectation) -> Scenario:
    return Scenario(name="f", source=Path("f.yaml"), replicas=3, window_s=24, jobs=jobs,
                    bindings=bindings, faults=faults, expect=expect)


KILL_SCHEDULER = FaultSpec(kind="kill_scheduler", at_s=7)
ON_TIME = [2, 4, 6, 18, 20, 22]  # the job's ticks in the window, but for the outage
OWED = [8, 10, 12, 14, 16]


def replay_history() -> History:
    """The scheduler down from 7 s; at 17.3 s it fires the five ticks it owes, back-to-back."""
    replay = [trig("job", "j", i % 3, T0 + 17.3 + 0.004 * i) for i in range(len(OWED))]
    return history(*base(), *fault("kill_scheduler", 7, 7.1, 17.2, member=0),
                   *job_ticks(ON_TIME), *replay)


def stats_of(h: History, s: Scenario, mechanism: str = "job") -> dict[str, Any]:
    stats = fault_stats(h, s)
    (entry,) = [m for m in stats["mechanisms"] if m["mechanism"] == mechanism]
    return entry


# --- jobs --------------------------------------------------------------------------------------


def test_replayed_ticks_are_late_not_lost_nor_duplicated() -> None:
    entry = stats_of(replay_history(), scenario(KILL_SCHEDULER))
    assert (entry["ticks"], entry["lost"], entry["duplicated"]) == (11, 0, 0)
    assert entry["late"] == 5 and entry["replayed"] == 5
    assert entry["max_lateness_ms"] == 9300.0  # tick 8 delivered at 17.3
    (burst,) = entry["bursts"]
    assert burst["replayed"] == 5 and burst["triggers"] == 5 and burst["span_ms"] == 16.0
    assert burst["since_fault_end_s"] == 10.2
    assert entry["promise"] == "at-least-once" and entry["verdict"] == "holds"


def test_replay_ticks_fall_in_the_recovering_phase() -> None:
    phases = stats_of(replay_history(), scenario(KILL_SCHEDULER))["phases"]
    assert phases["before"]["ticks"] == 3  # 2, 4, 6
    assert phases["during"]["ticks"] == 0  # the kill and restart took 0.1 s
    assert phases["recovering"] == {"ticks": 5, "delivered": 5, "lost": 0, "duplicated": 0,
                                    "extra_triggers": 0, "late": 5, "max_lateness_ms": 9300.0,
                                    "replayed": 5}
    assert phases["after"]["ticks"] == 3 and phases["after"]["late"] == 0


def test_nearest_tick_matching_would_call_a_replay_lost_and_duplicated() -> None:
    """Why fault scenarios use assign_in_order: the default reading fails at-least-once."""
    s = scenario(KILL_SCHEDULER, job=Expectation(delivery="at_least_once", max_lost=0))
    nearest = check(replay_history(), s).results[0]
    in_order = check(replay_history(), s, assign=assign_in_order).results[0]
    # all five replayed triggers go to tick 18, which they precede: "early", 8..16 "lost"
    assert (nearest.across.lost, nearest.across.duplicated, nearest.early_triggers) == (5, 1, 5)
    assert nearest.verdict == "fail"
    assert (in_order.across.lost, in_order.across.duplicated) == (0, 0)
    assert in_order.verdict == "pass"
    assert in_order.lateness_ms["max"] == 9300.0


def test_a_tick_never_delivered_is_lost_and_violates_at_least_once() -> None:
    h = history(*base(), *fault("kill_daprd", 7, 9, replica=1),
                *job_ticks([2, 4, 6, 10, 12, 14, 16, 18, 20, 22]))
    entry = stats_of(h, scenario(FaultSpec(kind="kill_daprd", at_s=7, duration_s=2, replica=1)))
    assert entry["lost"] == 1 and entry["lost_at_s"] == [[None, 8.0]]
    assert entry["phases"]["during"]["lost"] == 1
    assert entry["verdict"] == "violated"
    assert entry["reasons"] == ["1 tick(s) lost (at 8.0 s)"]


def test_a_tick_delivered_twice_is_a_duplicate_that_at_least_once_allows() -> None:
    again = trig("job", "j", 2, T0 + 10.9)  # tick 10 delivered a second time, before tick 12
    h = history(*base(), *fault("kill_app", 9, 11, replica=1), *job_ticks([2, 4, 6, 8, 10]),
                again, *job_ticks([12, 14, 16, 18, 20, 22], replica=1))
    s = scenario(FaultSpec(kind="kill_app", at_s=9, duration_s=2, replica=1))
    entry = stats_of(h, s)
    assert (entry["lost"], entry["duplicated"], entry["extra_triggers"]) == (0, 1, 1)
    assert entry["phases"]["during"]["duplicated"] == 1
    assert entry["verdict"] == "holds"
    allowed = Expectation(delivery="at_least_once")
    capped = Expectation(delivery="at_least_once", max_duplicated=0)
    assert check(h, scenario(job=allowed), assign=assign_in_order).passed
    failed = check(h, scenario(job=capped), assign=assign_in_order).results[0]
    assert failed.reasons == ["duplicated 1 ticks, allowed 0"]


def test_a_failed_attempt_is_not_a_delivery_and_its_retry_is_late() -> None:
    failed = trig("job", "j", 1, T0 + 8.004, outcome="failed")
    retried = trig("job", "j", 2, T0 + 9.01)
    h = history(*base(), *fault("app_failing", 7, 9.5, replica=1),
                *job_ticks([2, 4, 6, 10, 12, 14, 16, 18, 20, 22]), failed, retried)
    entry = stats_of(h, scenario(FaultSpec(kind="app_failing", at_s=7, duration_s=2.5, replica=1)))
    assert entry["failed_attempts"] == 1
    assert (entry["lost"], entry["duplicated"], entry["late"], entry["replayed"]) == (0, 0, 1, 0)
    assert entry["max_lateness_ms"] == 1010.0


def test_a_trigger_before_its_tick_with_nothing_owed_is_early() -> None:
    h = history(*base(), *fault("kill_daprd", 7, 9, replica=1),
                *job_ticks([2, 4, 6, 8, 12, 14, 16, 18, 20, 22]),
                trig("job", "j", 0, T0 + 9.7))  # 0.3 s before tick 10
    entry = stats_of(h, scenario(FaultSpec(kind="kill_daprd", at_s=7, duration_s=2, replica=1)))
    assert entry["early"] == 1 and entry["lost"] == 0
    assert entry["verdict"] == "violated"
    assert entry["reasons"] == ["1 trigger(s) before their tick"]


def test_a_late_trigger_before_a_tick_stands_for_the_tick_still_owed() -> None:
    """A held trigger released just before the next tick is late for its own tick, not early
    for the next one (seen when a paused sidecar resumes)."""
    h = history(*base(), *fault("pause_replica", 7, 11.9, replica=1),
                *job_ticks([2, 4, 6, 12, 14, 16, 18, 20, 22]),
                trig("job", "j", 1, T0 + 11.95), trig("job", "j", 1, T0 + 11.96))
    entry = stats_of(h, scenario(FaultSpec(kind="pause_replica", at_s=7, duration_s=4.9,
                                           replica=1)))
    assert (entry["early"], entry["lost"], entry["duplicated"]) == (0, 0, 0)
    assert entry["late"] == 2 and entry["replayed"] == 2
    assert entry["max_lateness_ms"] == 3950.0


# --- bindings ----------------------------------------------------------------------------------


def cron(replicas: dict[int, list[float]]) -> list[Trigger]:
    return [trig("binding", "c", r, T0 + t + 0.003) for r, times in replicas.items() for t in times]


EVEN = [float(t) for t in range(0, 23, 2)]  # the binding's ticks in the window (0 .. 22)


def test_binding_ticks_lost_on_the_faulted_replica_are_allowed_and_attributed() -> None:
    down = [t for t in EVEN if not 8 <= t <= 10]
    h = history(*base(), *fault("kill_daprd", 7.5, 11, 11.05, replica=1),
                *job_ticks(EVEN[1:]), *cron({0: EVEN, 1: down, 2: EVEN}))
    s = scenario(FaultSpec(kind="kill_daprd", at_s=7.5, duration_s=3.5, replica=1),
                 bindings=(CRON,))
    entry = stats_of(h, s, "binding")
    assert entry["view"] == "per replica" and entry["ticks"] == 3 * 12
    assert entry["lost_by_replica"] == {"0": 0, "1": 2, "2": 0}
    assert entry["lost_at_s"] == [[1, 8.0], [1, 10.0]]
    assert entry["promise"] == "per-replica, in memory" and entry["verdict"] == "holds"


def test_binding_loss_elsewhere_or_a_double_fire_violates_the_promise() -> None:
    h = history(*base(), *fault("kill_daprd", 7.5, 11, replica=1), *job_ticks(EVEN[1:]),
                *cron({0: [t for t in EVEN if t != 16], 1: EVEN, 2: [*EVEN, 4.05]}))
    s = scenario(FaultSpec(kind="kill_daprd", at_s=7.5, duration_s=3.5, replica=1),
                 bindings=(CRON,))
    entry = stats_of(h, s, "binding")
    assert entry["verdict"] == "violated"
    assert entry["reasons"] == [
        "1 tick(s) lost outside a fault on that replica (replica 0 at 16.0 s)",
        "1 tick(s) fired more than once on one replica",
    ]


def test_a_scaled_in_replica_owes_no_binding_ticks_after_it_stopped() -> None:
    h = history(*base(), *fault("scale_in", 8, 8.5, replica=2),
                ev("replica_stopped", T0 + 8.4, replica=2), *job_ticks(EVEN[1:]),
                *cron({0: EVEN, 1: EVEN, 2: [t for t in EVEN if t <= 8]}))
    s = scenario(FaultSpec(kind="scale_in", at_s=8, replica=2), bindings=(CRON,),
                 binding=Expectation(delivery="once_per_replica", max_lost=0))
    entry = stats_of(h, s, "binding")
    assert entry["lost"] == 0 and entry["ticks"] == 12 + 12 + 5
    result = check(h, s, assign=assign_in_order).results[1]
    assert result.per_replica_view.lost == 0 and result.verdict == "pass"


# --- the faults themselves ---------------------------------------------------------------------


def test_fault_windows_pair_start_end_and_recovery() -> None:
    h = history(*base(), *fault("stop_scheduler", 8, 14.2, 15.5, member=0),
                *fault("kill_daprd", 16, 17, replica=1))
    first, second = fault_windows(h, T0 + 24)
    assert (first.kind, first.member, first.start, first.end, first.recovered) == (
        "stop_scheduler", 0, T0 + 8, T0 + 14.2, T0 + 15.5)
    assert (second.kind, second.replica, second.recovered) == ("kill_daprd", 1, None)
    stats = fault_stats(h, scenario())
    assert stats["faults"][0]["recovery_s"] == 1.3
    assert stats["faults"][1]["recovery_s"] is None


# --- recorded runs on Dapr 1.18.3 --------------------------------------------------------------


def recorded(stem: str) -> tuple[History, Scenario]:
    scenario_json = json.loads((HISTORIES / f"{stem}.scenario.json").read_text())
    return load_history(HISTORIES / f"{stem}.jsonl"), Scenario.model_validate(scenario_json)


def test_recorded_scheduler_kill_replays_every_owed_tick_after_about_20_s() -> None:
    h, s = recorded("fault_kill_scheduler")
    stats = fault_stats(h, s)
    (kill,) = stats["faults"]
    assert kill["kind"] == "kill_scheduler" and 18 < kill["recovery_s"] < 30
    jobs = [m for m in stats["mechanisms"] if m["mechanism"] == "job"]
    assert len(jobs) == 9
    for entry in jobs:
        assert entry["lost"] == 0 and entry["verdict"] == "holds"
        assert entry["replayed"] >= 9, entry  # every tick of the ~20 s outage
        (burst,) = entry["bursts"]
        assert burst["span_ms"] < 250 and burst["since_fault_end_s"] > 18
    (binding,) = [m for m in stats["mechanisms"] if m["mechanism"] == "binding"]
    assert binding["lost"] == 0 and binding["late"] == 0 and binding["verdict"] == "holds"


def test_recorded_pause_holds_the_paused_sidecars_jobs_until_it_resumes() -> None:
    h, s = recorded("fault_pause_replica")
    stats = fault_stats(h, s)
    jobs = [m for m in stats["mechanisms"] if m["mechanism"] == "job"]
    held = [m for m in jobs if m["late"]]
    assert held and len(held) < len(jobs)  # only the jobs sent to the paused sidecar
    assert all(m["lost"] == 0 and m["verdict"] == "holds" for m in jobs)
    assert all(3000 < m["max_lateness_ms"] < 4500 for m in held)
    (binding,) = [m for m in stats["mechanisms"] if m["mechanism"] == "binding"]
    assert binding["lost_by_replica"]["1"] >= 1
    assert binding["lost_by_replica"]["0"] == binding["lost_by_replica"]["2"] == 0
    assert check(h, s, assign=assign_in_order).passed
