"""Re-judging stored runs: results rewritten from today's checker, disclosed, then rechecked clean."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from harness.recheck import recheck_evidence, rejudge_evidence, render_rejudged

EVIDENCE = Path(__file__).resolve().parents[2] / "results" / "evidence"


def _copy_run(tmp_path: Path) -> str:
    summary = sorted(EVIDENCE.glob("*-comparison-*.json"))[0]
    run_id = summary.name[: -len(".json")]
    for suffix in (".json", ".scenario.json", ".history.jsonl.gz"):
        shutil.copyfile(EVIDENCE / f"{run_id}{suffix}", tmp_path / f"{run_id}{suffix}")
    return run_id


def test_a_run_judged_differently_is_rewritten_disclosed_and_then_rechecks_clean(tmp_path: Path) -> None:
    run_id = _copy_run(tmp_path)
    path = tmp_path / f"{run_id}.json"
    stored = json.loads(path.read_text())
    stored["mechanisms"][0]["attempts"] += 7  # a figure the checker will not give again
    path.write_text(json.dumps(stored))
    assert recheck_evidence(tmp_path)[0].differences
    changed = rejudge_evidence(tmp_path, "abc1234")
    assert [c.run_id for c in changed] == [run_id]
    assert json.loads(path.read_text())["judged_at"] == "abc1234"
    assert recheck_evidence(tmp_path)[0].differences == []
    page = render_rejudged(changed, "abc1234")
    assert run_id in page and "abc1234" in page and "attempts" in page


def test_a_run_judged_alike_is_left_as_it_was(tmp_path: Path) -> None:
    run_id = _copy_run(tmp_path)
    rejudge_evidence(tmp_path, "abc1234")  # bring it to today's checker first
    before = (tmp_path / f"{run_id}.json").read_bytes()
    assert rejudge_evidence(tmp_path, "def5678") == []
    assert (tmp_path / f"{run_id}.json").read_bytes() == before
