"""results/versions.md: every comparison, fault and claim row by Dapr version, differences marked.

Rendered from the matrix's record (results/versions.json, written by `python3 -m harness
matrix`) and the summaries of the runs it names; each cell links to its run's summary, copied
to results/evidence/. A cell that differs from the same row's cell on the newest version is
marked, and the differences are listed under the tables.
"""

from __future__ import annotations

import fnmatch
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.check import CallResult, JobExpectResult, MechanismResult
from harness.cluster.versions import version_key
from harness.reports.claims import load_claim_scenarios
from harness.scenario.model import Claim, Scenario
from harness.summary import RunSummary, copy_evidence, load_summary

__all__ = ["Cited", "cited_entries", "cited_summary", "claim_reproduced", "holds_from",
           "render_versions", "write_versions_report"]

DIFFERS = "≠"


@dataclass(frozen=True)
class Cell:
    text: str
    run_id: str | None
    key: str | None = None  # what is compared across versions (default: the text)

    @property
    def compared(self) -> str:
        return self.text if self.key is None else self.key

    def shown(self, differs: bool) -> str:
        link = f" [run](evidence/{self.run_id}.json)" if self.run_id else ""
        return f"{f'**{DIFFERS}** ' if differs else ''}{self.text}{link}"


def cited_summary(runs_dir: Path, evidence: Path, run_id: str) -> RunSummary | None:
    """A run's summary from its run directory, else its evidence copy; None if neither."""
    for path in (runs_dir / run_id / "summary.json", evidence / f"{run_id}.json"):
        if path.exists():
            return load_summary(path)
    return None


def _mechanism_cell(summary: RunSummary | None, mechanism: str) -> Cell:
    """One mechanism of a run, its jobs (or bindings) together: verdict, triggers per tick
    (mean), duplicated, lost and early summed (upper bounds; a binding per replica)."""
    if summary is None:
        return Cell("not run", None)
    entries = [e for e in summary.mechanisms if e.mechanism == mechanism]
    if not entries:
        return Cell("absent", summary.run_id)
    verdict = "pass" if not any(e.reasons for e in entries) else "FAIL"
    per_tick = [e.triggers_per_tick for e in entries]
    mean = f"{sum(per_tick) / len(per_tick):.2f}"
    views = [e.per_replica_view if e.view == "per replica" else e.across for e in entries]
    dup = sum(v.duplicated.high for v in views)
    lost = sum(v.lost.high for v in views)
    early = sum(e.early for e in entries)
    text = f"{verdict}: {mean}/tick, dup {dup}, lost {lost}, early {early}"
    # Triggers per tick are compared to one decimal: a fault's outage moves the second.
    key = f"{verdict} {sum(per_tick) / len(per_tick):.1f} lost={lost > 0} early={early > 0}"
    return Cell(text, summary.run_id, key)


Cited = CallResult | JobExpectResult | MechanismResult


def cited_entries(summary: RunSummary, calls: Sequence[str] = (), jobs: Sequence[str] = (),
                  bindings: Sequence[str] = (), tasks: Sequence[str] = ()) -> list[Cited]:
    """The summary entries named: calls (ids may be globs), jobs (their ``expect_jobs``
    entries and tick models), bindings and tasks (by name, whatever their mechanism)."""
    entries: list[Cited] = [c for c in summary.calls if any(
        fnmatch.fnmatch(str(c.id), pattern) for pattern in calls)]
    entries += [e for e in summary.expect_jobs if e.job in jobs]
    entries += [m for m in summary.mechanisms
                if (m.mechanism == "job" and m.name in jobs)
                or (m.mechanism == "binding" and m.name in bindings)
                or (m.mechanism not in ("job", "binding") and m.name in tasks)]
    return entries


def _cited(claim: Claim, summary: RunSummary) -> list[Cited]:
    """The summary entries a claim cites: its calls, jobs and bindings."""
    return cited_entries(summary, claim.calls, claim.jobs, claim.bindings)


def claim_reproduced(claim: Claim, summary: RunSummary | None) -> bool | None:
    """Whether a run showed what the claim records: every entry it cites met its expectation
    (the whole run passed, if it cites none); None without a run."""
    if summary is None:
        return None
    cited = _cited(claim, summary)
    if not cited or claim.shown_by:
        return summary.passed
    return all(not entry.reasons for entry in cited)


