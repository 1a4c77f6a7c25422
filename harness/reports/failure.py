"""Expected vs observed, per mechanism and checker: what a failing scenario prints."""

from __future__ import annotations

from tabulate import tabulate

from harness.check import Bound
from harness.reports.context import commit_cell, replicas_cell
from harness.summary import RunSummary

__all__ = ["failure_report"]


def failure_report(summary: RunSummary) -> str:
    rows = [[
        e.mechanism, e.name, e.schedule, e.delivery_expected or "-", e.across.ticks, e.attempts,
        str(e.across.once), str(e.across.duplicated), str(e.across.lost),
        str(Bound(e.early_low, e.early)), e.verdict,
        "; ".join(e.reasons) or "-",
    ] for e in summary.mechanisms]
    table = tabulate(rows, headers=[
        "mechanism", "name", "schedule", "expected", "ticks", "attempts", "exactly once", "duplicated",
        "lost", "early", "verdict", "why"], tablefmt="github", disable_numparse=True)
    lines = [
        f"scenario {summary.scenario} {summary.verdict} on Dapr {summary.dapr.version} with "
        f"{replicas_cell(summary)} replica(s), window {summary.window_s:g}s, commit "
        f"{commit_cell(summary)} (run {summary.run_id})",
        "", table, "",
    ]
    lines += [f"{c.checker} ({c.verdict}): {reason}" for c in summary.checkers
              if not c.valid for reason in c.reasons]
    return "\n".join(lines)
