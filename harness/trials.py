"""Trials planned from the precision asked, and the evidence rendered from them.

A scenario's ``evidence:`` block (``harness.scenario.model.EvidencePlan``) or the command line
asks for a bound: run at least ``min_trials``, then go on until the 95 % upper limit of every
asked rate (lost or duplicated ticks of the named mechanisms, strict reading, summed over the
runs) is at most ``upper_bound``, or ``max_trials`` runs were made. ``run_planned`` says which
happened (``ScenarioTrials.stopped``); ``python3 -m harness evidence`` records it in
``results/trials.json`` and faults.md quotes it.

Stopping once a bound holds is optional stopping: the interval is computed as if the number
of runs had been fixed, so it is slightly narrower than it should be; the caps keep that small
and faults.md states the runs made.

``render_evidence`` regenerates every report from a runs directory or from the committed
evidence itself (``results/evidence``), and ``record_replacements`` keeps
``results/replacements.json`` (a cited run replaced by newer runs of its scenario: its
verdict then, and why).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.reports.adr import write_adr
from harness.reports.claims import write_claims
from harness.reports.comparison import update_readme, write_reports
from harness.reports.evidence_log import (
    BoundCheck,
    Replacement,
    ScenarioTrials,
    cited_summaries,
    load_replacements,
    write_replacements,
)
from harness.reports.faults import fault_rows, latest_fault_runs, write_faults_report
from harness.reports.findings import Evidence, rendered_for, update_document
from harness.reports.rates import Rate
from harness.reports.versions import load_matrix_runs
from harness.scenario.model import EvidencePlan, Scenario
from harness.summary import RunSummary, latest_per_scenario, latest_runs, load_summary

__all__ = ["PlanOverrides", "bound_checks", "plan_for", "record_replacements",
           "render_evidence", "run_planned"]

EVIDENCE_FILES = (".json", ".scenario.json", ".history.jsonl.gz")


@dataclass(frozen=True)
class PlanOverrides:
    """What the command line asks, over each scenario's own ``evidence:`` block."""

    min_trials: int | None = None
    max_trials: int | None = None
    upper_bound: float | None = None


def plan_for(scenario: Scenario, overrides: PlanOverrides = PlanOverrides()) -> EvidencePlan:
    """The scenario's plan with the command line's values over it; a scenario without one
    runs once (fault scenarios twice), unless the command line asks for more."""
    base = scenario.evidence or EvidencePlan(min_trials=2 if scenario.kind == "fault" else 1,
                                             max_trials=2 if scenario.kind == "fault" else 1)
    if scenario.kind != "fault" and scenario.evidence is None:
        return base  # comparison and claim scenarios: their evidence is one run
    changes = {k: v for k, v in vars(overrides).items() if v is not None}
    if "min_trials" in changes and "max_trials" not in changes:
        changes["max_trials"] = max(base.max_trials, changes["min_trials"])
    if "max_trials" in changes and "min_trials" not in changes:
        changes["min_trials"] = min(base.min_trials, changes["max_trials"])
    return EvidencePlan.model_validate(base.model_dump() | changes)


def bound_checks(plan: EvidencePlan, scenario: str, runs: Sequence[RunSummary]) -> list[BoundCheck]:
    """Each asked rate over the runs so far (the same rows faults.md prints)."""
    if plan.upper_bound is None:
        return []
    rows = [r for r in fault_rows({scenario: list(runs)})
            if not plan.mechanisms or r.mechanism in plan.mechanisms]
    checks = []
    for row in rows:
        for rate in plan.rates:
            count = getattr(row, rate)
            checks.append(BoundCheck(mechanism=row.mechanism, rate=rate, count=count.high,
                                     ticks=row.ticks, upper=Rate.of(count, row.ticks).upper,
                                     target=plan.upper_bound))
    return checks


def run_planned(scenario: Scenario, plan: EvidencePlan,
                run_once: Callable[[Scenario], RunSummary],
                say: Callable[[str], None] = print) -> ScenarioTrials:
    """Run ``scenario`` as its plan says; the record names every run and why it stopped."""
    runs: list[RunSummary] = []
    checks: list[BoundCheck] = []
    stopped = "fixed"
    while len(runs) < plan.max_trials:
        runs.append(run_once(scenario))
        if len(runs) < plan.min_trials:
            continue
        if plan.upper_bound is None:
            if len(runs) >= plan.min_trials:
                break
            continue
        checks = bound_checks(plan, scenario.name, runs)
        if checks and all(c.held for c in checks):
            stopped = "bound held"
            break
        stopped = "cap reached"
        wide = [c for c in checks if not c.held]
        say(f"{scenario.name}: after {len(runs)} run(s) "
            + ", ".join(f"{c.mechanism} {c.rate} {c.count} of {c.ticks}: at most "
                        f"{100 * c.upper:.2f} % > {100 * c.target:g} %" for c in wide[:3]))
    record = ScenarioTrials(scenario=scenario.name, trials=len(runs), min_trials=plan.min_trials,
                            max_trials=plan.max_trials, upper_bound=plan.upper_bound,
                            stopped=stopped if plan.upper_bound is not None else "fixed",
                            checks=checks, run_ids=[r.run_id for r in runs])
    say(f"{scenario.name}: {record.sentence()}")
    return record


