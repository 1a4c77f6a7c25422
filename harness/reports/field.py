"""results/field-reports.md: bugs reported in Dapr's trackers, reproduced (or not) on each version.

A field scenario (``scenarios/field/*.yaml``) encodes the behaviour a report asks for; its
``report:`` names the evidence (calls, jobs, bindings, tasks, processes that must stay alive)
and what the report says each version does. ``observe`` turns one run's summary into an
``Observation``: *reproduced* when a cited entry missed its expectation (or a named process
died), *not reproduced* when every cited entry met it, *inconclusive* when a control (an entry
the report does not cite, or the driver) failed, so the run decides nothing. Rendered from the
record ``results/field.json`` (written by ``python3 -m harness field`` or ``matrix --field``)
and the runs' summaries (their copies under ``results/evidence/``), one row per report and one
column per version; then which version to pin, from the same cells.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.check import CallResult, JobExpectResult, MechanismResult
from harness.cluster.versions import version_key
from harness.reports.versions import Cited, cited_entries, cited_summary
from harness.scenario.loading import load_field_scenarios
from harness.scenario.model import FieldReport, Scenario
from harness.summary import RunSummary, copy_evidence

__all__ = [
    "FieldCell",
    "Observation",
    "field_cell",
    "observe",
    "pin_section",
    "render_field_reports",
    "write_field_reports",
]

Observed = Literal["reproduced", "not reproduced", "inconclusive"]
NOT_RUN = "not run"


@dataclass(frozen=True)
class Observation:
    """What one run showed about a report: the outcome, the figures that decide it, and why
    (the first reason of a failing cited entry, or of a failing control)."""

    outcome: Observed
    figures: tuple[str, ...]
    why: str = ""


def _one_line(text: Any, limit: int = 110) -> str:
    return " ".join(str(text).split())[:limit].replace("|", "\\|")


def _answer(call: CallResult) -> str:
    return f"{call.method} → {call.observed_status if call.observed_status is not None else call.error}"


def _call_figures(calls: Sequence[CallResult]) -> list[str]:
    """One figure per call, or per answer when more than a few calls got the same one (a
    glob such as ``store-*`` cites hundreds)."""
    groups: dict[str, list[CallResult]] = {}
    for call in calls:
        groups.setdefault(_answer(call), []).append(call)
    figures = []
    for answer, group in groups.items():
        if len(group) > 3:
            figures.append(f"{len(group)} calls ({group[0].id} … {group[-1].id}): {answer}")
        else:
            figures += [f"{call.id or call.job}: {answer}" for call in group]
    return figures


def _mechanism_figures(entries: Sequence[MechanismResult]) -> list[str]:
    """One figure per mechanism entry, or their sums when more than a few of one mechanism
    are cited (a report citing twenty jobs)."""
    groups: dict[str, list[MechanismResult]] = {}
    for entry in entries:
        groups.setdefault(entry.mechanism, []).append(entry)
    figures = []
    for mechanism, group in groups.items():
        if len(group) <= 3:
            figures += [_figure(e) for e in group]
            continue
        views = [e.per_replica_view if e.view == "per replica" else e.across for e in group]
        late = [e.lateness_ms["max"] for e in group if e.lateness_ms.get("max") is not None]
        figures.append(
            f"{len(group)} {mechanism}s: dup {sum(v.duplicated.high for v in views)}, lost "
            f"{sum(v.lost.high for v in views)}, early {sum(e.early for e in group)}"
            + (f", late max {max(late):.0f} ms" if late else ""))
    return figures


def _expect_figures(entries: Sequence[JobExpectResult]) -> list[str]:
    """One figure per expect_jobs entry, or the range of their trigger counts when more
    than a few are cited."""
    if len(entries) <= 3:
        return [_figure(e) for e in entries]
    counts = sorted(e.triggers for e in entries)
    return [f"{len(entries)} jobs: {counts[0]}-{counts[-1]} trigger(s) each"]


def _figure(entry: Cited) -> str:
    if isinstance(entry, CallResult):
        return _call_figures([entry])[0]
    if isinstance(entry, JobExpectResult):
        parts = [f"{entry.triggers} trigger(s)"]
        if entry.first_s is not None:
            parts.append(f"first {entry.first_s:.2f} s after create")
        if entry.spacing_s:
            parts.append(f"spacing {entry.spacing_s['min']:.2f}-{entry.spacing_s['max']:.2f} s")
        if entry.payloads:
            parts.append("payload " + json.dumps(entry.payloads[0], separators=(",", ":")))
        window = "" if entry.from_s is None and entry.until_s is None else (
            f" [{entry.from_s or 0:g}, {entry.until_s if entry.until_s is not None else '∞'}) s")
        return f"{entry.job}{window}: " + ", ".join(parts)
    view = entry.per_replica_view if entry.view == "per replica" else entry.across
    late = entry.lateness_ms.get("max")
    return (f"{entry.mechanism} {entry.name}: {entry.triggers_per_tick:g}/tick, dup "
            f"{view.duplicated}, lost {view.lost}, early {entry.early}"
            + (f", late max {late:.0f} ms" if late is not None else ""))


def _alive_figures(report: FieldReport, summary: RunSummary) -> tuple[list[str], list[str]]:
    """The figures of the processes a report names, and which of them died."""
    footprint = summary.metrics_check.get("footprint") or {}
    figures, dead = [], []
    for process in report.alive:
        key = "schedulers" if process == "scheduler" else "daprd"
        total, alive = footprint.get(key), footprint.get(f"{key}_alive")
        if total is None or alive is None:
            dead.append(f"{process}: not recorded")
            continue
        text = f"{process} alive {alive}/{total} at the end"
        if process == "scheduler":
            text += (f" (RSS {footprint.get('scheduler_rss_mib')} MiB, etcd "
                     f"{footprint.get('etcd_db_mib')} MiB)")
        figures.append(text)
        if alive < total:
            dead.append(text)
    return figures, dead


def observe(report: FieldReport, summary: RunSummary) -> Observation:
    """What one run of a report's scenario showed (see the module docstring)."""
    cited = cited_entries(summary, report.calls, report.jobs, report.bindings, report.tasks)
    alive_figures, dead = _alive_figures(report, summary)
    figures = tuple(_call_figures([e for e in cited if isinstance(e, CallResult)])
                    + _expect_figures([e for e in cited if isinstance(e, JobExpectResult)])
                    + _mechanism_figures([e for e in cited if isinstance(e, MechanismResult)])
                    + alive_figures)
    cited_ids = {id(e) for e in cited}
    controls: list[Cited] = [e for e in (*summary.calls, *summary.expect_jobs, *summary.mechanisms)
                             if id(e) not in cited_ids]
    failed = [e for e in controls if e.reasons]
    if failed or summary.driver_errors:
        reason = (f"control {_figure(failed[0]).split(':')[0]}: {failed[0].reasons[0]}" if failed
                  else f"driver: {summary.driver_errors[0]}")
        return Observation("inconclusive", figures, _one_line(reason))
    if not cited and not report.alive:
        return Observation("inconclusive", figures, "no cited entry in the run")
    missed = [e for e in cited if e.reasons]
    if missed or dead:
        why = missed[0].reasons[0] if missed else dead[0]
        return Observation("reproduced", figures, _one_line(why))
    return Observation("not reproduced", figures)


