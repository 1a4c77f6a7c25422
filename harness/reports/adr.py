"""The decision record (MADR form) whose every number comes from the latest runs of a clean tree.

"How to run scheduled work once when the app has N replicas": every mechanism the comparison
measured is an option; its pros and cons cite the comparison, the replica sweep, the faults and
the benchmarks by run id. A section whose evidence has not been produced yet says which command
produces it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

from tabulate import tabulate

from harness.check import MechanismResult
from harness.reports.comparison import commit_cell, mechanism_label
from harness.reports.faults import DEFAULT_TRIALS, FaultRow, fault_rows, latest_fault_runs
from harness.scenario.mechanisms import MECHANISMS
from harness.summary import NoRuns, RunSummary, latest_per_scenario, load_summaries

__all__ = ["PARTS", "render_adr", "write_adr"]

ADR_NAME = "adr-jobs-api-or-cron-binding.md"
PARTS = {name: spec.stores for name, spec in MECHANISMS.items()}
LABELS = {name: spec.label for name, spec in MECHANISMS.items()}
ONCE_KINDS = set(MECHANISMS) - {"binding"}


def _cite(summary: RunSummary) -> str:
    return f"[{summary.run_id}](evidence/{summary.run_id}.json)"


def _named(summaries: Sequence[RunSummary], name: str) -> list[RunSummary]:
    return [s for s in summaries if s.scenario == name or s.scenario.startswith(f"{name}[")]


def _first(summary: RunSummary, mechanism: str) -> MechanismResult | None:
    return next((e for e in summary.mechanisms if e.mechanism == mechanism), None)


def _measured(entry: MechanismResult, summary: RunSummary) -> str:
    view = entry.across
    late = entry.lateness_ms
    timing = (f"lateness p50 {late['p50']} ms, max {late['max']} ms" if late.get("p50") is not None
              else f"drift {(entry.drift or {}).get('per_tick_ms')} ms per tick")
    return (f"{entry.triggers_per_tick:g} deliveries per tick over {view.ticks} ticks "
            f"({view.once} exactly once, {view.duplicated} duplicated, {view.lost} lost, "
            f"{entry.early} early); {timing} (run {_cite(summary)})")


def _fault_line(rows: Sequence[FaultRow], mechanism: str) -> str:
    mine = [r for r in rows if r.mechanism == mechanism]
    if not mine:
        return "no fault runs yet (`python3 -m harness run fault-... --repeat 2`)"
    ticks = sum(r.ticks for r in mine)
    lost = sum(r.lost.high for r in mine)
    dup = sum(r.duplicated.high for r in mine)
    worst = max(mine, key=lambda r: (r.lost.high + r.duplicated.high, r.ticks))
    return (f"under {len(mine)} fault scenarios, {lost} lost and {dup} duplicated of {ticks} "
            f"ticks (up to {1000 * (lost + dup) / max(ticks, 1):.1f} per 1,000); worst: "
            f"{worst.scenario} ({worst.lost} lost, {worst.duplicated} duplicated)")


def _options(comparison: RunSummary | None, rows: Sequence[FaultRow]) -> list[str]:
    if comparison is None:
        return ["No comparison run yet: `python3 -m harness run comparison`."]
    lines = []
    for entry in comparison.mechanisms:
        once = entry.across.once.high == entry.across.ticks > 0 and not entry.across.duplicated.high
        label = LABELS.get(entry.mechanism, entry.mechanism)
        if mechanism_label(entry, comparison) != entry.mechanism:
            label += " (durabletask-go v0.12.1: a build adaptation)"
        lines += [f"### {label} (`{entry.mechanism}` `{entry.name}`)", "",
                  f"- Measured: {_measured(entry, comparison)}.",
                  f"- {'Good' if once else 'Bad'}: "
                  + ("ran once per tick across the replicas." if once else
                     f"did not run once per tick across {comparison.replicas} replicas."),
                  f"- Faults: {_fault_line(rows, entry.mechanism)}.",
                  f"- Parts to run: {PARTS.get(entry.mechanism, '?')}.", ""]
    return lines


def _sweep(summaries: Sequence[RunSummary]) -> list[str]:
    found = sorted(_named(summaries, "mechanisms-sweep"), key=lambda s: s.replicas) or sorted(
        _named(summaries, "replica-sweep"), key=lambda s: s.replicas)
    if not found:
        return ["No replica sweep yet: `python3 -m harness run mechanisms-sweep`."]
    kinds = list(dict.fromkeys(e.mechanism for s in found for e in s.mechanisms))
    rows = [[s.replicas, *[(f"{e.triggers_per_tick:g}" if (e := _first(s, k)) else "-") for k in kinds],
             _cite(s)] for s in found]
    return [tabulate(rows, headers=["replicas", *(f"{k} deliveries/tick" for k in kinds), "run"],
                     tablefmt="github", disable_numparse=True)]


def _bench(bench_json: Path) -> list[str]:
    if not bench_json.exists():
        return ["No benchmark yet: `python3 -m harness bench`."]
    from harness.reports.bench import headline_lines

    return [*headline_lines(json.loads(bench_json.read_text())["benchmarks"]), "",
            "Full figures: [bench.md](bench.md)."]


def _decision(comparison: RunSummary | None) -> list[str]:
    if comparison is None:
        return ["Undecided: the comparison has not been run."]
    once = [e.mechanism for e in comparison.mechanisms
            if e.across.once.high == e.across.ticks > 0 and not e.across.duplicated.high]
    binding = _first(comparison, "binding")
    per_replica = binding is not None and binding.triggers_per_tick >= comparison.replicas > 1
    if "job" in once and per_replica:
        return [
            "Chosen option: **Jobs API**, because it ran once per tick across the replicas with "
            "only the Scheduler service beside daprd, while a cron binding ran on every replica "
            f"({binding.triggers_per_tick:g} deliveries per tick with {comparison.replicas} "
            "replicas). Use a cron binding only for work that must run in every replica.",
        ]
    return ["The evidence does not support choosing the Jobs API as stated; see the options above."]


def _consequences(rows: Sequence[FaultRow]) -> list[str]:
    """Consequences of choosing the Jobs API, each with the fault runs' own numbers."""
    jobs = [r for r in rows if r.mechanism == "job"]
    duplicated = [r for r in jobs if r.duplicated.high]
    lines = ["- Good: one delivery per tick for the whole app-id in fault-free runs, on the "
             "Scheduler's grid (no drift), with retries by failure policy."]
    if duplicated:
        lines.append("- Bad: delivery is at-least-once, not exactly-once: jobs were delivered "
                     "twice under " + ", ".join(f"{r.scenario} ({r.duplicated} of {r.ticks} "
                                                 "ticks)" for r in duplicated)
                     + ", so the handler must be idempotent.")
    else:
        lines.append("- Bad: Dapr promises at-least-once, not exactly-once; no duplicate was "
                     "seen in these fault runs, but the handler must still be idempotent.")
    for row in jobs:
        if row.stalled and row.max_lateness_ms is not None and row.scenario.endswith(
                ("kill-scheduler", "stop-scheduler", "scheduler-member")):
            lines.append(f"- Bad: {row.scenario} ({row.fault}, {row.trials} run(s)): "
                         f"{row.stalled} of {row.tasks} jobs stalled, the longest tick "
                         f"{row.max_lateness_ms / 1000:.1f} s late, then replayed back to back; "
                         "work must tolerate that lateness.")
    lines.append("- Neutral: the Scheduler service (and its etcd data) becomes part of what "
                 "operations run and back up.")
    return lines