# --------------------------------------------------------------------------------------------
# Replacements
# --------------------------------------------------------------------------------------------


def _move_evidence(evidence_dir: Path, run_id: str) -> None:
    target = evidence_dir / "replaced"
    target.mkdir(parents=True, exist_ok=True)
    for suffix in EVIDENCE_FILES:
        source = evidence_dir / f"{run_id}{suffix}"
        if source.exists():
            shutil.move(source, target / source.name)
    plot = evidence_dir.parent / "plots" / f"{run_id}-timeline.png"
    plot.unlink(missing_ok=True)


def record_replacements(results_dir: Path, replaced: Sequence[str], reason: str) -> list[Replacement]:
    """Record that each run in ``replaced`` (its evidence in ``evidence/`` or already moved to
    ``evidence/replaced/``) is replaced by the cited runs of its scenario that came after it;
    its files go to ``evidence/replaced/`` so its verdict can still be recomputed."""
    if not reason.strip():
        raise ValueError("a replacement needs a reason (--reason)")
    evidence = results_dir / "evidence"
    known = load_replacements(results_dir)
    olds = {}
    for run_id in replaced:
        path = next((p for p in (evidence / f"{run_id}.json", evidence / "replaced" / f"{run_id}.json")
                     if p.exists()), None)
        if path is None:
            raise ValueError(f"no evidence of run {run_id} under {evidence} or {evidence / 'replaced'}")
        olds[run_id] = load_summary(path)
    for run_id in olds:  # all moved first: a replaced run never stands for another one
        _move_evidence(evidence, run_id)
    cited = cited_summaries(evidence, results_dir)
    for run_id, old in olds.items():
        newer = [s for s in latest_runs(cited, old.scenario, 1000) if s.age_key() > old.age_key()]
        if not newer:
            raise ValueError(f"run {run_id} has no newer cited run of {old.scenario} to replace it")
        entry = Replacement(replaced=run_id, scenario=old.scenario, verdict_then=old.verdict,
                            replaced_by=sorted(s.run_id for s in newer), reason=reason.strip(),
                            commit=", ".join(sorted({s.provenance.commit or "?" for s in newer})))
        known = [r for r in known if r.replaced != run_id] + [entry]
    write_replacements(results_dir, known)
    return known


# --------------------------------------------------------------------------------------------
# Rendering every report
# --------------------------------------------------------------------------------------------


def render_evidence(source_dir: Path, results_dir: Path, readme: Path | None, *,
                    allow_dirty: bool = False, trials: int = 100,
                    say: Callable[[str], None] = print) -> list[Path]:
    """comparison.md, claims.md, faults.md, the ADR and the README's headline and findings,
    from the runs under ``source_dir`` (a runs directory or ``results/evidence``)."""
    written = write_reports(source_dir, results_dir, allow_dirty=allow_dirty)
    written += write_claims(source_dir, results_dir, results_dir.parent / "scenarios",
                            allow_dirty=allow_dirty)
    written += write_faults_report(source_dir, results_dir, trials=trials, allow_dirty=allow_dirty)
    cited = cited_summaries(source_dir, results_dir)
    clean = [s for s in cited if s.provenance.clean or allow_dirty]
    summaries = latest_per_scenario(clean)
    fault_runs = latest_fault_runs(cited, trials, allow_dirty=allow_dirty)
    written.append(write_adr(source_dir, results_dir, summaries=summaries, fault_runs=fault_runs))
    if readme is not None:
        headline = latest_runs(clean, "comparison")
        if headline:
            update_readme(readme, headline[0])
        evidence = Evidence(summaries, fault_runs, load_matrix_runs(results_dir, source_dir))
        rendered = rendered_for("readme", evidence)
        readme.write_text(update_document(readme.read_text(encoding="utf-8"), rendered),
                          encoding="utf-8")
        for finding in rendered.values():
            if not finding.holds:
                say(f"finding {finding.finding.id} no longer holds: {'; '.join(finding.problems)}")
        written.append(readme)
    return written
