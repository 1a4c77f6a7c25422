"""The decision record (MADR form) whose every number comes from the cited runs of a clean tree.

"How to run scheduled work once when the app has N replicas": every mechanism the comparison
measured is an option. Each option states what the fault-free run measured (attempts and
deliveries per tick by their names, ticks once with the interval of that share), its standing
under faults from the ``promises`` verdicts and from the decision's own driver (once per tick:
no tick lost or run twice), and for lost and duplicated ticks the worst scenario beside the
pooled rate, each with its 95 % interval. The decision and its consequences are findings
(``findings.yaml``): statements whose figures come from queries over the same runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

from harness.check import Bound, MechanismResult
from harness.reports.comparison import mechanism_label
from harness.reports.context import commit_cell, context_of, context_table
from harness.reports.faults import (
    DEFAULT_TRIALS,
    FaultRow,
    fault_rows,
    latest_fault_runs,
    mechanism_standing,
    replacements_section,
    worst_and_pooled,
    worst_case_text,
)
from harness.reports.findings import Evidence, Rendered, rendered_for
from harness.reports.rates import Rate
from harness.scenario.mechanisms import MECHANISMS
from harness.reports.evidence_log import cited_summaries
from harness.summary import NoRuns, RunSummary, latest_per_scenario

__all__ = ["ADR_NAME", "PARTS", "evidence_for", "render_adr", "write_adr"]

ADR_NAME = "adr-jobs-api-or-cron-binding.md"
PARTS = {name: spec.stores for name, spec in MECHANISMS.items()}
LABELS = {name: spec.label for name, spec in MECHANISMS.items()}


def _cite(summary: RunSummary) -> str:
    return f"[{summary.run_id}](evidence/{summary.run_id}.json)"


def _named(summaries: Sequence[RunSummary], name: str) -> list[RunSummary]:
    return [s for s in summaries if s.scenario == name or s.scenario.startswith(f"{name}[")]


def _first(summary: RunSummary, mechanism: str) -> MechanismResult | None:
    return next((e for e in summary.mechanisms if e.mechanism == mechanism), None)


def _measured(entry: MechanismResult, summary: RunSummary) -> str:
    view = entry.across
    late = entry.lateness_ms
    timing = (f"lateness p50 {late['p50']:.1f} ms, max {late['max']:.1f} ms"
              if late.get("p50") is not None and late.get("max") is not None
              else f"drift {(entry.drift or {}).get('per_tick_ms')} ms per tick")
    deliveries = entry.deliveries / view.ticks if view.ticks else 0.0
    once = Rate.of(view.once, view.ticks)
    return (f"{round(entry.triggers_per_tick, 2):g} attempts and {round(deliveries, 2):g} "
            f"deliveries per tick over "
            f"{view.ticks} ticks; exactly once {view.once} of {view.ticks} ({once.share()}), "
            f"duplicated {view.duplicated}, lost {view.lost}, early "
            f"{Bound(entry.early_low, entry.early)}; {timing} "
            f"(run {_cite(summary)}; {context_of(summary, [entry]).replicas} replicas)")


def _once(entry: MechanismResult) -> bool:
    view = entry.across
    return view.ticks > 0 and view.once.low == view.ticks and not view.duplicated.high


def _fault_lines(rows: Sequence[FaultRow], mechanism: str) -> list[str]:
    mine = [r for r in rows if r.mechanism == mechanism]
    if not mine:
        return ["- Faults: no fault runs yet (`python3 -m harness evidence`)."]
    standing = mechanism_standing(rows, mechanism)
    good = not any(r.bad_runs or r.missed_once for r in mine)
    lines = [f"- {'Good' if good else 'Bad'} under faults: {standing}."]
    for rate in ("lost", "duplicated"):
        top, top_rate, all_rate = worst_and_pooled(rows, mechanism, rate)
        lines.append(
            f"- {rate.capitalize()} ticks per 1,000: worst case "
            f"{worst_case_text(top, top_rate)}, {top_rate.per_thousand()}; pooled over "
            f"{len(mine)} fault scenarios {all_rate.count} of {all_rate.total}, "
            f"{all_rate.per_thousand()} (95 % intervals).")
    return lines


def _options(comparison: RunSummary | None, rows: Sequence[FaultRow]) -> list[str]:
    if comparison is None:
        return ["No comparison run yet: `python3 -m harness run comparison`."]
    lines = []
    for entry in comparison.mechanisms:
        label = LABELS.get(entry.mechanism, entry.mechanism)
        if mechanism_label(entry, comparison) != entry.mechanism:
            label += " (durabletask-go v0.12.1: a build adaptation)"
        once = _once(entry)
        lines += [f"### {label} (`{entry.mechanism}` `{entry.name}`)", "",
                  f"- Measured without faults: {_measured(entry, comparison)}.",
                  f"- {'Good' if once else 'Bad'} without faults: "
                  + ("every tick delivered exactly once across the replicas." if once else
                     f"not once per tick across {comparison.replicas} replicas "
                     f"({entry.across.once} of {entry.across.ticks} ticks exactly once)."),
                  *_fault_lines(rows, entry.mechanism),
                  f"- Parts to run: {PARTS.get(entry.mechanism, '?')}.", ""]
    return lines


def _sweep(summaries: Sequence[RunSummary]) -> list[str]:
    found = sorted(_named(summaries, "mechanisms-sweep"), key=lambda s: s.replicas) or sorted(
        _named(summaries, "replica-sweep"), key=lambda s: s.replicas)
    if not found:
        return ["No replica sweep yet: `python3 -m harness run mechanisms-sweep`."]
    kinds = list(dict.fromkeys(e.mechanism for s in found for e in s.mechanisms))

    def cell(entry: MechanismResult | None) -> str:
        if entry is None or not entry.across.ticks:
            return "-"
        return f"{entry.triggers_per_tick:g} / {entry.deliveries / entry.across.ticks:g}"

    rows = [[s.replicas, *[cell(_first(s, k)) for k in kinds], _cite(s)] for s in found]
    return ["Each cell: attempts / deliveries per tick (a gated binding attempts on every "
            "replica and delivers the work once).", "",
            context_table(["asked replicas", *kinds, "run"], rows, [context_of(s) for s in found])]


def _bench(bench_json: Path) -> list[str]:
    if not bench_json.exists():
        return ["No benchmark yet: `python3 -m harness bench`."]
    from harness.reports.bench import headline_lines

    return [*headline_lines(json.loads(bench_json.read_text())["benchmarks"]), "",
            "Full figures: [bench.md](bench.md)."]


def _decision(findings: dict[str, Rendered]) -> list[str]:
    decision = findings.get("adr-decision")
    if decision is None:
        return ["Undecided: findings.yaml states no decision."]
    if not decision.holds:
        return ["The evidence does not support choosing the Jobs API as stated: "
                + "; ".join(decision.problems) + ".", "", decision.text]
    return [decision.text]


def evidence_for(summaries: Sequence[RunSummary],
                 fault_runs: dict[str, list[RunSummary]],
                 versions: dict[str, dict[str, RunSummary]] | None = None) -> Evidence:
    return Evidence(summaries=list(summaries), fault_runs=fault_runs, versions=versions or {})


def render_adr(summaries: Sequence[RunSummary], fault_runs: dict[str, list[RunSummary]],
               bench_json: Path, *, results_dir: Path | None = None,
               date: str | None = None) -> str:
    # Every mechanism side by side when that run exists; else the Jobs API and binding alone.
    comparison = (next(iter(_named(summaries, "mechanisms")), None)
                  or next(iter(_named(summaries, "comparison")), None))
    rows = fault_rows(fault_runs)
    findings = rendered_for("adr", evidence_for(summaries, fault_runs))
    cited = [*summaries, *(s for found in fault_runs.values() for s in found)]
    versions = sorted({s.dapr.version for s in cited}) or ["?"]
    commits = sorted({commit_cell(s) for s in cited}) or ["?"]
    consequences = [f"- {findings[key].text}" for key in findings if key.startswith("adr-consequence")]
    return "\n".join([
        "# Run scheduled work once across N replicas: Jobs API or cron binding (and the rest)", "",
        "_Generated by `python3 -m harness adr` from the cited runs of a clean tree; every "
        "number links to the run it comes from or is a finding checked against them "
        "(`harness/reports/findings.yaml`). Do not edit by hand._", "",
        f"- Status: proposed, on evidence from Dapr {', '.join(versions)}",
        f"- Date: {date or time.strftime('%Y-%m-%d')}",
        f"- Evidence: harness commit(s) {', '.join(commits)}; fault-free run "
        + (f"{_cite(comparison)} ({context_of(comparison).replicas} replicas, window "
           f"{comparison.window_s:g} s)" if comparison else "none")
        + f"; {sum(len(v) for v in fault_runs.values())} fault runs of {len(fault_runs)} "
        "scenarios ([faults.md](faults.md))", "",
        "## Context and problem statement", "",
        "The Task API must clean up completed todos on a schedule while it runs as several "
        "replicas of one app-id. Which Dapr mechanism runs that work once per tick for the "
        "whole app, and what happens to it when a replica, a sidecar or the Scheduler fails?", "",
        "## Decision drivers", "",
        "- Once per tick across replicas (no tick lost, none run twice), judged per run.",
        "- What each fault does: lost, duplicated and late ticks per 1,000, with 95 % intervals; "
        "the worst case and the pooled rate side by side.",
        "- Lateness and drift against the schedule.",
        "- The parts to run beside daprd, and the minimum Dapr version (see versions.md when present).", "",
        "## Considered options", "",
        *[f"- {LABELS.get(e.mechanism, e.mechanism)}" for e in (comparison.mechanisms if comparison else [])], "",
        "## Decision outcome", "", *_decision(findings), "",
        "### Consequences", "", *consequences,
        "- Neutral: the Scheduler service (and its etcd data) becomes part of what "
        "operations run and back up.", "",
        "## Pros and cons of the options", "",
        "Standing under faults: *Dapr's promise* is the `promises` checker's verdict for the "
        "mechanism (what Dapr documents for it; a workflow's promise allows skipped iterations); "
        "*once per tick* counts the fault runs with no tick lost or run twice under the strict "
        "reading, the decision's first driver.", "",
        *_options(comparison, rows),
        "### Replica sweep", "", *_sweep(summaries), "",
        *(replacements_section(results_dir, fault_runs) if results_dir else []),
        "## More information", "",
        "- Every claim of the Jobs API lesson, tested: [claims.md](claims.md).",
        "- Faults per mechanism with rates and bounds: [faults.md](faults.md).",
        *_bench(bench_json), "",
    ])


def write_adr(runs_dir: Path, out_dir: Path, *, allow_dirty: bool = False,
              trials: int = DEFAULT_TRIALS,
              summaries: Sequence[RunSummary] | None = None,
              fault_runs: dict[str, list[RunSummary]] | None = None) -> Path:
    loaded = cited_summaries(runs_dir, out_dir) if summaries is None or fault_runs is None else []
    if summaries is None:
        summaries = latest_per_scenario(loaded, clean_only=not allow_dirty)
    if not summaries:
        raise NoRuns(f"no runs of a clean tree with a summary.json under {runs_dir}; "
                         "run `python3 -m harness run` from a committed tree first")
    if fault_runs is None:
        fault_runs = latest_fault_runs(loaded, trials, allow_dirty=allow_dirty)
    out = out_dir / ADR_NAME
    out.write_text(render_adr(summaries, fault_runs, out_dir / "bench.json", results_dir=out_dir),
                   encoding="utf-8")
    return out