@dataclass
class FieldCell:
    """One report on one version over its trials: the outcome they add up to."""

    version: str
    expected: str
    runs: list[tuple[str, Observation | None]] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        """reproduced if any trial reproduced it, not reproduced if every decisive trial did
        not, inconclusive if none decided, n/a or not run."""
        seen = [o.outcome for _, o in self.runs if o is not None]
        if self.expected == "n/a" and not seen:
            return "n/a"
        if not seen:
            return NOT_RUN
        for outcome in ("reproduced", "not reproduced"):
            if outcome in seen:
                return outcome
        return "inconclusive"

    @property
    def matches(self) -> bool:
        return self.outcome == self.expected or self.outcome in (NOT_RUN, "n/a")

    def count(self, outcome: str) -> int:
        return sum(1 for _, o in self.runs if o is not None and o.outcome == outcome)

    def text(self) -> str:
        """The cell: outcome (trials), figures of the first run of that outcome, run links."""
        outcome = self.outcome
        if outcome in ("n/a", NOT_RUN):
            return outcome
        decisive = [o for _, o in self.runs if o is not None and o.outcome == outcome]
        head = f"**{outcome}** ({self.count(outcome)}/{len(self.runs)})"
        if not self.matches:
            head += f" ≠ expected {self.expected}"
        shown = decisive[0]
        body = "; ".join(_one_line(f, 90) for f in shown.figures)
        why = f" — {shown.why}" if shown.why else ""
        links = " ".join(f"[run {i + 1}](evidence/{run_id}.json)"
                         for i, (run_id, _) in enumerate(self.runs))
        return f"{head}: {body}{why} {links}"


