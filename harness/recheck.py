"""Recompute cited verdicts from stored histories with today's checkers (no Dapr needed).

Every run cited under ``results/evidence/`` has its summary (``<run>.json``), scenario
(``<run>.scenario.json``) and history (``<run>.history.jsonl.gz``). ``recheck_evidence`` runs
``harness.check.check_run`` on each and lists every difference from the stored summary: a
checker's verdict, or a mechanism's counts. Checkers that need the live run (Dapr's metrics,
the driver's errors) are not recomputed.
"""

from __future__ import annotations

import gzip
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.check import MechanismResult, check_run
from harness.record.history import load_history
from harness.scenario.model import Scenario
from harness.summary import load_summary

__all__ = ["RecheckOutcome", "recheck_evidence", "recheck_run"]

LIVE_CHECKERS = frozenset({"metrics", "driver"})


@dataclass
class RecheckOutcome:
    run_id: str
    differences: list[str] = field(default_factory=list)
    error: str | None = None

    def line(self) -> str:
        if self.error:
            return f"{self.run_id}: cannot recheck: {self.error}"
        if not self.differences:
            return f"{self.run_id}: same verdicts"
        return f"{self.run_id}: " + "; ".join(self.differences)


def _figures(entry: MechanismResult) -> dict[str, Any]:
    d = entry.to_dict()
    return {k: d[k] for k in ("across", "per_replica_view", "accounting", "attempts", "deliveries",
                              "retries", "early", "late", "replayed", "verdict", "drift")}


def recheck_run(evidence_dir: Path, run_id: str) -> RecheckOutcome:
    outcome = RecheckOutcome(run_id)
    paths = {kind: evidence_dir / f"{run_id}{suffix}" for kind, suffix in (
        ("summary", ".json"), ("scenario", ".scenario.json"), ("history", ".history.jsonl.gz"))}
    missing = [str(p.name) for p in paths.values() if not p.exists()]
    if missing:
        outcome.error = "missing " + ", ".join(missing)
        return outcome
    stored = load_summary(paths["summary"])
    scenario = Scenario.model_validate_json(paths["scenario"].read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "history.jsonl"
        plain.write_bytes(gzip.decompress(paths["history"].read_bytes()))
        report = check_run(scenario, load_history(plain))
    was = {c.checker: c.verdict for c in stored.checkers if c.checker not in LIVE_CHECKERS}
    now = {c.checker: c.verdict for c in report.checkers}
    outcome.differences += [f"checker {name}: {was.get(name)} -> {now.get(name)}"
                            for name in sorted(set(was) | set(now)) if was.get(name) != now.get(name)]
    before = {(m.mechanism, m.name): _figures(m) for m in stored.mechanisms}
    after = {(m.mechanism, m.name): _figures(m) for m in report.mechanisms}
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if a is None or b is None:
            outcome.differences.append(f"{key[0]} {key[1]}: {'new' if a is None else 'gone'}")
            continue
        outcome.differences += [f"{key[0]} {key[1]} {k}: {a[k]} -> {b[k]}" for k in a if a[k] != b[k]]
    return outcome


def recheck_evidence(evidence_dir: Path, run_ids: Sequence[str] = ()) -> list[RecheckOutcome]:
    """Recheck the named runs, or every run whose summary is under ``evidence_dir``."""
    ids = list(run_ids) or sorted(p.name[:-len(".json")] for p in evidence_dir.glob("*.json")
                                  if p.name.count(".") == 1)
    return [recheck_run(evidence_dir, run_id) for run_id in ids]
