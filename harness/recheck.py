"""Recompute cited verdicts from stored histories with today's checkers (no Dapr needed).

Every run cited under ``results/evidence/`` has its summary (``<run>.json``), scenario
(``<run>.scenario.json``) and history (``<run>.history.jsonl.gz``). ``recheck_evidence`` runs
``harness.check.check_run`` on each and lists every difference from the stored summary: every
figure a report prints from it (checker verdicts; each mechanism's counts, bounds, lateness,
drift, phases and losses per replica; faults as carried out and their recovery times; Jobs API
calls, per-job expectations and trigger statistics). Checkers that need the live run (Dapr's
metrics, the driver's errors) are not recomputed.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.check import CheckReport, MechanismResult, check_run
from harness.record.history import load_history
from harness.scenario.model import Scenario
from harness.summary import load_summary

__all__ = ["RecheckOutcome", "recheck_evidence", "recheck_run", "verdict_now"]

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
    """Every field of a mechanism's result (the reports print from all of them)."""
    return json.loads(json.dumps(entry.to_dict(), default=str))


def _keyed(items: list[Any], key: Any) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for n, item in enumerate(items):
        data = item.to_dict() if hasattr(item, "to_dict") else (
            item.model_dump() if hasattr(item, "model_dump") else dict(item))
        out[f"{key(data)}#{n}"] = json.loads(json.dumps(data, default=str))
    return out


def _diff(label: str, before: dict[str, dict[str, Any]],
          after: dict[str, dict[str, Any]]) -> list[str]:
    found = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if a is None or b is None:
            found.append(f"{label} {key}: {'new' if a is None else 'gone'}")
            continue
        found += [f"{label} {key} {k}: {a.get(k)} -> {b.get(k)}"
                  for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    return found


_MEASURED = ("kind", "target", "replica", "member", "start_s", "end_s", "duration_s",
             "recovered_s", "recovery_s")


def _paths(evidence_dir: Path, run_id: str) -> dict[str, Path]:
    return {kind: evidence_dir / f"{run_id}{suffix}" for kind, suffix in (
        ("summary", ".json"), ("scenario", ".scenario.json"), ("history", ".history.jsonl.gz"))}


def _rechecked(paths: dict[str, Path]) -> tuple[Scenario, CheckReport]:
    scenario = Scenario.model_validate_json(paths["scenario"].read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "history.jsonl"
        plain.write_bytes(gzip.decompress(paths["history"].read_bytes()))
        return scenario, check_run(scenario, load_history(plain))


def verdict_now(evidence_dir: Path, run_id: str) -> str:
    """The verdict today's checkers give a stored run (its live checkers left out), or why
    there is none."""
    paths = _paths(evidence_dir, run_id)
    missing = [p.name for k, p in paths.items() if k != "summary" and not p.exists()]
    if missing:
        return "cannot recheck: missing " + ", ".join(missing)
    return _rechecked(paths)[1].verdict


def recheck_run(evidence_dir: Path, run_id: str) -> RecheckOutcome:
    outcome = RecheckOutcome(run_id)
    paths = _paths(evidence_dir, run_id)
    missing = [str(p.name) for p in paths.values() if not p.exists()]
    if missing:
        outcome.error = "missing " + ", ".join(missing)
        return outcome
    stored = load_summary(paths["summary"])
    _, report = _rechecked(paths)
    was = {c.checker: c.verdict for c in stored.checkers if c.checker not in LIVE_CHECKERS}
    now = {c.checker: c.verdict for c in report.checkers}
    outcome.differences += [f"checker {name}: {was.get(name)} -> {now.get(name)}"
                            for name in sorted(set(was) | set(now)) if was.get(name) != now.get(name)]
    before = {f"{m.mechanism} {m.name}": _figures(m) for m in stored.mechanisms}
    after = {f"{m.mechanism} {m.name}": _figures(m) for m in report.mechanisms}
    outcome.differences += _diff("mechanism", before, after)
    faults_then = [{k: getattr(f, k) for k in _MEASURED} for f in stored.faults]
    faults_now = [{k: v for k, v in f.to_dict(report.window.start).items() if k in _MEASURED}
                  for f in report.window.faults]
    outcome.differences += _diff("fault", _keyed(faults_then, lambda d: d["kind"]),
                                 _keyed(faults_now, lambda d: d["kind"]))
    outcome.differences += _diff("call", _keyed(stored.calls, lambda d: d.get("id")),
                                 _keyed(report.calls, lambda d: d.get("id")))
    outcome.differences += _diff("expect_jobs", _keyed(stored.expect_jobs, lambda d: d["job"]),
                                 _keyed(report.job_expectations, lambda d: d["job"]))
    outcome.differences += _diff("job_triggers", json.loads(json.dumps(stored.job_triggers)),
                                 json.loads(json.dumps(report.job_triggers, default=str)))
    return outcome


def recheck_evidence(evidence_dir: Path, run_ids: Sequence[str] = ()) -> list[RecheckOutcome]:
    """Recheck the named runs, or every run whose summary is under ``evidence_dir``."""
    ids = list(run_ids) or sorted(p.name[:-len(".json")] for p in evidence_dir.glob("*.json")
                                  if p.name.count(".") == 1)
    return [recheck_run(evidence_dir, run_id) for run_id in ids]