def field_cell(report: FieldReport, version: str, run_ids: Sequence[str],
               summaries: dict[str, RunSummary | None]) -> FieldCell:
    cell = FieldCell(version, report.expected.get(version, "n/a"))
    for run_id in run_ids:
        summary = summaries.get(run_id)
        cell.runs.append((run_id, observe(report, summary) if summary is not None else None))
    return cell


def _cells(record: dict[str, Any], scenarios: Sequence[Scenario], versions: Sequence[str],
           runs_dir: Path, evidence: Path) -> dict[str, dict[str, FieldCell]]:
    runs: dict[str, dict[str, list[str]]] = record.get("runs", {})
    out: dict[str, dict[str, FieldCell]] = {}
    for scenario in scenarios:
        assert scenario.report is not None
        row = {}
        for version in versions:
            ids = runs.get(version, {}).get(scenario.name, [])
            summaries = {i: cited_summary(runs_dir, evidence, i) for i in ids}
            row[version] = field_cell(scenario.report, version, ids, summaries)
        out[scenario.name] = row
    return out


def _report_link(scenario: Scenario) -> str:
    report = scenario.report
    assert report is not None
    return f"[{_one_line(report.title, 200)}]({report.urls[0]})"


def _table(scenarios: Sequence[Scenario], versions: Sequence[str],
           cells: dict[str, dict[str, FieldCell]]) -> list[str]:
    lines = ["| report | fixed in (the report) | " + " | ".join(versions) + " |",
             "| --- | --- | " + " | ".join("---" for _ in versions) + " |"]
    for scenario in scenarios:
        report = scenario.report
        assert report is not None
        row = [f"{_report_link(scenario)} (`{scenario.name}`)", report.fixed or "not fixed",
               *(cells[scenario.name][v].text() for v in versions)]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _details(scenarios: Sequence[Scenario]) -> list[str]:
    lines = ["## The reports", ""]
    for scenario in scenarios:
        report = scenario.report
        assert report is not None
        expected = ", ".join(f"{v} {o}" for v, o in sorted(report.expected.items(),
                                                           key=lambda kv: version_key(kv[0])))
        lines += [f"### {_one_line(report.title, 200)}", "",
                  "- sources: " + ", ".join(f"<{u}>" for u in report.urls),
                  f"- scenario: [`scenarios/field/{scenario.source.name}`]"
                  f"(../scenarios/field/{scenario.source.name}): {_one_line(scenario.description, 600)}",
                  f"- affected (as the report says): {_one_line(report.affected, 400)}; fixed in: "
                  f"{report.fixed or 'not fixed'}",
                  f"- expected here: {expected}",
                  f"- decided by: {_one_line(report.decides, 600)}"]
        if report.missing:
            lines.append(f"- what the harness cannot do yet: {_one_line(report.missing, 600)}")
        lines.append("")
    return lines


