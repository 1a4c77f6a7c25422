"""The claims table from fake runs: verdicts, numbers, evidence copies (no Dapr)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from builders import plain_yaml
from fakeruns import mechanism_result

from harness.check import Accounting, Bound, CallResult, CheckerResult, JobExpectResult, TickView
from harness.reports.claims import (
    CHANGED,
    NOT_RUN,
    claim_rows,
    evidence_text,
    load_claim_scenarios,
    render_claims,
    write_claims,
)
from harness.summary import DaprInfo, Provenance, RunSummary

PROBE = {
    "replicas": 1, "window_s": 5,
    "jobs": [{"name": "h-500", "dueTime": "1s"}],
    "calls": [
        {"id": "dup-first", "method": "POST", "job": "dup", "body": {"schedule": "@daily"},
         "expect_status": 204},
        {"id": "dup-again", "at_s": 0.2, "method": "POST", "job": "dup",
         "body": {"schedule": "@daily"}, "expect_status": 409},
    ],
    "claims": [
        {"id": "C10", "source": "dapr-facts: Jobs API (HTTP)", "statement": "Exists | 409.",
         "verdict": "holds", "observed": "409 each time.", "calls": ["dup-*"]},
        {"id": "C2a", "source": "lesson: Handler Response Format", "statement": "RETRY retries.",
         "verdict": "wrong", "observed": "Delivered 4 times.", "jobs": ["h-500"]},
    ],
}
COMPARISON = {"replicas": 3, "window_s": 24,
              "jobs": [{"name": "tick", "schedule": "@every 2s"}],
              "bindings": [{"name": "cron-tick", "schedule": "@every 2s"}]}
POINTER = {"replicas": 1, "window_s": 5, "jobs": [{"name": "x", "dueTime": "1s"}],
           "claim": {"id": "C1", "source": "lesson: opening", "statement": "Once per tick.",
                     "verdict": "holds", "observed": "Once.", "shown_by": "comparison",
                     "jobs": ["tick"], "bindings": ["cron-tick"]}}


def call(id_: str, job: str, status: int, expect: int, checks: int = 0) -> CallResult:
    ok = status == expect
    return CallResult(0, id_, "POST", "v1.0", job, expect, status, None, None, ["x"] * checks,
                      "pass" if ok else "fail", [] if ok else [f"status {status}, expected {expect}"])


def summary(run_id: str, scenario: str, *, passed: bool = True, started: str = "2026-11-28T20:00:00Z",
            replicas: int = 1, window_s: float = 5.0, **extra: Any) -> RunSummary:
    checkers = [CheckerResult("calls", "pass" if passed else "fail",
                              [r for c in extra.get("calls", []) for r in c.reasons])]
    return RunSummary(run_id=run_id, scenario=scenario, started_at=started,
                      dapr=DaprInfo(runtime="1.18.3", daprd="1.18.3"),
                      provenance=Provenance(commit="abc1234"), replicas=replicas,
                      window_s=window_s, passed=passed, checkers=checkers, **extra)


PROBE_RUN = summary(
    "0001-probe", "probe",
    calls=[call("dup-first", "dup", 204, 204), call("dup-again", "dup", 409, 409, checks=1)],
    job_triggers={"h-500": {"triggers": 4, "app_status": {"500": 4}, "per_replica": {"0": 4},
                            "first_after_create_s": 1.0021, "spacing_s": {"min": 0.999,
                                                                          "max": 1.0012},
                            "at_s": [1.0, 2.0, 3.0, 4.0], "payloads": [None]}},
    mechanisms=[mechanism_result("job", "h-500", schedule="dueTime 1s", ticks=1, once=0,
                                 lateness_ms={"p50": 2.1, "p90": 2.1, "p99": 2.1, "max": 2.1})],
    expect_jobs=[JobExpectResult("h-500", 2.5, None, 2, {"min": 1.0, "max": 1.0}, None, [],
                                 "pass", [])],
)
COMPARISON_RUN = summary(
    "0002-comparison", "comparison", replicas=3, window_s=24.0,
    mechanisms=[
        mechanism_result("job", "tick", ticks=11, triggers=12, per_replica={0: 6, 1: 3, 2: 3},
                         lateness_ms={"p50": 4.0, "p90": 4.0, "p99": 4.0, "max": 4.5}),
        mechanism_result("binding", "cron-tick", ticks=33, triggers=36,
                         accounting=Accounting(judged=33),
                         across=TickView(ticks=11, duplicated=Bound(11, 11)),
                         per_replica={0: 12, 1: 12, 2: 12}),
    ],
)


@pytest.fixture
def scenarios_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "scenarios"
    directory.mkdir()
    for name, doc in (("probe", PROBE), ("comparison", COMPARISON), ("pointer", POINTER)):
        (directory / f"{name}.yaml").write_text(plain_yaml(doc))
    (directory / "half-written.yaml").write_text("jobs: [ {name: x\n")  # someone's editing it
    return directory


def make_runs(tmp_path: Path, *summaries: RunSummary) -> Path:
    runs = tmp_path / "runs"
    for s in summaries:
        (runs / s.run_id).mkdir(parents=True)
        s.write(runs / s.run_id / "summary.json")
    return runs


def rows_for(scenarios_dir: Path, *summaries: RunSummary) -> dict[str, Any]:
    rows = claim_rows(load_claim_scenarios(scenarios_dir), list(summaries))
    return {row.claim.id: row for row in rows}


def test_only_files_with_claims_are_loaded(scenarios_dir: Path) -> None:
    names = [s.name for s in load_claim_scenarios(scenarios_dir)]
    assert names == ["pointer", "probe"]


def test_duplicate_claim_ids_across_files_are_refused(scenarios_dir: Path) -> None:
    (scenarios_dir / "again.yaml").write_text(plain_yaml(
        {**POINTER, "claim": {**POINTER["claim"], "id": "C10"}}))
    with pytest.raises(ValueError, match=r"claim id C10 is also used by"):
        load_claim_scenarios(scenarios_dir)


def test_rows_are_in_claim_number_order(scenarios_dir: Path) -> None:
    rows = claim_rows(load_claim_scenarios(scenarios_dir), [PROBE_RUN])
    assert [row.claim.id for row in rows] == ["C1", "C2a", "C10"]


def test_verdict_follows_the_latest_run(scenarios_dir: Path) -> None:
    rows = rows_for(scenarios_dir, PROBE_RUN)
    assert rows["C10"].verdict == "holds" and rows["C2a"].verdict == "wrong"
    assert rows["C1"].verdict == NOT_RUN  # the comparison has no run
    failed = summary("0003-probe", "probe", passed=False, started="2026-11-28T21:00:00Z")
    rows = rows_for(scenarios_dir, PROBE_RUN, failed)
    assert rows["C10"].verdict == CHANGED and rows["C10"].summary.run_id == "0003-probe"


def test_numbers_of_calls_and_jobs(scenarios_dir: Path) -> None:
    rows = rows_for(scenarios_dir, PROBE_RUN)
    assert evidence_text(rows["C10"]) == (
        "`POST v1.0/jobs/dup` → 204; `POST v1.0/jobs/dup` → 409 "
        "(2/2 as expected, 1 body checks)")
    assert evidence_text(rows["C2a"]) == (
        "`h-500`: 4 deliveries (app answered 500×4), first 1.002 s "
        "after create, 0.999–1.001 s apart, 0 early, first 2.1 ms after its due time, "
        "by window: 2.5–end s: 2 (1–1 s apart)")


def test_many_calls_are_grouped_and_mismatches_shown(scenarios_dir: Path) -> None:
    calls = [call(f"dup-{i}", f"j{i}", 204, 204) for i in range(5)]
    calls.append(call("dup-x", "x", 400, 409))
    rows = rows_for(scenarios_dir, summary("0004-probe", "probe", passed=False, calls=calls))
    text = evidence_text(rows["C10"])
    assert "5× POST v1.0 → 204; 1× POST v1.0 → 400 (expected 409) (5/6 as expected)" in text
    assert text.endswith("run FAILED: status 400, expected 409")


def test_shown_by_uses_the_other_scenarios_run(scenarios_dir: Path) -> None:
    row = rows_for(scenarios_dir, PROBE_RUN, COMPARISON_RUN)["C1"]
    assert row.evidence_scenario == "comparison" and row.summary is COMPARISON_RUN
    assert evidence_text(row) == (
        "`tick`: 12 triggers, 1 per tick, per replica 6/3/3, "
        "ticks 11: once 11, lost 0, duplicated 0, early 0, lateness ≤ 4.5 ms; binding "
        "`cron-tick`: 36 triggers, 3 per tick, per replica 12/12/12; per (replica, tick): "
        "once 33, duplicated 0, lost 0 of 33")


def test_render_has_header_table_and_escaped_cells(scenarios_dir: Path) -> None:
    rows = claim_rows(load_claim_scenarios(scenarios_dir), [PROBE_RUN, COMPARISON_RUN])
    doc = render_claims(rows, generated_at="2026-11-28T22:00:00Z")
    assert doc.startswith("# Claims about Dapr's Jobs API, tested on real Dapr\n")
    assert "_Generated by `python -m harness claims`" in doc and "do not edit by hand" in doc
    assert "- Dapr: 1.18.3 " in doc and "- Harness commit(s): abc1234" in doc
    assert "probe 1 replica(s), 5 s" in doc and "comparison 3 replica(s), 24 s" in doc
    assert "- Verdicts: 2 holds, 1 wrong" in doc
    table = [line for line in doc.splitlines() if line.startswith("| C")]
    assert [line.split(" | ")[0] for line in table] == ["| C1", "| C2a", "| C10"]
    assert "Exists \\| 409." in table[2]  # a pipe in a statement cannot break the table
    assert "| **holds** | [probe](../scenarios/probe.yaml), run [0001-probe]" \
           "(evidence/0001-probe.json) |" in table[2]
    assert "[comparison](../scenarios/comparison.yaml), run [0002-comparison]" in table[0]
    assert "Nowhere among the claims tested" in doc


def test_facts_that_do_not_hold_are_listed(scenarios_dir: Path) -> None:
    failed = summary("0005-probe", "probe", passed=False)
    doc = render_claims(claim_rows(load_claim_scenarios(scenarios_dir), [failed]),
                        generated_at="now")
    assert f"- C10: Exists \\| 409. → {CHANGED}" in doc
    assert f"| {CHANGED} |" in doc and f"| {NOT_RUN} |" in doc


def test_write_claims_writes_document_and_evidence(scenarios_dir: Path, tmp_path: Path) -> None:
    runs = make_runs(tmp_path, PROBE_RUN, COMPARISON_RUN)
    out = tmp_path / "results"
    written = write_claims(runs, out, scenarios_dir)
    assert written[0] == out / "claims.md" and all(p.exists() for p in written)
    assert sorted(p.name for p in (out / "evidence").iterdir()) == [
        "0001-probe.json", "0002-comparison.json"]
    assert json.loads((out / "evidence" / "0001-probe.json").read_text()) == json.loads(
        PROBE_RUN.model_dump_json())


def test_write_claims_without_claim_scenarios_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "scenarios").mkdir()
    with pytest.raises(ValueError, match="no claim scenarios"):
        write_claims(tmp_path / "runs", tmp_path / "out", tmp_path / "scenarios")
