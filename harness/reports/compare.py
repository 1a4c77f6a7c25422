"""What changed between two runs (e.g. two Dapr versions, or before/after a harness change)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tabulate import tabulate

__all__ = ["UnknownRun", "compare_runs", "find_summary"]

FIELDS = ("ticks_expected", "triggers", "triggers_per_tick", "exactly_once_ticks",
          "duplicated_ticks", "lost_ticks", "early_triggers", "verdict")
LATENESS = ("p50", "p99", "max")


class UnknownRun(LookupError):
    pass


def find_summary(runs_dir: Path, evidence_dir: Path, run_id: str) -> dict[str, Any]:
    """A run's summary by full id or its number prefix, from the runs or the committed evidence."""
    candidates = sorted({p.stem for p in evidence_dir.glob("*.json")}
                        | {p.parent.name for p in runs_dir.glob("*/summary.json")})
    matches = [c for c in candidates if c == run_id or c.startswith(f"{run_id}-")]
    if len(matches) != 1:
        what = "unknown" if not matches else "ambiguous"
        raise UnknownRun(f"{what} run id {run_id!r}; run ids are the folders of {runs_dir} "
                         f"and the files of {evidence_dir}")
    for path in (runs_dir / matches[0] / "summary.json", evidence_dir / f"{matches[0]}.json"):
        if path.exists():
            return json.loads(path.read_text())
    raise UnknownRun(f"run {matches[0]!r} has no summary")


def _entries(summary: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["mechanism"], e["name"]): e for e in summary.get("mechanisms", [])}


def _value(entry: dict[str, Any] | None, field: str) -> Any:
    if entry is None:
        return None
    if field in LATENESS:
        return entry["lateness_ms"].get(field)
    return entry.get(field)


def _delta(a: Any, b: Any) -> str:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return f"{b - a:+g}"
    return "" if a == b else "changed"


def compare_runs(a: dict[str, Any], b: dict[str, Any]) -> str:
    """A Markdown report: context of each run, then every figure that differs."""
    context = [[key, a_val, b_val] for key, a_val, b_val in (
        ("run", a["run_id"], b["run_id"]), ("scenario", a["scenario"], b["scenario"]),
        ("Dapr", a["dapr"]["runtime"], b["dapr"]["runtime"]),
        ("harness commit", a.get("harness_commit"), b.get("harness_commit")),
        ("replicas", a["replicas"], b["replicas"]), ("window (s)", a["window_s"], b["window_s"]),
        ("passed", a["passed"], b["passed"]))]
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