def pin_section(scenarios: Sequence[Scenario], versions: Sequence[str],
                cells: dict[str, dict[str, FieldCell]]) -> list[str]:
    """Which version to pin for scheduled work, from the cells: per version the reports it
    still has (reproduced here), those the report says it has but the harness did not
    reproduce, and those not decided; the pick has the fewest reproduced (newest on a tie)."""
    def names(version: str, outcome: str) -> list[str]:
        return [s.name for s in scenarios if cells[s.name][version].outcome == outcome]

    def said(version: str) -> list[str]:
        return [s.name for s in scenarios if cells[s.name][version].expected == "reproduced"
                and cells[s.name][version].outcome == "not reproduced"]

    tested = [v for v in versions if any(cells[s.name][v].outcome not in (NOT_RUN, "n/a")
                                         for s in scenarios)]
    lines = ["## Which version to pin for scheduled work", ""]
    if not tested:
        return [*lines, "No version was tested.", ""]
    pick = min(reversed(tested), key=lambda v: len(names(v, "reproduced")))
    everywhere = [s.name for s in scenarios
                  if all(cells[s.name][v].outcome == "reproduced" for v in tested)]
    lines += [f"Of the tested versions, **{pick}** reproduces the fewest of these reports "
              f"({len(names(pick, 'reproduced'))} of {len(scenarios)}); on a tie the newest is "
              "named."
              + (" Reproduced on every tested version, so no choice of version avoids it: "
                 + ", ".join(f"`{n}`" for n in everywhere) + "." if everywhere else "")
              + " What each version still has, as the harness observed it:", ""]
    for version in reversed(tested):
        parts = [f"**{version}**: reproduced {len(names(version, 'reproduced'))}"
                 + (f" ({', '.join(f'`{n}`' for n in names(version, 'reproduced'))})"
                    if names(version, "reproduced") else "")]
        if said(version):
            parts.append("the report says affected, not reproduced here: "
                         + ", ".join(f"`{n}`" for n in said(version)))
        undecided = names(version, "inconclusive") + names(version, NOT_RUN)
        if undecided:
            parts.append("not decided: " + ", ".join(f"`{n}`" for n in undecided))
        lines.append("- " + "; ".join(parts))
    return [*lines, ""]


def render_field_reports(record: dict[str, Any], scenarios: Sequence[Scenario], runs_dir: Path,
                         evidence: Path, *, generated_at: str | None = None) -> str:
    field_scenarios = [s for s in scenarios if s.report is not None]
    named = {v for s in field_scenarios for v in s.report.expected}  # type: ignore[union-attr]
    versions = sorted(named | set(record.get("runs", {})), key=version_key)
    cells = _cells(record, field_scenarios, versions, runs_dir, evidence)
    mismatches = [f"`{s.name}` on {v}: expected {c.expected}, observed {c.outcome}"
                  for s in field_scenarios for v, c in cells[s.name].items() if not c.matches]
    lines = [
        "# Field reports: Dapr scheduling bugs from its trackers, version by version", "",
        f"Generated by `python3 -m harness field` at {generated_at or record.get('generated_at')}"
        f", harness commit `{record.get('harness_commit')}` at the last invocation (each run's "
        "summary names its own). One row per report (an issue, pull request or release note of "
        "dapr/dapr, dapr/components-contrib or dapr/docs), one column per Dapr version. Each "
        "report's scenario encodes the behaviour the report asks for; a cell is **reproduced** "
        "when an entry the report cites missed that behaviour (or a process it names died), "
        "**not reproduced** when every cited entry met it, **inconclusive** when a control "
        "failed, *n/a* where the report's code path does not exist. (k/K): the trials of that "
        "outcome among all trials; `≠ expected`: the report (its fix, release notes or the "
        "code) says otherwise. Figures are those of the first run of the cell's outcome; what "
        "each report says is affected, and what the harness cannot do yet, is under the "
        "table.", "",
        *_table(field_scenarios, versions, cells), "",
        "## Where the harness and the report disagree", "",
        *([f"- {m}" for m in mismatches] or ["- nowhere: every decided cell is what the report says"]),
        "",
        *pin_section(field_scenarios, versions, cells),
        *_details(field_scenarios),
    ]
    return "\n".join(lines)


def write_field_reports(out_dir: Path, runs_dir: Path, field_dir: Path) -> Path:
    """results/field-reports.md from results/field.json; copies each cited run to evidence/."""
    record = json.loads((out_dir / "field.json").read_text())
    evidence = out_dir / "evidence"
    cited = [cited_summary(runs_dir, evidence, run_id)
             for named in record.get("runs", {}).values() for ids in named.values()
             for run_id in ids if (runs_dir / run_id / "summary.json").exists()]
    copy_evidence(runs_dir, evidence, [s for s in cited if s is not None])
    text = render_field_reports(record, load_field_scenarios(field_dir), runs_dir, evidence,
                                generated_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    path = out_dir / "field-reports.md"
    path.write_text(text)
    return path
