"""Findings as data: each statement of the README and the ADR is rendered from its query over
the committed evidence and holds there; a changed figure makes it read CHANGED."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import stored
from fakeruns import mechanism_result

from harness.check import CheckerResult
from harness.reports.findings import (
    CHANGED,
    Evidence,
    FindingError,
    blocks,
    load_findings,
    render_finding,
    rendered_for,
    update_document,
)
from harness.summary import RunSummary

README = stored.ROOT / "README.md"
ADR = stored.RESULTS / "adr-jobs-api-or-cron-binding.md"


@pytest.mark.parametrize("finding", load_findings(), ids=lambda f: f.id)
def test_every_finding_holds_on_the_committed_evidence(finding) -> None:
    rendered = render_finding(finding, stored.evidence())
    assert rendered.problems == ()
    assert CHANGED not in rendered.text
    assert not re.search(r"\{\w+\[", rendered.text), "every placeholder is filled"


def test_the_readme_shows_each_readme_finding_as_rendered_from_its_runs() -> None:
    shown = blocks(README.read_text(encoding="utf-8"))
    rendered = rendered_for("readme", stored.evidence())
    assert set(shown) == set(rendered), "every README finding is in the README, once"
    for key, found in rendered.items():
        assert shown[key] == found.text, f"{key}: README differs from its runs"


def test_the_adr_states_each_adr_finding_as_rendered_from_its_runs() -> None:
    text = ADR.read_text(encoding="utf-8")
    for key, found in rendered_for("adr", stored.evidence()).items():
        assert found.text in text, f"{key}: the ADR differs from its runs"


def test_readme_prose_about_dapr_has_no_figure_outside_a_finding() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("What the matrix found"):text.index("### The real dapr CLI")]
    bullets = [line for line in section.splitlines() if line.startswith("- ")]
    assert bullets and all(line.startswith("- <!-- finding:") for line in bullets)
    shows = text[text.index("What the cited runs show"):text.index("Full tables, timelines")]
    assert all(line.startswith("- <!-- finding:") for line in shows.splitlines()
               if line.startswith("- "))


def test_the_daprd_log_wording_is_the_get_answer_that_the_record_shows() -> None:
    text = README.read_text(encoding="utf-8")
    assert "daprd logs `proto:" not in text
    assert "a GET of one answers (GET 500) `failed to encode response as JSON: proto:" in text


def _with_a_lost_job_tick(evidence: Evidence) -> Evidence:
    runs = {k: list(v) for k, v in evidence.fault_runs.items()}
    lossy = RunSummary(run_id="9999-lossy", scenario="fault-kill-daprd", kind="fault",
                       started_at="2099-01-01T00:00:00Z",
                       checkers=[CheckerResult("promises", "fail", ["a: 1 tick(s) lost"])],
                       mechanisms=[mechanism_result("job", "cleanup-1", ticks=10, lost=(1, 1))])
    runs["fault-kill-daprd"].append(lossy)
    return Evidence(evidence.summaries, runs, evidence.versions)


def test_a_finding_reads_changed_when_its_figures_no_longer_hold() -> None:
    (finding,) = [f for f in load_findings() if f.id == "readme-jobs-faults"]
    rendered = render_finding(finding, _with_a_lost_job_tick(stored.evidence()))
    assert rendered.problems == ("job.count_high is 1, expected 0",)
    assert rendered.text.startswith(f"**{CHANGED}** (readme-jobs-faults: job.count_high is 1")


def test_update_document_renders_blocks_and_refuses_an_unknown_one() -> None:
    rendered = rendered_for("readme", stored.evidence())
    text = "a <!-- finding:readme-1.18.3 -->old<!-- /finding:readme-1.18.3 --> b"
    assert rendered["readme-1.18.3"].text in update_document(text, rendered)
    with pytest.raises(FindingError, match="findings.yaml does not list"):
        update_document("<!-- finding:nope -->x<!-- /finding:nope -->", rendered)


def test_a_bad_findings_file_is_one_line_naming_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "findings.yaml"
    bad.write_text("- {id: x, document: readme, statement: s, queries: {a: {query: nope}}}\n")
    with pytest.raises(FindingError, match=r"finding x queries.a.query: 'nope' is not one of"):
        load_findings(bad)
    bad.write_text("- {id: x, document: web, statement: s, queries: {}}\n")
    with pytest.raises(FindingError, match=r"finding 0 field document"):
        load_findings(bad)
