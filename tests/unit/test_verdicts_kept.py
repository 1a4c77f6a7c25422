"""The restructuring kept the verdicts: every recorded history in tests/unit/histories gives
the verdicts the checker gave before the move (recorded in data/verdicts_before_the_move.json
by the checker at commit 914833e, whose fault scenarios used the in-order assignment)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.check import check_run
from harness.record.history import load_history
from harness.scenario.model import BindingSpec, Expectation, JobSpec, Scenario
from harness.scenario.loading import load_scenario

HERE = Path(__file__).parent
HISTORIES = HERE / "histories"
BEFORE = json.loads((HERE / "data" / "verdicts_before_the_move.json").read_text())


def scenario_of(stem: str) -> Scenario:
    if stem.startswith("claims_"):
        return load_scenario(HISTORIES / (stem.replace("_", "-") + ".yaml"))[0]
    if stem.startswith("fault_"):
        return Scenario.model_validate(json.loads((HISTORIES / f"{stem}.scenario.json").read_text()))
    if stem.startswith("job_"):  # the recorded single-mechanism histories of the checker tests
        return Scenario(name="t", source=Path("t.yaml"), replicas=3, window_s=21,
                        jobs=(JobSpec(name="tick", schedule="@every 2s"),),
                        expect={"job": Expectation(delivery="exactly_once")})
    return Scenario(name="t", source=Path("t.yaml"), replicas=3, window_s=21,
                    bindings=(BindingSpec(name="cron", schedule="@every 2s"),),
                    expect={"binding": Expectation(delivery="once_per_replica")})


@pytest.mark.parametrize("stem", sorted(BEFORE))
def test_recorded_history_gives_the_verdicts_it_gave_before(stem: str) -> None:
    report = check_run(scenario_of(stem), load_history(HISTORIES / f"{stem}.jsonl"))
    now = {f"{m.mechanism} {m.name}": m.verdict for m in report.mechanisms}
    assert now == BEFORE[stem]["mechanisms"]
    assert report.passed is BEFORE[stem]["passed"]
