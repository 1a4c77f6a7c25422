"""results/versions.md from a matrix record: differing cells marked, claims' first version."""

from __future__ import annotations

from pathlib import Path

from fakeruns import mechanism_result

from harness.check import Accounting, CallResult
from harness.reports.versions import claim_reproduced, holds_from, render_versions
from harness.scenario.model import Claim
from harness.summary import DaprInfo, RunSummary


def _summary(run_id: str, *, lost: int, call_reasons: list[str]) -> RunSummary:
    job = mechanism_result("job", "cleanup", ticks=10, lost=(lost, lost),
                           accounting=Accounting(judged=10), reasons=["lost"] if lost else [])
    call = CallResult(0, "dup-again", "POST", "v1.0", "dup", 409, 409, None, None, [],
                      "fail" if call_reasons else "pass", call_reasons)
    return RunSummary(run_id=run_id, scenario="comparison", replicas=3, passed=not call_reasons,
                      dapr=DaprInfo(runtime=run_id, launcher="daprd", jobs_api_default="v1.0"),
                      mechanisms=[job], calls=[call])


CLAIM = Claim(id="C5a", source="lesson", statement="s", verdict="holds", observed="o",
              calls=("dup-*",))


def test_a_claim_holds_from_the_first_version_it_holds_on_for_good() -> None:
    assert holds_from({"1.14.0": False, "1.16.0": True, "1.18.3": True}) == "1.16.0 on"
    assert holds_from({"1.14.0": True, "1.16.0": False, "1.18.3": True}) == "1.18.3 on"
    assert holds_from({"1.14.0": True, "1.18.3": True}) == "every tested version"
    assert holds_from({"1.14.0": False, "1.18.3": None}) == "none tested"


def test_a_claim_is_judged_by_the_entries_it_cites() -> None:
    assert claim_reproduced(CLAIM, _summary("a", lost=3, call_reasons=[])) is True
    assert claim_reproduced(CLAIM, _summary("a", lost=0, call_reasons=["409"])) is False
    assert claim_reproduced(CLAIM, None) is None


def test_cells_that_differ_from_the_newest_version_are_marked(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for run_id, lost in (("1.14.0", 2), ("1.18.3", 0)):
        (runs / run_id).mkdir(parents=True)
        _summary(run_id, lost=lost, call_reasons=[]).write(runs / run_id / "summary.json")
    record = {"versions": [{"version": "1.14.0", "built": True, "manifest": {}},
                           {"version": "1.15.0", "built": False, "error": "refused module"},
                           {"version": "1.18.3", "built": True, "manifest": {}}],
              "runs": {"1.14.0": {"comparison": "1.14.0"}, "1.18.3": {"comparison": "1.18.3"}}}
    text = render_versions(record, runs, tmp_path / "evidence", [], generated_at="now")
    row = next(line for line in text.splitlines() if line.startswith("| comparison"))
    assert "**≠** FAIL: 1.00 attempts/tick, dup 0, lost 2, early 0 [run](evidence/1.14.0.json)" in row
    assert "| pass: 1.00 attempts/tick, dup 0, lost 0, early 0 [run](evidence/1.18.3.json) |" in row
    assert "| 1.15.0 | **did not build** | refused module |" in text
    assert "comparison / job: 1.14.0 `FAIL: 1.00 attempts/tick, dup 0, lost 2, early 0`" in text
