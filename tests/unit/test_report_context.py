"""Every table of figures states its context (Dapr version, replicas that ran, schedule,
window, commit) as columns or in the caption above it; no report prints one number where the
record admits two readings."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import stored
from fakeruns import mechanism_result

from harness.check import Bound, CheckerResult, TickView
from harness.reports.adr import render_adr
from harness.reports.claims import claim_rows, load_claim_scenarios, render_claims
from harness.reports.compare import compare_runs
from harness.reports.comparison import headline_table, render_comparison
from harness.reports.context import CAPTION, CONTEXT
from harness.reports.failure import failure_report
from harness.reports.faults import render_faults
from harness.reports.versions import render_versions
from harness.summary import DaprInfo, Provenance, RunSummary

SCENARIOS = stored.ROOT / "scenarios"
# Tables that list builds or replaced runs, not figures measured in runs.
NOT_RUN_FIGURES = ("| version | built |", "| scenario | replaced run |")


def tables(text: str) -> list[tuple[str, list[str]]]:
    """(caption line above, header cells) of every Markdown table in ``text``."""
    found, lines = [], text.splitlines()
    for n, line in enumerate(lines):
        if line.startswith("|") and n + 1 < len(lines) and re.match(r"^\|[-: |]+\|$", lines[n + 1]) \
                and (n == 0 or not lines[n - 1].startswith("|")):
            above = next((lines[k] for k in range(n - 1, -1, -1) if lines[k].strip()), "")
            found.append((above, [c.strip() for c in line.strip("|").split("|")]))
    return found


def missing_context(text: str) -> list[str]:
    problems = []
    for caption, headers in tables(text):
        if any(("| " + " | ".join(headers) + " |").startswith(t) for t in NOT_RUN_FIGURES):
            continue
        shared = caption[len(CAPTION):] if caption.startswith(CAPTION) else ""
        words = {"Dapr": ("Dapr",), "replicas": ("replicas", "replica"), "schedule": ("schedule",),
                 "window": ("window",), "commit": ("commit", "harness")}
        for item in CONTEXT:
            if not any(w in h for h in headers for w in words[item]) and \
                    not any(w in shared for w in words[item]):
                problems.append(f"{headers[:3]}: no {item}")
    return problems


def stored_reports() -> dict[str, str]:
    latest = stored.latest()
    comparisons = [s for s in latest if s.kind == "comparison"]
    rows = claim_rows(load_claim_scenarios(SCENARIOS), latest, clean_only=True)
    record = json.loads((stored.RESULTS / "versions.json").read_text())
    return {
        "comparison.md": render_comparison(comparisons, title="t"),
        "faults.md": render_faults(stored.fault_runs(), results_dir=stored.RESULTS),
        "claims.md": render_claims(rows),
        "versions.md": render_versions(record, stored.RESULTS / "runs", stored.EVIDENCE,
                                       load_claim_scenarios(SCENARIOS)),
        "adr": render_adr(latest, stored.fault_runs(), Path("none.json"), results_dir=stored.RESULTS),
        "headline": headline_table(next(s for s in comparisons if s.scenario == "comparison")),
    }


@pytest.mark.parametrize("name", list(stored_reports()))
def test_every_table_has_its_context_columns(name: str) -> None:
    text = stored_reports()[name]
    assert tables(text), f"{name} has tables"
    assert missing_context(text) == []


def test_the_rule_catches_a_table_without_context() -> None:
    assert missing_context("x\n\n| a | b |\n|---|---|\n| 1 | 2 |\n") != []
    assert missing_context(f"{CAPTION} Dapr 1 · replicas 3 · schedule s · window 2 s · "
                           "commit c\n\n| a |\n|---|\n| 1 |\n") == []


# --- ambiguity ------------------------------------------------------------------------------

LOST, DUP, EARLY = Bound(7, 19), Bound(3, 11), Bound(2, 13)


def ambiguous_run(run_id: str = "0001-amb", scenario: str = "fault-kill-daprd",
                  kind: str = "fault") -> RunSummary:
    view = TickView(ticks=401, once=Bound(371, 391), duplicated=DUP, extra=DUP, lost=LOST)
    entry = mechanism_result("job", "cleanup-1", ticks=401, early=EARLY.high, early_low=EARLY.low)
    entry.across = entry.per_replica_view = view
    return RunSummary(run_id=run_id, scenario=scenario, kind=kind, started_at="2026-11-28T20:00:00Z",
                      dapr=DaprInfo(daprd="1.18.3"), provenance=Provenance(commit="abc1234"),
                      replicas=3, window_s=24, mechanisms=[entry],
                      checkers=[CheckerResult("promises", "ambiguous", [],
                                              {"verdicts": {"job cleanup-1": "ambiguous"}})])


def single_numbers(text: str) -> list[str]:
    """Strict-reading counts printed alone (not as the high end of ``low-high``)."""
    body = "\n".join(line for line in text.splitlines() if not line.startswith("_Generated"))
    return [m.group(0) for n in (LOST.high, DUP.high, EARLY.high)
            for m in re.finditer(rf"(?<![\d.\-\[]){n}(?![\d.\-\]%])", body)]


def test_no_report_prints_one_number_where_the_record_is_ambiguous(tmp_path: Path) -> None:
    run = ambiguous_run()
    comparison = ambiguous_run("0002-cmp", "comparison", "comparison")
    run.write(tmp_path / f"{run.run_id}.json")
    record = {"runs": {"1.18.3": {"fault-kill-daprd": run.run_id}}}
    reports = {
        "faults": render_faults({"fault-kill-daprd": [run]}),
        "compare": compare_runs(ambiguous_run(), comparison.model_copy(update={"mechanisms": []})),
        "failure": failure_report(run),
        "comparison": render_comparison([comparison], title="t"),
        "headline": headline_table(comparison),
        "adr": render_adr([comparison], {"fault-kill-daprd": [run]}, Path("none.json")),
    }
    reports["versions"] = render_versions(record, tmp_path / "runs", tmp_path, [])
    for name, text in reports.items():
        assert "7-19" in text, f"{name} shows the lost ticks' two readings"
        assert single_numbers(text) == [], f"{name} prints a strict count alone"
