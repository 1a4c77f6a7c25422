"""What changed between two runs (e.g. two Dapr versions, or before/after a harness change)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tabulate import tabulate

from harness.errors import UserError
from harness.check import MechanismResult
from harness.summary import RunSummary, load_summary

__all__ = ["UnknownRun", "compare_runs", "find_summary"]

FIELDS = ("ticks", "attempts", "deliveries", "retries", "triggers_per_tick", "once",
          "duplicated", "lost", "early", "verdict")
LATENESS = ("p50", "p99", "max")


class UnknownRun(UserError, LookupError):
    pass


def find_summary(runs_dir: Path, evidence_dir: Path, run_id: str) -> RunSummary:
    """A run's summary by full id or its number prefix, from the runs or the committed evidence."""
    candidates = sorted({p.stem for p in evidence_dir.glob("*.json") if "." not in p.stem}
                        | {p.parent.name for p in runs_dir.glob("*/summary.json")})
    matches = [c for c in candidates if c == run_id or c.startswith(f"{run_id}-")]
    if len(matches) != 1:
        what = "unknown" if not matches else "ambiguous"
        raise UnknownRun(f"{what} run id {run_id!r}; run ids are the folders of {runs_dir} "
                         f"and the files of {evidence_dir}")
    for path in (runs_dir / matches[0] / "summary.json", evidence_dir / f"{matches[0]}.json"):
        if path.exists():
            return load_summary(path)
    raise UnknownRun(f"run {matches[0]!r} has no summary")


def _entries(summary: RunSummary) -> dict[tuple[str, str], MechanismResult]:
    return {(e.mechanism, e.name): e for e in summary.mechanisms}


def _value(entry: MechanismResult | None, field: str) -> Any:
    if entry is None:
        return None
    if field in LATENESS:
        return entry.lateness_ms.get(field)
    if field in ("ticks", "once", "duplicated", "lost"):
        value = getattr(entry.across, field)
        return value if isinstance(value, int) else str(value)
    return getattr(entry, field)


def _delta(a: Any, b: Any) -> str:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return f"{b - a:+g}"
    return "" if a == b else "changed"


def compare_runs(a: RunSummary, b: RunSummary) -> str:
    """A Markdown report: context of each run, then every figure that differs."""
    context = [[key, a_val, b_val] for key, a_val, b_val in (
        ("run", a.run_id, b.run_id), ("scenario", a.scenario, b.scenario),
        ("Dapr", a.dapr.version, b.dapr.version),
        ("harness commit", a.provenance.commit, b.provenance.commit),
        ("replicas", a.replicas, b.replicas), ("window (s)", a.window_s, b.window_s),
        ("verdict", a.verdict, b.verdict))]
    rows = []
    ea, eb = _entries(a), _entries(b)
    for key in sorted(set(ea) | set(eb)):
        for field in (*FIELDS, *LATENESS):
            va, vb = _value(ea.get(key), field), _value(eb.get(key), field)
            if va != vb:
                label = f"lateness {field} (ms)" if field in LATENESS else field
                rows.append([f"{key[0]} {key[1]}", label, va, vb, _delta(va, vb)])
    changes = (tabulate(rows, headers=["mechanism", "figure", "A", "B", "B - A"], tablefmt="github",
                        disable_numparse=True)
               if rows else "No figure differs.")
    return "\n\n".join([tabulate(context, headers=["", "A", "B"], tablefmt="github"), changes])