def holds_from(outcomes: dict[str, bool | None]) -> str:
    """The first version from which the recorded verdict holds on every later tested version."""
    tested = sorted((v for v, ok in outcomes.items() if ok is not None), key=version_key)
    since = None
    for version in tested:
        if outcomes[version]:
            since = since or version
        else:
            since = None
    if since is None:
        return "none tested"
    return "every tested version" if since == tested[0] else f"{since} on"


def _first_reason(claim: Claim, summary: RunSummary) -> str:
    for entry in _cited(claim, summary) or summary.mechanisms:
        if entry.reasons:
            return " ".join(str(entry.reasons[0]).split())[:90].replace("|", "\\|")
    errors = summary.driver_errors
    return " ".join(str(errors[0]).split())[:90].replace("|", "\\|") if errors else "run failed"


def _claim_cell(claim: Claim, summary: RunSummary | None) -> Cell:
    outcome = claim_reproduced(claim, summary)
    if summary is None or outcome is None:
        return Cell("not run", None)
    text = f"{claim.verdict} (as recorded)" if outcome else f"CHANGED: {_first_reason(claim, summary)}"
    return Cell(text, summary.run_id)


def _row(label: list[str], cells: dict[str, Cell], versions: Sequence[str]) -> tuple[str, list[str]]:
    """A table line with differing cells marked (against the newest version's cell)."""
    reference = cells[versions[-1]].compared
    differs = [v for v in versions if cells[v].compared not in (reference, "not run")
               and reference != "not run"]
    shown = [cells[v].shown(v in differs) for v in versions]
    notes = [f"{' / '.join(label)}: {v} `{cells[v].text}` vs {versions[-1]} "
             f"`{cells[versions[-1]].text}`" for v in differs]
    return "| " + " | ".join([*label, *shown]) + " |", notes


def _builds_section(record: dict[str, Any]) -> list[str]:
    lines = ["## Builds", "",
             "| version | built | adaptations (modules the Go module proxy refuses) | build s | how |",
             "| --- | --- | --- | --- | --- |"]
    for entry in record.get("versions", []):
        manifest = entry.get("manifest") or {}
        adaptations = "; ".join(manifest.get("adaptations") or []) or "none"
        if not entry.get("built"):
            lines.append(f"| {entry['version']} | **did not build** | {entry.get('error')} | - | - |")
            continue
        seconds = manifest.get("build_seconds")
        lines.append(f"| {entry['version']} | yes | {adaptations.replace('|', '/')} | "
                     f"{seconds if seconds is not None else '-'} | {entry.get('source')} |")
    return [*lines, ""]


def _flags_section(summaries: dict[str, list[RunSummary]]) -> list[str]:
    lines = ["## How each version is started", "",
             "Flags fitted to each binary's own `--help` (recorded in every run's summary):", ""]
    for version, runs in summaries.items():
        notes = sorted({n.split(": ", 1)[-1] if n.startswith("replica-") else n
                        for s in runs for n in s.dapr.flag_adaptations})
        apis = sorted({str(s.dapr.jobs_api_default) for s in runs})
        launchers = sorted({s.dapr.launcher for s in runs})
        lines.append(f"- **{version}**: Jobs API `/{'`, `/'.join(apis)}/jobs` for jobs without "
                     f"`api:`; launcher {', '.join(launchers)}; "
                     + ("; ".join(notes) if notes else "every flag the harness passes exists"))
    return [*lines, ""]


def _scenario_rows(names: Sequence[str], versions: Sequence[str],
                   summaries: dict[str, dict[str, RunSummary | None]]) -> tuple[list[str], list[str]]:
    lines = ["| scenario | mechanism | " + " | ".join(versions) + " |",
             "| --- | --- | " + " | ".join("---" for _ in versions) + " |"]
    notes: list[str] = []
    for name in names:
        runs = [run for v in versions if (run := summaries[v].get(name)) is not None]
        mechanisms = dict.fromkeys(e.mechanism for run in runs for e in run.mechanisms)
        for mechanism in mechanisms:
            count = max(sum(1 for e in run.mechanisms if e.mechanism == mechanism) for run in runs)
            cells = {v: _mechanism_cell(summaries[v].get(name), mechanism) for v in versions}
            label = mechanism if count == 1 else f"{mechanism} ×{count}"
            line, found = _row([name, label], cells, versions)
            lines.append(line)
            notes += found
    return lines, notes


