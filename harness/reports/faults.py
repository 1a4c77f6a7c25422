"""``results/faults.md``: what each fault did to every mechanism over the latest K runs.

Input: the typed summaries of the fault scenarios (``kind == "fault"``). One row per scenario
and mechanism, summed over the latest K runs of a clean tree (every job of a run counts its own
ticks): ticks, lost and duplicated (both bounds where the record is ambiguous), late, replayed,
retries, the worst lateness, how many tasks stalled, rates per 1,000 ticks and the verdict of
the ``promises`` checker. Each cited run's summary and history are copied as evidence.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tabulate import tabulate

from harness.check import PHASES, Bound, MechanismResult, worst
from harness.reports.comparison import commit_cell, faults_cell, mechanism_label, plot_timeline
from harness.record.history import load_history
from harness.summary import NoRuns, RunSummary, copy_evidence, latest_runs, load_summaries

__all__ = ["DEFAULT_TRIALS", "FaultRow", "fault_rows", "latest_fault_runs", "render_faults",
           "write_faults_report"]

DEFAULT_TRIALS = 2
TABLE_HEADERS = [
    "scenario", "fault", "mechanism", "trials", "ticks", "lost", "duplicated", "late",
    "replayed", "retries", "stalled tasks", "max lateness (ms)", "dup / 1,000 ticks",
    "lost / 1,000 ticks", "lost on replica", "recovery (s)", "attempts", "deliveries",
    "before/after window", "unexplained", "promises", "runs",
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
    """One scenario and mechanism, summed over its trials."""

    scenario: str
    fault: str
    mechanism: str
    label: str = ""  # the mechanism as tables name it (marked where an adaptation touches it)
    run_ids: list[str] = field(default_factory=list)
    ticks: int = 0
    attempts: int = 0
    deliveries: int = 0
    before_window: int = 0
    after_window: int = 0
    unexplained: int = 0
    lost: Bound = Bound()
    duplicated: Bound = Bound()
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
    phases: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def trials(self) -> int:
        return len(self.run_ids)

    def per_thousand(self, count: int) -> float | None:
        return None if not self.ticks else round(1000 * count / self.ticks, 1)

    @property
    def verdict(self) -> str:
        bad = [v for v in self.promise_verdicts if v not in ("pass", "n/a")]
        return f"pass ({self.trials}/{self.trials})" if not bad else \
            f"{max(bad, key=['ambiguous', 'fail'].index)} ({len(bad)}/{self.trials})"

    def add(self, entry: MechanismResult) -> None:
        view = entry.across if entry.view == "across replicas" else entry.per_replica_view
        self.ticks += view.ticks
        self.lost, self.duplicated = _add(self.lost, view.lost), _add(self.duplicated, view.duplicated)
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


def fault_rows(runs: dict[str, list[RunSummary]]) -> list[FaultRow]:
    """One row per scenario and mechanism (its jobs or bindings summed), over its runs."""
    rows: list[FaultRow] = []
    for scenario, summaries in runs.items():
        by_mechanism: dict[str, FaultRow] = {}
        for summary in summaries:
            for entry in summary.mechanisms:
                row = by_mechanism.setdefault(entry.mechanism, FaultRow(
                    scenario, faults_cell(summary), entry.mechanism,
                    label=mechanism_label(entry, summary)))
                if summary.run_id not in row.run_ids:
                    row.run_ids.append(summary.run_id)
                    row.recovery_s += [f["recovery_s"] for f in summary.faults
                                       if f.get("recovery_s") is not None]
                    row.promise_verdicts.append(_promise(summary, entry.mechanism))
                row.add(entry)
        rows += [by_mechanism[m] for m in sorted(by_mechanism, key=lambda m: m != "job")]
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


def _rate(bound: Bound, row: FaultRow) -> str:
    low, high = row.per_thousand(bound.low), row.per_thousand(bound.high)
    if high is None or low is None:
        return "-"
    return f"{high:.1f}" if low == high else f"{low:.1f}-{high:.1f}"


def _runs_cell(row: FaultRow) -> str:
    return ", ".join(f"[{i + 1}](evidence/{run_id}.json)" for i, run_id in enumerate(row.run_ids))


def fault_table(rows: Sequence[FaultRow]) -> str:
    cells = [[
        row.scenario, row.fault, row.label or row.mechanism, row.trials, row.ticks, str(row.lost),
        str(row.duplicated), row.late, row.replayed, row.retries, f"{row.stalled}/{row.tasks}",
        "-" if row.max_lateness_ms is None else f"{row.max_lateness_ms:,.0f}",
        _rate(row.duplicated, row), _rate(row.lost, row), _lost_on(row), _recovery(row),
        row.attempts, row.deliveries, f"{row.before_window}/{row.after_window}", row.unexplained,
        row.verdict, _runs_cell(row),
    ] for row in rows]
    return tabulate(cells, headers=TABLE_HEADERS, tablefmt="github", disable_numparse=True)


def _phase_table(row: FaultRow) -> str:
    cells = [[phase, t.get("ticks", 0), t.get("lost", 0), t.get("duplicated", 0),
              t.get("replayed", 0)]
             for phase in PHASES if (t := row.phases.get(phase) or {}).get("ticks")]
    return tabulate(cells, headers=["phase", "ticks", "lost (strict)", "duplicated (strict)",
                                    "replayed"], tablefmt="github", disable_numparse=True)


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _header(runs: dict[str, list[RunSummary]], trials: int, generated_at: str) -> list[str]:
    summaries = [s for found in runs.values() for s in found]
    starts = sorted(s.started_at for s in summaries if s.started_at)
    return [
        "# Faults: what each mechanism loses, duplicates and replays",
        "",
        (f"_Generated by `python3 -m harness faults` on {generated_at} from the latest {trials} "
         "run(s) of each fault scenario; do not edit by hand (re-run the command instead)._"),
        "",
        f"- Dapr: {', '.join(_unique(s.dapr.version for s in summaries)) or '?'}",
        f"- Replicas: {', '.join(_unique(str(s.replicas) for s in summaries))}; scheduler "
        f"members: {', '.join(_unique(str(s.schedulers) for s in summaries))}",
        "- Schedules: " + ", ".join(_unique(f"{e.mechanism} `{e.schedule}`"
                                            for s in summaries for e in s.mechanisms)),
        "- Observation windows: " + ", ".join(_unique(f"{s.window_s:g} s (+{s.grace_s:g} s grace)"
                                                      for s in summaries)),
        f"- Runs: {len(summaries)} from {starts[0] if starts else '?'} to {starts[-1] if starts else '?'}",
        f"- Harness commit(s): {', '.join(_unique(commit_cell(s) for s in summaries)) or '?'}",
    ]


HOW_TO_READ = (
    "Jobs count ticks across replicas (nine jobs per run, so nine ticks per period); the cron "
    "binding counts (replica, tick) pairs. Each attempt stands for a tick by the rules in "
    "`harness/check/` (a replay is allowed only inside a *stall*: a fault plus the Scheduler's "
    "30 s lease margin after it). **lost**: a tick with no attempt; **duplicated**: a tick "
    "delivered more than once (a retry after a failure is not a duplicate). Where the record "
    "admits two readings both bounds are shown (`low-high`). **late**: first attempt more than "
    "a quarter period after the tick; **replayed**: late ticks of a job inside a stall; "
    "**stalled tasks**: jobs with at least one replayed tick, of all jobs in the row. "
    "*recovery* is from the fault's end (the harness's restart done) until every running "
    "scheduler member counted every sidecar connected again. Rates are per 1,000 ticks."
)


def render_faults(runs: dict[str, list[RunSummary]], *, trials: int,
                  generated_at: str | None = None) -> str:
    """The whole ``faults.md`` for the given runs (scenario -> summaries, oldest first)."""
    if not runs:
        raise NoRuns("no runs of a fault scenario from a clean tree; run them first: "
                         "python3 -m harness run fault-kill-daprd --repeat 2")
    generated_at = generated_at or time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows = fault_rows(runs)
    lines = [*_header(runs, trials, generated_at), "", "## Results", "", fault_table(rows), "",
             "## How to read", "", HOW_TO_READ, "", "Promises judged:", ""]
    lines += [f"- {text}" for text in PROMISES]
    lines += ["", "## Per scenario", ""]
    for scenario, summaries in runs.items():
        latest = summaries[-1]
        passed = sum(s.passed for s in summaries)
        lines += [f"### {scenario}", "", latest.description.strip(), "",
                  f"Every checker valid in {passed} of {len(summaries)} run(s); faults: "
                  f"{faults_cell(latest)}.", ""]
        for row in (r for r in rows if r.scenario == scenario):
            lines += [f"**{row.label or row.mechanism}** (promises: {row.verdict}), by phase:", "",
                      _phase_table(row), ""]
        reasons = [f"- `{s.run_id}` {c.checker}: {r}" for s in summaries for c in s.checkers
                   if c.checker != "metrics" for r in c.reasons]
        lines += [*reasons[:10], ""] if reasons else []
        lines += ["Timelines: " + ", ".join(f"[{s.run_id}](plots/{s.run_id}-timeline.png)"
                                            for s in summaries), ""]
    return "\n".join(lines).rstrip() + "\n"


def write_faults_report(runs_dir: Path, out_dir: Path, *, trials: int = DEFAULT_TRIALS,
                        allow_dirty: bool = False) -> list[Path]:
    """Write ``faults.md`` with evidence copies and timelines of every run it cites."""
    runs = latest_fault_runs(load_summaries(runs_dir), trials, allow_dirty=allow_dirty)
    document = render_faults(runs, trials=trials)
    cited = [s for found in runs.values() for s in found]
    written = [plot_timeline(load_history(runs_dir / s.run_id / "history.jsonl"), s,
                             out_dir / "plots" / f"{s.run_id}-timeline.png") for s in cited]
    written += copy_evidence(runs_dir, out_dir / "evidence", cited)
    out = out_dir / "faults.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(document, encoding="utf-8")
    return [out, *written]
