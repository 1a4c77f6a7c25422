"""``results/faults.md``: what each fault did to every mechanism, compact first, detail below.

Input: the typed summaries of the fault scenarios (``kind == "fault"``), the cited runs of each
(the latest K of a clean tree). The document opens with a matrix (one row per fault scenario,
one column per mechanism; each cell the ``promises`` verdict and the lost and duplicated ticks
per 1,000 with their 95 % intervals), then the worst case beside the pooled rate of each
mechanism, the replaced runs, and per scenario a wide table with one row per run and mechanism
(each row naming its own run's fault as asked and as carried out) and the phases. Each cited
run's summary and history are copied as evidence.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tabulate import tabulate

from harness.check import PHASES, Bound, MechanismResult, worst
from harness.recheck import verdict_now
from harness.reports.comparison import mechanism_label, plot_timeline
from harness.reports.context import (
    CAPTION,
    Context,
    commit_cell,
    context_of,
    context_table,
    faults_cell,
    markdown_table,
    unique,
)
from harness.reports.evidence_log import (
    Replacement,
    TrialsRecord,
    cited_summaries,
    load_replacements,
    load_trials,
)
from harness.reports.rates import Rate, pooled
from harness.scenario.mechanisms import MECHANISMS
from harness.summary import (
    NoRuns,
    RunSummary,
    copy_evidence,
    latest_runs,
    load_run_history,
)

__all__ = ["DEFAULT_TRIALS", "FaultRow", "compact_matrix", "fault_rows", "latest_fault_runs",
           "mechanism_standing", "render_faults", "worst_case_text", "replacements_section", "worst_and_pooled",
           "write_faults_report"]

DEFAULT_TRIALS = 2
DETAIL_HEADERS = [
    "run", "fault (asked, carried out)", "mechanism", "ticks", "lost", "duplicated", "late",
    "replayed", "retries", "stalled tasks", "max lateness (ms)", "lost / 1,000 [95 %]",
    "dup / 1,000 [95 %]", "early / 1,000 [95 %]", "once [95 %]", "lost on replica",
    "recovery (s)", "attempts", "deliveries", "before/after window", "unexplained", "promises",
]
PROMISES = (
    "**Jobs API** (scheduler-backed): every tick delivered at least once (duplicates allowed), "
    "never before its time; no tick lost under either reading of the record.",
    "**cron binding**: every sidecar fires its own ticks from memory; ticks are lost only on a "
    "replica whose sidecar or app a fault took down, from the fault's start until one period "
    "after it recovered; a tick never fires twice on one replica.",
)


def latest_fault_runs(summaries: Iterable[RunSummary], trials: int = DEFAULT_TRIALS, *,
                      allow_dirty: bool = False) -> dict[str, list[RunSummary]]:
    """Fault scenario -> its ``trials`` newest runs (of a clean tree), oldest first."""
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    summaries = [s for s in summaries if s.kind == "fault"]
    names = sorted({s.scenario for s in summaries})
    runs = {name: latest_runs(summaries, name, trials, clean_only=not allow_dirty)[::-1]
            for name in names}
    return {name: found for name, found in runs.items() if found}


def _add(a: Bound, b: Bound) -> Bound:
    return Bound(a.low + b.low, a.high + b.high)


@dataclass
class FaultRow:
    """One scenario and mechanism, summed over the runs given."""

    scenario: str
    mechanism: str
    label: str = ""  # the mechanism as tables name it (marked where an adaptation touches it)
    run_ids: list[str] = field(default_factory=list)
    contexts: list[Context] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)  # per run, as asked and carried out
    ticks: int = 0
    attempts: int = 0
    deliveries: int = 0
    before_window: int = 0
    after_window: int = 0
    unexplained: int = 0
    once: Bound = Bound()
    lost: Bound = Bound()
    duplicated: Bound = Bound()
    early: Bound = Bound()
    late: int = 0
    replayed: int = 0
    retries: int = 0
    failed: int = 0
    tasks: int = 0
    stalled: int = 0
    max_lateness_ms: float | None = None
    lost_by_replica: dict[int, int] = field(default_factory=dict)
    recovery_s: list[float] = field(default_factory=list)
    promise_verdicts: list[str] = field(default_factory=list)
    # Runs in which a tick was lost or delivered twice (strict reading): the decision's driver
    # "once per tick" missed, whatever Dapr promises for the mechanism.
    missed_once: list[str] = field(default_factory=list)
    phases: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def trials(self) -> int:
        return len(self.run_ids)

    @property
    def context(self) -> Context:
        return Context.joined(self.contexts)

    @property
    def lost_rate(self) -> Rate:
        return Rate.of(self.lost, self.ticks)

    @property
    def duplicated_rate(self) -> Rate:
        return Rate.of(self.duplicated, self.ticks)

    @property
    def early_rate(self) -> Rate:
        return Rate.of(Bound(min(self.early.low, self.ticks), min(self.early.high, self.ticks)),
                       self.ticks)

    @property
    def once_rate(self) -> Rate:
        return Rate.of(self.once, self.ticks)

    @property
    def bad_runs(self) -> int:
        return sum(v not in ("pass", "n/a") for v in self.promise_verdicts)

    @property
    def verdict(self) -> str:
        bad = [v for v in self.promise_verdicts if v not in ("pass", "n/a")]
        return f"pass ({self.trials}/{self.trials})" if not bad else \
            f"{max(bad, key=['ambiguous', 'fail'].index)} ({len(bad)}/{self.trials})"

    def add(self, entry: MechanismResult) -> None:
        view = entry.across if entry.view == "across replicas" else entry.per_replica_view
        self.ticks += view.ticks
        self.once = _add(self.once, view.once)
        self.lost, self.duplicated = _add(self.lost, view.lost), _add(self.duplicated, view.duplicated)
        self.early = _add(self.early, Bound(entry.early_low, entry.early))
        self.attempts += entry.attempts
        self.deliveries += entry.deliveries
        self.before_window += entry.accounting.before_window
        self.after_window += entry.accounting.after_window
        self.unexplained += entry.accounting.early + entry.accounting.unexplained
        self.late += entry.late
        self.replayed += entry.replayed
        self.retries += entry.retries
        self.failed += entry.failed
        self.tasks += 1
        self.stalled += int(entry.replayed > 0)
        late = entry.lateness_ms.get("max")
        if late is not None:
            self.max_lateness_ms = max(self.max_lateness_ms or 0.0, late)
        for replica, n in (entry.lost_by_replica or {}).items():
            self.lost_by_replica[replica] = self.lost_by_replica.get(replica, 0) + n
        for phase, tally in entry.phases.items():
            total = self.phases.setdefault(phase, {})
            for key, value in tally.items():
                total[key] = total.get(key, 0) + value


def _promise(summary: RunSummary, mechanism: str) -> str:
    """The promises checker's verdict on this mechanism's tasks in ``summary``."""
    checker = next((c for c in summary.checkers if c.checker == "promises"), None)
    if checker is None:
        return "n/a"
    per_task = checker.details.get("verdicts")
    if not isinstance(per_task, dict):  # a summary that kept only the run's verdict
        return checker.verdict
    mine = [v for key, v in per_task.items() if key.split(" ", 1)[0] == mechanism]
    return worst(mine) if mine else "n/a"


def _mechanism_order(mechanism: str) -> int:
    names = list(MECHANISMS)
    return names.index(mechanism) if mechanism in names else len(names)


def fault_rows(runs: dict[str, list[RunSummary]]) -> list[FaultRow]:
    """One row per scenario and mechanism (its jobs or bindings summed), over its runs."""
    rows: list[FaultRow] = []
    for scenario, summaries in runs.items():
        by_mechanism: dict[str, FaultRow] = {}
        for summary in summaries:
            for entry in summary.mechanisms:
                row = by_mechanism.setdefault(entry.mechanism, FaultRow(
                    scenario, entry.mechanism, label=mechanism_label(entry, summary)))
                if summary.run_id not in row.run_ids:
                    row.run_ids.append(summary.run_id)
                    row.contexts.append(context_of(summary, [entry]))
                    row.faults.append(faults_cell(summary))
                    row.recovery_s += [f.recovery_s for f in summary.faults
                                       if f.recovery_s is not None]
                    row.promise_verdicts.append(_promise(summary, entry.mechanism))
                row.add(entry)
                view = entry.across if entry.view == "across replicas" else entry.per_replica_view
                if (view.lost.high or view.duplicated.high) and summary.run_id not in row.missed_once:
                    row.missed_once.append(summary.run_id)
        rows += [by_mechanism[m] for m in sorted(by_mechanism, key=_mechanism_order)]
    return rows


def _lost_on(row: FaultRow) -> str:
    if not row.lost_by_replica:
        return "-"
    lost = {r: n for r, n in sorted(row.lost_by_replica.items()) if n}
    return ", ".join(f"r{r}: {n}" for r, n in lost.items()) or "none"


def _recovery(row: FaultRow) -> str:
    if not row.recovery_s:
        return "-"
    low, high = min(row.recovery_s), max(row.recovery_s)
    return f"{low:.1f}" if round(low, 1) == round(high, 1) else f"{low:.1f}-{high:.1f}"


def _run_link(run_id: str) -> str:
    return f"[{run_id.split('-', 1)[0]}](evidence/{run_id}.json)"


def _runs_cell(row: FaultRow) -> str:
    return ", ".join(_run_link(r) for r in row.run_ids)


# --------------------------------------------------------------------------------------------
# Compact: the matrix
# --------------------------------------------------------------------------------------------


def _cell(row: FaultRow | None) -> str:
    if row is None:
        return ""
    return (f"{row.verdict}<br>lost {row.lost} of {row.ticks}: {row.lost_rate.per_thousand()}"
            f"<br>dup {row.duplicated}: {row.duplicated_rate.per_thousand()}")


def compact_matrix(rows: Sequence[FaultRow], runs: dict[str, list[RunSummary]]) -> str:
    """Fault scenario x mechanism: verdict, lost and duplicated per 1,000 ticks [95 %]."""
    mechanisms = sorted({r.mechanism for r in rows}, key=_mechanism_order)
    by_key = {(r.scenario, r.mechanism): r for r in rows}
    cells, contexts = [], []
    for scenario, summaries in runs.items():
        contexts.append(Context.joined([context_of(s) for s in summaries]))
        first = summaries[-1].faults[0].kind if summaries[-1].faults else "?"
        cells.append([scenario, first, len(summaries),
                      *(_cell(by_key.get((scenario, m))) for m in mechanisms)])
    return context_table(["scenario", "fault", "runs", *mechanisms], cells, contexts)


# --------------------------------------------------------------------------------------------
# Worst case and pooled rate, standing
# --------------------------------------------------------------------------------------------


def worst_and_pooled(rows: Sequence[FaultRow], mechanism: str, rate: str) -> tuple[FaultRow, Rate, Rate]:
    """The row with the highest strict rate of ``rate`` ("lost" or "duplicated") for the
    mechanism, its rate, and the rate pooled over all its rows."""
    mine = [r for r in rows if r.mechanism == mechanism]
    if not mine:
        raise ValueError(f"no fault rows of {mechanism}")
    rates = {id(r): getattr(r, f"{rate}_rate") for r in mine}
    top = max(mine, key=lambda r: (rates[id(r)].point[1], rates[id(r)].upper))
    return top, rates[id(top)], pooled(rates.values())


def worst_case_text(top: FaultRow, rate: Rate) -> str:
    """``fault-x: 4 of 72``; when no scenario counted any, the one whose bound is widest."""
    if rate.count.high:
        return f"{top.scenario}: {rate.count} of {top.ticks}"
    return f"none counted; widest bound {top.scenario} (0 of {top.ticks})"


def mechanism_standing(rows: Sequence[FaultRow], mechanism: str) -> str:
    """Whether the mechanism kept Dapr's promise for it (the promises checker's verdicts), and
    in how many fault runs it ran once per tick (no tick lost or run twice, strict reading)."""
    mine = [r for r in rows if r.mechanism == mechanism]
    if not mine:
        return "no fault runs"
    runs = sum(r.trials for r in mine)
    broken = [r for r in mine if r.bad_runs]
    promise = (f"kept Dapr's promise in all {runs} fault runs" if not broken else
               f"broke Dapr's promise in {sum(r.bad_runs for r in broken)} of {runs} fault runs ("
               + ", ".join(f"{r.scenario} {r.verdict}" for r in broken) + ")")
    missed = [r for r in mine if r.missed_once]
    if not missed:
        return f"{promise}; once per tick in all {runs}"
    return (f"{promise}; once per tick in {runs - sum(len(r.missed_once) for r in missed)} of "
            f"{runs}: " + ", ".join(f"{r.scenario} lost {r.lost} and duplicated "
                                    f"{r.duplicated} of {r.ticks}" for r in missed))


def _worst_table(rows: Sequence[FaultRow]) -> str:
    mechanisms = sorted({r.mechanism for r in rows}, key=_mechanism_order)
    cells, contexts = [], []
    for mechanism in mechanisms:
        for rate in ("lost", "duplicated"):
            top, top_rate, all_rate = worst_and_pooled(rows, mechanism, rate)
            mine = [r for r in rows if r.mechanism == mechanism]
            contexts.append(Context.joined([c for r in mine for c in r.contexts]))
            cells.append([mechanism, rate, worst_case_text(top, top_rate),
                          top_rate.per_thousand(),
                          f"{all_rate.count} of {all_rate.total} ({len(mine)} scenarios)",
                          all_rate.per_thousand(), mechanism_standing(rows, mechanism)])
    return context_table(["mechanism", "rate", "worst case", "per 1,000 [95 %]", "pooled",
                          "per 1,000 [95 %]", "standing (promises)"], cells, contexts)


# --------------------------------------------------------------------------------------------
# Replacements
# --------------------------------------------------------------------------------------------


def replacements_section(results_dir: Path, scenarios: Iterable[str]) -> list[str]:
    """The replaced runs of these scenarios: verdict then and now (today's checkers on the
    replaced run's stored history), and why."""
    names = set(scenarios)
    chosen: list[Replacement] = [r for r in load_replacements(results_dir) if r.scenario in names]
    if not chosen:
        return []
    replaced_dir = results_dir / "evidence" / "replaced"
    rows = [[r.scenario, f"[{r.replaced}](evidence/replaced/{r.replaced}.json)", r.verdict_then,
             verdict_now(replaced_dir, r.replaced), ", ".join(_run_link(b) for b in r.replaced_by),
             r.commit or "?", r.reason] for r in chosen]
    return ["## Replaced runs", "",
            "Runs these reports cited before and no longer cite. *Then*: the verdict when it was "
            "cited; *now*: today's checkers on its stored history "
            "(`evidence/replaced/`). Recorded by `python3 -m harness evidence`.", "",
            markdown_table(["scenario", "replaced run", "then", "now", "replaced by",
                            "at commit", "why"], rows), ""]


# --------------------------------------------------------------------------------------------
# Detail
# --------------------------------------------------------------------------------------------


def _detail_cells(row: FaultRow, run: str, fault: str | None = None) -> list[str]:
    return [
        run, fault or "; ".join(unique(row.faults)), row.label or row.mechanism, str(row.ticks),
        str(row.lost), str(row.duplicated), str(row.late), str(row.replayed), str(row.retries),
        f"{row.stalled}/{row.tasks}",
        "-" if row.max_lateness_ms is None else f"{row.max_lateness_ms:,.0f}",
        row.lost_rate.per_thousand(), row.duplicated_rate.per_thousand(),
        row.early_rate.per_thousand(), row.once_rate.share(), _lost_on(row), _recovery(row),
        str(row.attempts), str(row.deliveries), f"{row.before_window}/{row.after_window}",
        str(row.unexplained), row.verdict,
    ]


def detail_table(summaries: Sequence[RunSummary]) -> str:
    """One row per run and mechanism (each naming its own run's fault), then each mechanism
    over all runs."""
    cells, contexts = [], []
    for summary in summaries:
        for row in fault_rows({summary.scenario: [summary]}):
            cells.append(_detail_cells(row, _run_link(summary.run_id)))
            contexts.append(row.context)
    if len(summaries) > 1:
        for row in fault_rows({summaries[0].scenario: list(summaries)}):
            cells.append(_detail_cells(row, f"all {row.trials}", "each run's, above"))
            contexts.append(row.context)
    return context_table(DETAIL_HEADERS, cells, contexts)


def _phase_table(row: FaultRow) -> str:
    cells = [[phase, t.get("ticks", 0), t.get("lost", 0), t.get("duplicated", 0),
              t.get("replayed", 0)]
             for phase in PHASES if (t := row.phases.get(phase) or {}).get("ticks")]
    table = tabulate(cells, headers=["phase", "ticks", "lost (strict)", "duplicated (strict)",
                                     "replayed"], tablefmt="github", disable_numparse=True)
    context = row.context
    return (f"{CAPTION} Dapr {context.dapr} · replicas {context.replicas} · schedule "
            f"{context.schedule} · window {context.window} · commit {context.commit}\n\n{table}")


def _trials_line(runs: dict[str, list[RunSummary]], plan: TrialsRecord | None) -> str:
    counts: dict[int, list[str]] = {}
    for name, found in runs.items():
        counts.setdefault(len(found), []).append(name)
    parts = [f"{n} run(s) of {len(names)} scenario(s)" if len(names) > 2 else
             f"{n} run(s) of {', '.join(names)}" for n, names in sorted(counts.items())]
    planned = "" if plan is None else (" Trials were planned by `python3 -m harness evidence` "
                                       "(per scenario below).")
    return f"Cited runs: {'; '.join(parts)}.{planned}"


def _header(runs: dict[str, list[RunSummary]], generated_at: str,
            plan: TrialsRecord | None) -> list[str]:
    summaries = [s for found in runs.values() for s in found]
    starts = sorted(s.started_at for s in summaries if s.started_at)
    return [
        "# Faults: what each mechanism loses, duplicates and replays",
        "",
        (f"_Generated by `python3 -m harness faults` on {generated_at} from the cited runs of "
         "each fault scenario; do not edit by hand (re-run the command instead)._"),
        "",
        _trials_line(runs, plan),
        "",
        f"- Dapr: {', '.join(unique(s.dapr.version for s in summaries)) or '?'}",
        f"- Runs: {len(summaries)} from {starts[0] if starts else '?'} to {starts[-1] if starts else '?'}",
        f"- Harness commit(s): {', '.join(unique(commit_cell(s) for s in summaries)) or '?'}",
        "- Replicas, schedules, windows and commits: per row in each table (or in the line "
        "above it when every row shares them).",
    ]


HOW_TO_READ = (
    "Jobs count ticks across replicas (nine jobs per run, so nine ticks per period); the cron "
    "binding counts (replica, tick) pairs. Each attempt stands for a tick by the rules in "
    "`harness/check/` (a replay is allowed only inside a *stall*: a fault plus the Scheduler's "
    "30 s lease margin after it). **lost**: a tick with no attempt; **duplicated**: a tick "
    "delivered more than once (a retry after a failure is not a duplicate). Where the record "
    "admits two readings both bounds are shown (`low-high`). Rates are per 1,000 ticks with "
    "their 95 % interval (exact binomial, Clopper-Pearson) in brackets; `(≤ x)` is the upper "
    "limit when none was counted: the runs exclude a higher rate, not a rate of zero; an "
    "interval spans both readings. **late**: first attempt more than a quarter period after "
    "the tick; **replayed**: late ticks of a job inside a stall; **stalled tasks**: jobs with "
    "at least one replayed tick, of all jobs in the row. *fault*: as the scenario asked it "
    "(start, duration) and as the harness carried it out (*held*: from its start until the "
    "harness had undone it). *recovery* is from the fault's end until every running scheduler "
    "member counted every sidecar connected again. *worst case* is the scenario with the "
    "highest observed rate, *pooled* the counts of every scenario added up: the two answer "
    "different questions and are shown side by side."
)


def render_faults(runs: dict[str, list[RunSummary]], *, generated_at: str | None = None,
                  results_dir: Path | None = None) -> str:
    """The whole ``faults.md`` for the given runs (scenario -> summaries, oldest first)."""
    if not runs:
        raise NoRuns("no runs of a fault scenario from a clean tree; run them first: "
                         "python3 -m harness run fault-kill-daprd --repeat 2")
    generated_at = generated_at or time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    plan = load_trials(results_dir) if results_dir else None
    rows = fault_rows(runs)
    lines = [*_header(runs, generated_at, plan), "",
             "## Matrix", "",
             "Each cell: the `promises` verdict (runs that broke it of runs), lost and duplicated "
             "ticks with the rate per 1,000 [95 % interval].", "",
             compact_matrix(rows, runs), "",
             "## Worst case and pooled rate per mechanism", "", _worst_table(rows), ""]
    if results_dir is not None:
        lines += replacements_section(results_dir, runs)
    lines += ["## How to read", "", HOW_TO_READ, "", "Promises judged:", ""]
    lines += [f"- {text}" for text in PROMISES]
    lines += ["", "## Per scenario", ""]
    for scenario, summaries in runs.items():
        latest = summaries[-1]
        passed = sum(s.passed for s in summaries)
        planned = plan.of(scenario) if plan else None
        lines += [f"### {scenario}", "", latest.description.strip(), "",
                  f"Every checker valid in {passed} of {len(summaries)} run(s)."
                  + (f" Trials: {planned.sentence()}." if planned else ""), "",
                  detail_table(summaries), ""]
        for row in (r for r in rows if r.scenario == scenario):
            lines += [f"**{row.label or row.mechanism}** (promises: {row.verdict}), by phase "
                      "over all runs:", "", _phase_table(row), ""]
        reasons = [f"- `{s.run_id}` {c.checker}: {r}" for s in summaries for c in s.checkers
                   if c.checker != "metrics" for r in c.reasons]
        lines += [*reasons[:10], ""] if reasons else []
        lines += ["Timelines: " + ", ".join(f"[{s.run_id}](plots/{s.run_id}-timeline.png)"
                                            for s in summaries), ""]
    return "\n".join(lines).rstrip() + "\n"


def write_faults_report(runs_dir: Path, out_dir: Path, *, trials: int = DEFAULT_TRIALS,
                        allow_dirty: bool = False,
                        runs: dict[str, list[RunSummary]] | None = None) -> list[Path]:
    """Write ``faults.md`` with evidence copies and timelines of every run it cites (the
    latest ``trials`` of each fault scenario, unless ``runs`` names them)."""
    if runs is None:
        runs = latest_fault_runs(cited_summaries(runs_dir, out_dir), trials, allow_dirty=allow_dirty)
    document = render_faults(runs, results_dir=out_dir)
    cited = [s for found in runs.values() for s in found]
    written = [plot_timeline(load_run_history(runs_dir, s.run_id), s,
                             out_dir / "plots" / f"{s.run_id}-timeline.png") for s in cited]
    written += copy_evidence(runs_dir, out_dir / "evidence", cited)
    out = out_dir / "faults.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(document, encoding="utf-8")
    return [out, *written]