def _claims_rows(scenarios: Sequence[Scenario], versions: Sequence[str],
                 summaries: dict[str, dict[str, RunSummary | None]]) -> tuple[list[str], list[str]]:
    lines = ["| claim | recorded verdict | " + " | ".join(versions) + " | holds from |",
             "| --- | --- | " + " | ".join("---" for _ in versions) + " | --- |"]
    notes: list[str] = []
    for scenario in scenarios:
        for claim in scenario.all_claims:
            name = claim.shown_by or scenario.name
            runs = {v: summaries[v].get(name) for v in versions}
            cells = {v: _claim_cell(claim, runs[v]) for v in versions}
            line, found = _row([claim.id, claim.verdict], cells, versions)
            since = holds_from({v: claim_reproduced(claim, runs[v]) for v in versions})
            lines.append(line[:-2] + f" | {since} |")
            notes += found
    return lines, notes


def render_versions(record: dict[str, Any], runs_dir: Path, evidence: Path,
                    claim_scenarios: Sequence[Scenario], *, generated_at: str | None = None) -> str:
    versions = [v for v in record.get("runs", {})]
    summaries = {v: {name: cited_summary(runs_dir, evidence, run_id)
                     for name, run_id in record["runs"][v].items()} for v in versions}
    claim_names = {s.name for s in claim_scenarios}  # shown_by targets keep their rows
    names = sorted({n for v in versions for n in summaries[v]} - claim_names,
                   key=lambda n: (n.startswith("fault-"), n))
    table, notes = _scenario_rows(names, versions, summaries)
    claims = [s for s in claim_scenarios if any(s.name in summaries[v] for v in versions)
              or any(c.shown_by for c in s.all_claims)]
    claims_table, claim_notes = _claims_rows(claims, versions, summaries)
    runs = {v: [s for s in summaries[v].values() if s] for v in versions}
    replicas = sorted({str(s.replicas) for v in versions for s in runs[v]})
    lines = [
        "# Dapr versions side by side", "",
        f"Generated by `python3 -m harness matrix` at {generated_at or record.get('generated_at')}"
        f", harness commit `{record.get('harness_commit')}` at the last matrix invocation (each "
        "run's summary names its own); one run per scenario and version "
        f"({', '.join(replicas)} replica(s); each scenario's schedule and window are in its file "
        "under `scenarios/`). A cell marked "
        f"**{DIFFERS}** differs from the newest version's cell on the same row; each cell links "
        "to its run's summary.", "",
        *_builds_section(record), *_flags_section(runs),
        "## Comparison and fault scenarios", "",
        "Cell: the checker's verdict, triggers per tick across replicas (mean over a scenario's "
        "jobs), duplicated and lost ticks, early triggers (summed over its jobs).",
        "", *table, "",
        "## Claims", "",
        "Cell: whether the run showed what `results/claims.md` records (the calls, jobs and "
        "bindings the claim cites met their expectations). *holds from*: the first tested version "
        "from which it holds on every later tested version.", "",
        *claims_table, "",
        "## Differences", "",
        *([f"- {n}" for n in notes + claim_notes] or ["- none: every row is the same on every version"]),
        "",
    ]
    return "\n".join(lines)


def write_versions_report(out_dir: Path, runs_dir: Path, scenarios_dir: Path) -> Path:
    """results/versions.md from results/versions.json; copies each cited summary to evidence/."""
    record = json.loads((out_dir / "versions.json").read_text())
    evidence = out_dir / "evidence"
    cited = [load_summary(runs_dir / run_id / "summary.json")
             for named in record.get("runs", {}).values() for run_id in named.values()
             if (runs_dir / run_id / "summary.json").exists()]
    copy_evidence(runs_dir, evidence, cited)
    text = render_versions(record, runs_dir, evidence, load_claim_scenarios(scenarios_dir),
                           generated_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    path = out_dir / "versions.md"
    path.write_text(text)
    return path
