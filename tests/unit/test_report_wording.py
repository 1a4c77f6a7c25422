"""The smaller errors a reviewer found in the reports' wording, each pinned by a test."""

from __future__ import annotations

import json
import re

import stored
import yaml
from fakeruns import mechanism_result

from harness.reports.bench import render_bench
from harness.reports.claims import claim_rows, load_claim_scenarios, render_claims
from harness.reports.comparison import TABLE_HEADERS, terminal_tables, write_wide_table
from harness.reports.faults import render_faults
from harness.summary import DaprInfo, Provenance, RunSummary

SCENARIOS = stored.ROOT / "scenarios"
MEASURED_DURATION = re.compile(r"\babout \d+(\.\d+)? ?s\b")


def test_faults_md_states_the_runs_each_scenario_has_not_a_fixed_count() -> None:
    text = render_faults(stored.fault_runs(), generated_at="now")
    assert "latest 3" not in text and "from the latest" not in text
    assert "Cited runs: 2 run(s) of 15 scenario(s); 3 run(s) of fault-scheduler-member." in text


def test_no_prose_quotes_a_measured_duration_by_hand() -> None:
    """Durations the runs measure (recovery, stalls) come from the record, not from prose."""
    for path in SCENARIOS.glob("*.yaml"):
        raw = yaml.safe_load(path.read_text()) or {}
        texts = [raw.get("description") or ""]
        texts += [c.get("observed", "") for c in raw.get("claims", []) + [raw.get("claim") or {}]]
        for text in texts:
            assert not MEASURED_DURATION.search(text), f"{path.name}: {text[:80]}"
    assert not MEASURED_DURATION.search(stored.ROOT.joinpath("README.md").read_text())


def test_the_bench_says_what_the_missing_recurring_fires_are() -> None:
    text = render_bench(json.loads((stored.RESULTS / "bench.json").read_text()))
    assert "- 1000 jobs: 860 of 60,000 expected fires (1.4 %) were not recorded before the " \
           "20 s window closed" in text
    assert "does not tell a late fire from a lost one" in text


def test_a_claim_whose_run_lost_ticks_shows_them() -> None:
    rows = claim_rows(load_claim_scenarios(SCENARIOS), stored.latest(), clean_only=True)
    text = render_claims(rows)
    c5b = next(line for line in text.splitlines() if line.startswith("| C5b |"))
    assert "tick model of its first schedule" in c5b and "lost 1-4" in c5b


def test_run_prints_the_compact_table_and_keeps_the_wide_one(tmp_path) -> None:
    summary = RunSummary(run_id="0001-x", scenario="comparison", dapr=DaprInfo(daprd="1.18.3"),
                         provenance=Provenance(commit="abc1234"), replicas=3, window_s=24,
                         mechanisms=[mechanism_result("job", "a")])
    compact = terminal_tables([summary])
    header = next(line for line in compact.splitlines() if line.startswith("| mechanism"))
    assert header.count("|") - 1 <= 13 and "Dapr 1.18.3" in compact
    wide = write_wide_table(tmp_path, summary).read_text()
    assert all(h in wide for h in TABLE_HEADERS)
