"""Tick models of the mechanisms beside job and binding, on histories recorded from real Dapr
1.18.3 (tests/unit/histories/mechanisms_*) and on built ones."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from harness.check import Bound, CheckReport, MechanismResult, check_run
from harness.record.history import History, load_history
from harness.scenario.model import Expectation, Scenario

HISTORIES = Path(__file__).parent / "histories"


def recorded(stem: str) -> tuple[History, Scenario]:
    """A recorded run and its scenario, every task expected once per tick."""
    scenario = Scenario.model_validate(json.loads((HISTORIES / f"{stem}.scenario.json").read_text()))
    expect = {t.mechanism: Expectation(delivery="exactly_once", min_ticks=5) for t in scenario.tasks}
    scenario = scenario.model_copy(update={"expect": {**scenario.expect, **expect}})
    return load_history(HISTORIES / f"{stem}.jsonl"), scenario


def by_mechanism(report: CheckReport) -> dict[str, MechanismResult]:
    return {m.mechanism: m for m in report.mechanisms}


def test_headline_every_mechanism_but_the_plain_binding_works_once_per_tick() -> None:
    history, scenario = recorded("mechanisms_3replicas")
    report = check_run(scenario, history)
    results = by_mechanism(report)
    for mechanism in ("job", "job-sdk", "reminder", "binding-lock", "binding-claim", "workflow"):
        m = results[mechanism]
        assert m.across.once.high == m.across.ticks >= 10, m
        assert (m.across.lost.high, m.across.duplicated.high, m.early) == (0, 0, 0), m
        assert m.accounting.total == m.triggers
    binding = results["binding"]
    assert binding.triggers_per_tick == 3.0 and binding.across.duplicated.high == binding.across.ticks
    for gated in ("binding-lock", "binding-claim"):  # every sidecar tries, one does the work
        m = results[gated]
        assert m.attempts == 3 * m.across.ticks and m.gated_out == 2 * m.across.ticks
    assert results["workflow"].drift is not None and results["workflow"].drift["per_tick_ms"] > 0
    assert report.checker("accounting").verdict == "pass"  # type: ignore[union-attr]


def test_a_scheduler_kill_replays_reminders_and_sdk_jobs_but_a_workflow_timer_skips() -> None:
    history, scenario = recorded("mechanisms_kill_scheduler")
    report = check_run(scenario, history)
    results = by_mechanism(report)
    for mechanism in ("job-sdk", "reminder"):
        m = results[mechanism]
        assert m.across.lost == Bound(0, 0) and m.replayed >= 9, m
    workflow = results["workflow"]
    assert workflow.across.lost.high >= 5 and workflow.replayed == 0  # not caught up
    promises = report.checker("promises")
    assert promises is not None and promises.verdict == "pass", promises.reasons


def test_a_redis_restart_reruns_one_workflow_activity_within_the_promise() -> None:
    history, scenario = recorded("mechanisms_restart_redis")
    report = check_run(scenario, history)
    workflow = by_mechanism(report)["workflow"]
    assert workflow.across.duplicated.high == 1  # the iteration's activity ran twice
    for gated in ("binding-lock", "binding-claim"):
        assert by_mechanism(report)[gated].across.duplicated == Bound(0, 0)
    assert report.checker("promises").verdict == "pass"  # type: ignore[union-attr]


@pytest.mark.parametrize("mechanism", ["binding-lock", "binding-claim"])
def test_work_done_twice_for_one_tick_breaks_the_gate(mechanism: str) -> None:
    history, scenario = recorded("mechanisms_3replicas")
    losers = [t for t in history.triggers if t.mechanism == mechanism and t.work is False]
    twice = replace(losers[3], work=True)  # a second worker for that tick
    triggers = tuple(twice if t is losers[3] else t for t in history.triggers)
    m = by_mechanism(check_run(scenario, History(triggers, history.events)))[mechanism]
    assert m.across.duplicated == Bound(1, 1) and m.verdict == "fail"


def test_a_tick_nobody_worked_is_lost_for_a_gated_binding() -> None:
    history, scenario = recorded("mechanisms_3replicas")
    winners = [t for t in history.triggers if t.mechanism == "binding-claim" and t.work]
    nobody = replace(winners[4], work=False)
    triggers = tuple(nobody if t is winners[4] else t for t in history.triggers)
    m = by_mechanism(check_run(scenario, History(triggers, history.events)))["binding-claim"]
    assert m.across.lost == Bound(1, 1) and m.verdict == "fail"


def test_an_iteration_run_twice_is_a_duplicated_workflow_tick() -> None:
    history, scenario = recorded("mechanisms_3replicas")
    iterations = [t for t in history.triggers if t.mechanism == "workflow"]
    again = replace(iterations[5], wall=iterations[5].wall + 0.4, replica=(iterations[5].replica + 1) % 3)
    m = by_mechanism(check_run(scenario, History(history.triggers + (again,), history.events)))["workflow"]
    assert m.across.duplicated == Bound(1, 1) and m.verdict == "fail"
