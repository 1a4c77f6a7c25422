"""``results/faults.md``: what each fault did to jobs and cron bindings over the latest K runs.

Input: the ``fault_stats`` of each run's ``summary.json`` (written by the runner with
:mod:`harness.check.faults`). One row per fault scenario and mechanism, summed over the latest K
runs of the scenario (every job of a run counts its own ticks): ticks, lost, duplicated,
late, replayed, the worst lateness, rates per 1,000 ticks and the verdict against Dapr's
promise. Each cited summary is copied to ``evidence/<run_id>.json`` (with its timeline plot),
by the same helper as ``harness.reports.comparison``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tabulate import tabulate

from harness.check.faults import PHASES
from harness.reports.comparison import (
    _dapr_version,
    _unique,
    _write_run_artifacts,
    load_summaries,
)

__all__ = [
    "DEFAULT_TRIALS",
    "FaultRow",
    "fault_rows",
    "latest_fault_runs",
    "render_faults",
    "write_faults_report",
]

DEFAULT_TRIALS = 2
FAULT_PREFIX = "fault-"
TABLE_HEADERS = [
    "scenario", "fault", "mechanism", "trials", "ticks", "lost", "duplicated", "late",
    "replayed", "max lateness (ms)", "dup / 1,000 ticks", "lost / 1,000 ticks",
    "lost on replica", "recovery (s)", "promise", "verdict", "runs",
]
PROMISES = {
    "at-least-once": "Jobs API: every tick delivered at least once (duplicates allowed), "
                     "never before its time.",
    "per-replica, in memory": "cron binding: every sidecar fires its own ticks from memory; "
                              "ticks are lost only on a replica whose sidecar or app a fault "
                              "took down, during the fault and one period after it; a tick "
                              "never fires twice on one replica.",
}


def _faults_cell(summary: dict[str, Any]) -> str:
    """The faults as the scenario declared them: kind, target, start and duration."""
    parts = []
    for fault in summary.get("faults") or []:
        where = ("" if fault.get("replica") is None else f" r{fault['replica']}") + (
            "" if fault.get("member") is None else f" member {fault['member']}")
        lasting = "" if fault.get("duration_s") is None else f" for {float(fault['duration_s']):g}s"
        parts.append(f"{fault.get('kind', '?')}{where} @{float(fault.get('at_s', 0)):g}s{lasting}")
    return ", ".join(parts) or "-"


def _age_key(summary: dict[str, Any]) -> tuple[str, str]:
    return str(summary.get("started_at") or ""), str(summary.get("run_id") or "")


def latest_fault_runs(summaries: Iterable[dict[str, Any]], trials: int = DEFAULT_TRIALS,
                      prefix: str = FAULT_PREFIX) -> dict[str, list[dict[str, Any]]]:
    """Scenario name -> its ``trials`` newest runs that carry fault statistics, oldest first.

    Only the fault suite (scenario names starting with ``prefix``): other scenarios may inject
    faults for their own claims, which their own report covers."""
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for summary in summaries:
        if summary.get("fault_stats") and str(summary.get("scenario")).startswith(prefix):
            runs[str(summary.get("scenario"))].append(summary)
    return {name: sorted(found, key=_age_key)[-trials:] for name, found in sorted(runs.items())}


@dataclass
class FaultRow:
    """One scenario and mechanism, summed over its trials."""

    scenario: str
    fault: str
    mechanism: str
    promise: str
    run_ids: list[str] = field(default_factory=list)
    ticks: int = 0
    lost: int = 0
    duplicated: int = 0
    late: int = 0
    replayed: int = 0
    failed_attempts: int = 0
    max_lateness_ms: float | None = None
    lost_by_replica: dict[str, int] = field(default_factory=dict)
    recovery_s: list[float] = field(default_factory=list)
    violated_runs: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    phases: dict[str, dict[str, Any]] = field(default_factory=dict)
    bursts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def trials(self) -> int:
        return len(self.run_ids)

    def per_thousand(self, count: int) -> float | None:
        return None if not self.ticks else round(1000 * count / self.ticks, 1)

    @property
    def verdict(self) -> str:
        bad = len(self.violated_runs)
        return f"holds ({self.trials}/{self.trials})" if not bad else \
            f"violated ({bad}/{self.trials})"


def _add_phases(into: dict[str, dict[str, Any]], phases: dict[str, dict[str, Any]]) -> None:
    for phase, tally in phases.items():
        total = into.setdefault(phase, {})
        for key, value in tally.items():
            if key == "max_lateness_ms":
                total[key] = _max(total.get(key), value)
            else:
                total[key] = total.get(key, 0) + (value or 0)


def _max(a: float | None, b: float | None) -> float | None:
    present = [v for v in (a, b) if v is not None]
    return max(present) if present else None


def fault_rows(runs: dict[str, list[dict[str, Any]]]) -> list[FaultRow]:
    """One row per scenario and mechanism (its jobs or bindings summed), over its runs."""
    rows: list[FaultRow] = []
    for scenario, summaries in runs.items():
        by_mechanism: dict[str, FaultRow] = {}
        for summary in summaries:
            stats = summary["fault_stats"]
            run_id = str(summary.get("run_id"))
            recoveries = [f["recovery_s"] for f in stats.get("faults") or []
                          if f.get("recovery_s") is not None]
            for entry in stats.get("mechanisms") or []:
                mechanism = str(entry["mechanism"])
                row = by_mechanism.setdefault(mechanism, FaultRow(
                    scenario, _faults_cell(summary), mechanism, str(entry.get("promise"))))
                if run_id not in row.run_ids:
                    row.run_ids.append(run_id)
                    row.recovery_s += recoveries
                for key in ("ticks", "lost", "duplicated", "late", "replayed", "failed_attempts"):
                    setattr(row, key, getattr(row, key) + int(entry.get(key) or 0))
                row.max_lateness_ms = _max(row.max_lateness_ms, entry.get("max_lateness_ms"))
                for replica, n in (entry.get("lost_by_replica") or {}).items():
                    row.lost_by_replica[replica] = row.lost_by_replica.get(replica, 0) + int(n)
                if entry.get("verdict") == "violated" and run_id not in row.violated_runs:
                    row.violated_runs.append(run_id)
                row.reasons += [f"`{run_id}` {entry.get('name')}: {r}"
                                for r in entry.get("reasons") or []]
                _add_phases(row.phases, entry.get("phases") or {})
                row.bursts += [{**b, "run_id": run_id, "name": entry.get("name")}
                               for b in entry.get("bursts") or []]
        rows += [by_mechanism[m] for m in sorted(by_mechanism, key=lambda m: m != "job")]
    return rows


def _lost_on(row: FaultRow) -> str:
    if row.mechanism == "job":
        return "-"
    lost = {r: n for r, n in sorted(row.lost_by_replica.items(), key=lambda i: int(i[0])) if n}
    return ", ".join(f"r{r}: {n}" for r, n in lost.items()) or "none"


def _recovery(row: FaultRow) -> str:
    if not row.recovery_s:
        return "-"
    low, high = min(row.recovery_s), max(row.recovery_s)
    return f"{low:.1f}" if round(low, 1) == round(high, 1) else f"{low:.1f}-{high:.1f}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _runs_cell(row: FaultRow) -> str:
    return ", ".join(f"[{i + 1}](evidence/{run_id}.json)" for i, run_id in enumerate(row.run_ids))


def fault_table(rows: Sequence[FaultRow]) -> str:
    cells = [[
        row.scenario, row.fault, row.mechanism, row.trials, row.ticks, row.lost,
        row.duplicated, row.late, row.replayed,
        "-" if row.max_lateness_ms is None else f"{row.max_lateness_ms:,.0f}",
        _rate(row.per_thousand(row.duplicated)), _rate(row.per_thousand(row.lost)),
        _lost_on(row), _recovery(row), row.promise, row.verdict, _runs_cell(row),
    ] for row in rows]
    return tabulate(cells, headers=TABLE_HEADERS, tablefmt="github", disable_numparse=True)


def _phase_table(row: FaultRow) -> str:
    cells = []
    for phase in PHASES:
        tally = row.phases.get(phase) or {}
        if not tally.get("ticks"):
            continue
        late = tally.get("max_lateness_ms")
        cells.append([phase, tally.get("ticks", 0), tally.get("lost", 0),
                      tally.get("duplicated", 0), tally.get("late", 0), tally.get("replayed", 0),
                      "-" if late is None else f"{late:,.0f}"])
    return tabulate(cells, headers=["phase", "ticks", "lost", "duplicated", "late", "replayed",
                                    "max lateness (ms)"], tablefmt="github", disable_numparse=True)


def _burst_lines(row: FaultRow) -> list[str]:
    lines = []
    for burst in row.bursts[:6]:
        where = "" if burst.get("replica") is None else f" on replica {burst['replica']}"
        since = burst.get("since_fault_end_s")
        relative = "" if since is None else f" ({since:+g} s from the fault's end)"
        lines.append(
            f"  - `{burst['run_id']}` {burst['name']}{where}: {burst['replayed']} owed ticks "
            f"in {burst['triggers']} triggers within {burst['span_ms']:g} ms, at "
            f"{burst['at_s']:g} s{relative}")
    if len(row.bursts) > 6:
        lines.append(f"  - and {len(row.bursts) - 6} more bursts")
    return lines


def _header(runs: dict[str, list[dict[str, Any]]], trials: int, generated_at: str) -> list[str]:
    summaries = [s for found in runs.values() for s in found]
    versions = ", ".join(_unique(_dapr_version(s) for s in summaries)) or "?"
    replicas = ", ".join(_unique(str(s.get("replicas")) for s in summaries))
    schedulers = ", ".join(_unique(str(s.get("schedulers") or 1) for s in summaries))
    schedules = ", ".join(_unique(f"{e.get('mechanism')} `{e.get('schedule')}`"
                                  for s in summaries for e in s["fault_stats"]["mechanisms"]))
    windows = ", ".join(_unique(f"{float(s.get('window_s') or 0):g} s" for s in summaries))
    starts = sorted(str(s.get("started_at")) for s in summaries if s.get("started_at"))
    dates = f"{starts[0]} to {starts[-1]}" if starts else "unknown"
    commits = ", ".join(_unique(str(s.get("harness_commit") or "") for s in summaries)) or "?"
    return [
        "# Faults: what jobs and cron bindings lose, duplicate and replay",
        "",
        (f"_Generated by `python -m harness faults` on {generated_at} from the latest {trials} "
        "run(s) of each fault scenario (their `summary.json`); do not edit by hand (re-run "
        "the command instead)._"),
        "",
        f"- Dapr: {versions}",
        f"- Replicas: {replicas}; scheduler members: {schedulers}",
        f"- Schedules: {schedules}",
        f"- Observation windows: {windows}",
        f"- Runs: {len(summaries)} from {dates}",
        f"- Harness commit(s): {commits}",
    ]


HOW_TO_READ = (
    "Every expected tick is matched to the triggers the app accepted (answered 2xx; a failed "
    "attempt that Dapr retries is not a delivery), letting a late trigger stand for the oldest "
    "tick still owed (`harness/faultcheck.py`). Jobs count ticks across replicas (nine jobs per "
    "run, so nine ticks per period); the cron binding counts (replica, tick) pairs. **lost**: "
    "a tick no trigger can stand for. **duplicated**: a tick with more than one trigger. "
    "**late**: first trigger more than a quarter period after the tick. **replayed**: late "
    "ticks whose first triggers came back-to-back (under 0.25 s apart, at least two owed "
    "ticks) after a fault began. *recovery* is from the fault's end (the harness's restart "
    "done) until every running scheduler member counted every sidecar connected again. Rates "
    "are per 1,000 ticks of the row."
)


def render_faults(runs: dict[str, list[dict[str, Any]]], *, trials: int,
                  generated_at: str | None = None) -> str:
    """The whole ``faults.md`` for the given runs (scenario -> summaries)."""
    if not runs:
        raise ValueError("no runs with fault statistics (summary.json with fault_stats); "
                         "run the fault scenarios first: python -m harness run fault-...")
    generated_at = generated_at or time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows = fault_rows(runs)
    lines = [*_header(runs, trials, generated_at), "", "## Results", "",
             fault_table(rows), "", "## How to read", "", HOW_TO_READ, "",
             "Promises judged:", ""]
    lines += [f"- **{name}**: {text}" for name, text in PROMISES.items()]
    lines += ["", "## Per scenario", ""]
    for scenario, summaries in runs.items():
        latest = summaries[-1]
        lines += [f"### {scenario}", "", str(latest.get("description") or "").strip(), ""]
        passed = sum(bool(s.get("passed")) for s in summaries)
        lines += [(f"Scenario expectations met in {passed} of {len(summaries)} run(s); "
                  f"faults: {_faults_cell(latest)}."), ""]
        for row in (r for r in rows if r.scenario == scenario):
            lines += [f"**{row.mechanism}** ({row.promise}: {row.verdict}), by phase:", "",
                      _phase_table(row), ""]
            if row.failed_attempts:
                lines += [f"- {row.failed_attempts} failed attempt(s) (the app answered an error)"]
            lines += _burst_lines(row)
            lines += [f"- {reason}" for reason in row.reasons[:8]]
            if row.failed_attempts or row.bursts or row.reasons:
                lines.append("")
        lines += ["Timelines: " + ", ".join(
            f"[{s['run_id']}](plots/{s['run_id']}-timeline.png)" for s in summaries), ""]
    return "\n".join(lines).rstrip() + "\n"


def write_faults_report(runs_dir: Path, out_dir: Path, *,
                        trials: int = DEFAULT_TRIALS) -> list[Path]:
    """Write ``faults.md`` with evidence copies and timelines of every run it cites."""
    runs = latest_fault_runs(load_summaries(runs_dir), trials)
    document = render_faults(runs, trials=trials)
    written = [p for found in runs.values() for s in found
               for p in _write_run_artifacts(runs_dir, out_dir, s)]
    out = out_dir / "faults.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(document, encoding="utf-8")
    return [out, *written]

