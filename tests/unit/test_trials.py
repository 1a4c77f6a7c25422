"""Trials planned from the precision asked: run until the 95 % upper bound holds or the cap."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakeruns import mechanism_result

from harness.check import CheckerResult
from harness.scenario.loading import load_scenario
from harness.scenario.model import EvidencePlan, ScenarioError
from harness.summary import RunSummary
from harness.trials import PlanOverrides, bound_checks, plan_for, run_planned

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def runs_of(lost_per_run: list[int], ticks: int = 100):
    made: list[RunSummary] = []

    def run_once(scenario) -> RunSummary:
        lost = lost_per_run[len(made)]
        made.append(RunSummary(
            run_id=f"r{len(made)}", scenario=scenario.name, kind="fault",
            checkers=[CheckerResult("promises", "pass", [], {"verdicts": {"job a": "pass"}})],
            mechanisms=[mechanism_result("job", "a", ticks=ticks, lost=(lost, lost)),
                        mechanism_result("binding", "b", ticks=36, lost=(4, 4))]))
        return made[-1]
    return run_once, made


def scenario(name: str = "fault-kill-daprd"):
    (found,) = load_scenario(SCENARIOS / f"{name}.yaml")
    return found


def test_runs_until_the_bound_holds_and_says_so() -> None:
    plan = EvidencePlan(min_trials=2, max_trials=8, upper_bound=0.01, mechanisms=("job",))
    run_once, made = runs_of([0] * 8)
    record = run_planned(scenario(), plan, run_once, say=lambda _: None)
    # 0 of 400 ticks: at most 0.92 %; 0 of 300 would be 1.22 %.
    assert (record.trials, record.stopped) == (4, "bound held") and len(made) == 4
    (check,) = record.checks
    assert (check.mechanism, check.count, check.ticks, check.held) == ("job", 0, 400, True)
    assert record.sentence().startswith("4 run(s): every asked 95 % upper bound fell to 1 %")


def test_stops_at_the_cap_when_the_bound_cannot_hold() -> None:
    plan = EvidencePlan(min_trials=2, max_trials=3, upper_bound=0.01, mechanisms=("job", "binding"))
    run_once, _ = runs_of([0, 0, 0])
    said: list[str] = []
    record = run_planned(scenario(), plan, run_once, say=said.append)
    assert (record.trials, record.stopped) == (3, "cap reached")
    assert "cap of 3 reached" in record.sentence() and "binding lost 12 of 108" in record.sentence()
    assert any("binding lost 12 of 108" in line for line in said)


def test_without_a_bound_the_minimum_is_run() -> None:
    run_once, made = runs_of([0, 0, 0])
    record = run_planned(scenario(), EvidencePlan(min_trials=2, max_trials=3), run_once,
                         say=lambda _: None)
    assert (record.trials, record.stopped, len(made)) == (2, "fixed", 2)


def test_plans_come_from_the_scenario_file_not_its_name() -> None:
    member = plan_for(scenario("fault-scheduler-member"))
    assert (member.min_trials, member.max_trials, member.upper_bound) == (3, 8, 0.01)
    assert plan_for(scenario("comparison")) == EvidencePlan()
    asked = plan_for(scenario(), PlanOverrides(upper_bound=0.02, max_trials=5))
    assert (asked.min_trials, asked.max_trials, asked.upper_bound) == (2, 5, 0.02)
    assert plan_for(scenario(), PlanOverrides(min_trials=9)).max_trials == 9


def test_every_fault_scenario_plans_its_evidence() -> None:
    for path in sorted(SCENARIOS.glob("*fault-*.yaml")):
        for found in load_scenario(path):
            assert found.evidence is not None and found.evidence.upper_bound, path.name


def test_bound_checks_read_the_strict_reading() -> None:
    run = RunSummary(run_id="x", scenario="s", kind="fault",
                     mechanisms=[mechanism_result("job", "a", ticks=50, lost=(0, 2))])
    (check,) = bound_checks(EvidencePlan(upper_bound=0.5), "s", [run])
    assert (check.count, check.ticks) == (2, 50)


def test_a_plan_with_min_above_max_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("replicas: 1\nwindow_s: 5\njobs: [{name: a, schedule: '@every 1s'}]\n"
                   "expect: {job: {delivery: exactly_once}}\n"
                   "evidence: {min_trials: 5, max_trials: 2}\n")
    with pytest.raises(ScenarioError, match=r"bad.yaml: evidence: .*min_trials 5 is above max_trials 2"):
        load_scenario(bad)