def render_adr(summaries: Sequence[RunSummary], fault_runs: dict[str, list[RunSummary]],
               bench_json: Path) -> str:
    # Every mechanism side by side when that run exists; else the Jobs API and binding alone.
    comparison = (next(iter(_named(summaries, "mechanisms")), None)
                  or next(iter(_named(summaries, "comparison")), None))
    rows = fault_rows(fault_runs)
    cited = [*summaries, *(s for found in fault_runs.values() for s in found)]
    versions = sorted({s.dapr.version for s in cited}) or ["?"]
    commits = sorted({commit_cell(s) for s in cited}) or ["?"]
    return "\n".join([
        "# Run scheduled work once across N replicas: Jobs API or cron binding (and the rest)", "",
        "_Generated by `python3 -m harness adr` from the latest runs of a clean tree; every "
        "number links to the run it comes from. Do not edit by hand._", "",
        f"- Status: proposed, on evidence from Dapr {', '.join(versions)}",
        f"- Date: {time.strftime('%Y-%m-%d')}",
        f"- Evidence: harness commit(s) {', '.join(commits)}", "",
        "## Context and problem statement", "",
        "The Task API must clean up completed todos on a schedule while it runs as several "
        "replicas of one app-id. Which Dapr mechanism runs that work once per tick for the "
        "whole app, and what happens to it when a replica, a sidecar or the Scheduler fails?", "",
        "## Decision drivers", "",
        "- Once per tick across replicas (no tick lost, none run twice).",
        "- What each fault does: lost, duplicated and late ticks per 1,000.",
        "- Lateness and drift against the schedule.",
        "- The parts to run beside daprd, and the minimum Dapr version (see versions.md when present).", "",
        "## Considered options", "",
        *[f"- {LABELS.get(e.mechanism, e.mechanism)}" for e in (comparison.mechanisms if comparison else [])], "",
        "## Decision outcome", "", *_decision(comparison), "",
        "### Consequences", "", *_consequences(rows), "",
        "## Pros and cons of the options", "", *_options(comparison, rows),
        "### Replica sweep", "", *_sweep(summaries), "",
        "## More information", "",
        "- Every claim of the Jobs API lesson, tested: [claims.md](claims.md).",
        "- Faults per mechanism with rates and bounds: [faults.md](faults.md).",
        *_bench(bench_json), "",
    ])


def write_adr(runs_dir: Path, out_dir: Path, *, allow_dirty: bool = False,
              trials: int = DEFAULT_TRIALS) -> Path:
    loaded = load_summaries(runs_dir)
    summaries = latest_per_scenario(loaded, clean_only=not allow_dirty)
    if not summaries:
        raise NoRuns(f"no runs of a clean tree with a summary.json under {runs_dir}; "
                         "run `python3 -m harness run` from a committed tree first")
    fault_runs = latest_fault_runs(loaded, trials, allow_dirty=allow_dirty)
    out = out_dir / ADR_NAME
    out.write_text(render_adr(summaries, fault_runs, out_dir / "bench.json"), encoding="utf-8")
    return out
