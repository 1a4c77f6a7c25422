"""The mutation report from mutmut's records (a fake mutmut: no mutants are run here)."""

from __future__ import annotations

import json
from pathlib import Path

from harness.bench.mutation import mutation_report, render

RESULTS = """    harness.check._ledger.x_place__mutmut_1: killed
    harness.check._ledger.x_place__mutmut_2: survived
    harness.check._window.x_first__mutmut_3: no tests
"""


def fake(root: Path):  # type: ignore[no-untyped-def]
    def run(args: list[str]) -> str:
        if args == ["export-cicd-stats"]:
            (root / "mutants").mkdir(exist_ok=True)
            (root / "mutants" / "mutmut-cicd-stats.json").write_text(json.dumps(
                {"total": 20, "killed": 17, "timeout": 1, "survived": 1, "no_tests": 1,
                 "suspicious": 0, "skipped": 0}))
            return ""
        if args == ["results"]:
            return RESULTS
        return f"# {args[1]}: survived\n--- a\n+++ b\n-x = 1\n+x = 2\n"
    return run


def test_share_killed_and_survivors_with_their_reasons(tmp_path: Path) -> None:
    why = {"harness.check._ledger.x_place__mutmut_2": "the two branches are equal here"}
    report = mutation_report(fake(tmp_path), why, root=tmp_path)
    assert (report.killed, report.judged) == (18, 20) and report.share == 0.9
    assert [s.name for s in report.unexplained] == ["harness.check._window.x_first__mutmut_3"]
    assert not report.passed  # 90 % killed, but one survivor is unexplained
    text = render(report)
    assert "**90.0% of 20 mutants of `harness/check/` killed**" in text
    assert "Why it is harmless: the two branches are equal here" in text
    assert "**Unexplained.**" in text and "+x = 2" in text
