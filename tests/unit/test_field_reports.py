"""Field reports: the report: section of a scenario, one run's observation, the cells of
results/field-reports.md and which version to pin; and the committed report is what its record
and evidence render (a pure test over the stored summaries)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fakeruns import mechanism_result

from harness.check import Accounting, CallResult, JobExpectResult
from harness.cluster.versions import SERVED_DAPR_VERSIONS
from harness.paths import FIELD_DIR, RESULTS_DIR, RUNS_DIR
from harness.reports.field import field_cell, observe, render_field_reports
from harness.scenario.loading import load_field_scenarios, load_scenario
from harness.scenario.model import FieldReport, ScenarioError
from harness.summary import RunSummary

REPORT = FieldReport(title="t", urls=("https://github.com/dapr/dapr/issues/1",), affected="all",
                     expected={"1.14.0": "reproduced", "1.18.3": "not reproduced"},
                     decides="d", calls=("dup-*",), jobs=("no-data",))


def _summary(run_id: str = "r1", *, dup_status: int = 409, no_data: int = 1,
             control_ok: bool = True, footprint: dict | None = None,
             errors: tuple[str, ...] = ()) -> RunSummary:
    call = CallResult(0, "dup-again", "POST", "v1.0", "dup", 409, dup_status, None, None, [],
                      "pass" if dup_status == 409 else "fail",
                      [] if dup_status == 409 else [f"status {dup_status}, expected 409"])
    job = JobExpectResult("no-data", None, None, no_data, None, 1.01, [], "pass" if no_data else
                          "fail", [] if no_data else ["0 triggers, expected exactly 1"])
    control = mechanism_result("binding", "control-cron", ticks=4, lost=(0, 0) if control_ok
                               else (2, 2), accounting=Accounting(judged=4),
                               reasons=[] if control_ok else ["2 lost ticks, allowed 0"])
    return RunSummary(run_id=run_id, scenario="s", calls=[call], expect_jobs=[job],
                      mechanisms=[control], driver_errors=list(errors),
                      metrics_check={"footprint": footprint} if footprint else {})


def test_a_cited_entry_missing_its_expectation_reproduces_the_report() -> None:
    seen = observe(REPORT, _summary(dup_status=204))
    assert seen.outcome == "reproduced"
    assert "dup-again: POST → 204" in seen.figures
    assert "expected 409" in seen.why
    assert observe(REPORT, _summary(no_data=0)).outcome == "reproduced"
    assert observe(REPORT, _summary()).outcome == "not reproduced"


def test_a_failing_control_or_driver_makes_the_run_inconclusive() -> None:
    seen = observe(REPORT, _summary(dup_status=204, control_ok=False))
    assert seen.outcome == "inconclusive" and "control binding control-cron" in seen.why
    assert observe(REPORT, _summary(errors=("create failed",))).outcome == "inconclusive"


def test_a_named_process_that_died_reproduces_the_report() -> None:
    report = REPORT.model_copy(update={"calls": (), "jobs": (), "alive": ("scheduler",)})
    dead = {"schedulers": 1, "schedulers_alive": 0, "daprd": 1, "daprd_alive": 1,
            "scheduler_rss_mib": 0.0, "etcd_db_mib": 0.1}
    seen = observe(report, _summary(footprint=dead))
    assert seen.outcome == "reproduced" and "scheduler alive 0/1 at the end" in seen.why
    alive = dead | {"schedulers_alive": 1, "scheduler_rss_mib": 61.5}
    assert observe(report, _summary(footprint=alive)).outcome == "not reproduced"
    assert "RSS 61.5 MiB" in observe(report, _summary(footprint=alive)).figures[0]
    assert observe(report, _summary()).outcome == "reproduced"  # nothing recorded: not shown alive


def test_a_cell_adds_its_trials_up_and_marks_a_disagreement() -> None:
    runs = {"a": _summary("a", dup_status=204), "b": _summary("b")}
    cell = field_cell(REPORT, "1.18.3", ["a", "b"], runs)
    assert cell.outcome == "reproduced" and not cell.matches
    text = cell.text()
    assert text.startswith("**reproduced** (1/2) ≠ expected not reproduced: ")
    assert "[run 1](evidence/a.json) [run 2](evidence/b.json)" in text
    assert field_cell(REPORT, "1.14.0", [], {}).outcome == "not run"
    assert field_cell(REPORT, "1.16.0", [], {}).outcome == "n/a"


def test_render_pins_the_version_with_fewest_reproduced_reports(tmp_path: Path) -> None:
    scenario = load_scenario(FIELD_DIR / "jobs-http-no-data.yaml")[0]
    report = scenario.report
    assert report is not None
    runs = tmp_path / "runs"
    outcomes = {"1.16.0": 0, "1.18.3": 1}
    for version, triggers in outcomes.items():
        (runs / version).mkdir(parents=True)
        job = JobExpectResult("no-data", None, None, triggers, None, None, [],
                              "pass" if triggers else "fail",
                              [] if triggers else ["0 triggers, expected exactly 1"])
        RunSummary(run_id=version, scenario=scenario.name,
                   expect_jobs=[job]).write(runs / version / "summary.json")
    record = {"runs": {v: {scenario.name: [v]} for v in outcomes}}
    text = render_field_reports(record, [scenario], runs, tmp_path / "evidence",
                                generated_at="now")
    row = next(line for line in text.splitlines() if "(`jobs-http-no-data`)" in line)
    assert "**reproduced** (1/1): no-data: 0 trigger(s)" in row
    assert "**not reproduced** (1/1): no-data: 1 trigger(s)" in row
    assert "| not run |" in row  # 1.14.0 and the others: named by the report, not run
    assert "Of the tested versions, **1.18.3** reproduces the fewest" in text
    assert "- **1.16.0**: reproduced 1 (`jobs-http-no-data`)" in text


def test_every_field_scenario_names_every_served_version() -> None:
    for scenario in load_field_scenarios(FIELD_DIR):
        assert scenario.report is not None and scenario.kind == "field"
        assert set(scenario.report.expected) == set(SERVED_DAPR_VERSIONS), scenario.name
        assert len(scenario.report.versions) >= 1


def test_at_least_ten_field_reports() -> None:
    assert len(load_field_scenarios(FIELD_DIR)) >= 10


@pytest.mark.parametrize("edit, message", [
    ("  urls: [http://example.com/x]\n", "report.urls[0]: not a GitHub URL"),
    ("  urls: [https://github.com/dapr/dapr/issues/1]\n  expected: {'1.18': reproduced}\n",
     "report.expected.1.18: not a version"),
    ("  urls: [https://github.com/dapr/dapr/issues/1]\n  expected: {1.18.3: n/a}\n",
     "report.expected: n/a on every version"),
    ("  urls: [https://github.com/dapr/dapr/issues/1]\n  expected: {1.18.3: maybe}\n",
     "report.expected.1.18.3: not an allowed value"),
    ("  urls: [https://github.com/dapr/dapr/issues/1]\n  jobs: [absent]\n",
     "report.jobs[0]: no job or POST call with this name"),
])
def test_a_bad_report_section_fails_in_one_line(tmp_path: Path, edit: str, message: str) -> None:
    base = ("replicas: 1\nwindow_s: 2\njobs:\n  - {name: j, dueTime: 1s}\nreport:\n"
            "  title: t\n  affected: all\n  decides: d\n")
    fields = {"urls": "  urls: [https://github.com/dapr/dapr/issues/1]\n",
              "expected": "  expected: {1.18.3: reproduced}\n", "jobs": "  jobs: [j]\n"}
    for line in edit.splitlines(keepends=True):
        fields[line.split(":")[0].strip()] = line
    path = tmp_path / "bad.yaml"
    path.write_text(base + "".join(fields.values()))
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_field_file_without_a_report_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plain.yaml").write_text("replicas: 1\nwindow_s: 2\n")
    with pytest.raises(ScenarioError, match="report: missing in a field scenario"):
        load_field_scenarios(tmp_path)


def _cells(text: str) -> list[list[str]]:
    """The rows of the report table (report name, then one cell per version)."""
    rows = [line for line in text.splitlines() if line.startswith("| [")]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]


def test_the_committed_field_report_is_what_its_evidence_renders() -> None:
    """Every expected-vs-observed cell of results/field-reports.md, rendered again from
    results/field.json and the stored summaries under results/evidence/."""
    record = json.loads((RESULTS_DIR / "field.json").read_text())
    committed = (RESULTS_DIR / "field-reports.md").read_text()
    rendered = render_field_reports(record, load_field_scenarios(FIELD_DIR),
                                    RUNS_DIR / "no-such-dir", RESULTS_DIR / "evidence")
    assert _cells(committed) and _cells(rendered) == _cells(committed)


def test_the_command_line_defaults_to_every_served_version() -> None:
    import dataclasses

    from harness.cli import COMMANDS

    for command in (c for c in COMMANDS if c.name in ("matrix", "field")):
        versions = next(f for f in dataclasses.fields(command.args) if f.name == "versions")
        assert tuple(versions.default_factory()) == SERVED_DAPR_VERSIONS, command.name
