"""The claims table: every claim the claim scenarios record, next to what their latest run saw.

Claims are data in the scenario files (``claim:`` or ``claims:``; see :class:`harness.scenario.model.Claim`).
Each claim's evidence is the latest run of its scenario (or of the scenario named by
``shown_by``), read from ``results/runs/*/summary.json``. The verdict column repeats the
recorded verdict when that run passed; when it failed, Dapr no longer behaves as recorded and
the cell says so. ``write_claims`` renders ``claims.md`` and copies every cited summary to
``evidence/<run_id>.json``, as ``harness.reports.comparison`` does for the comparison.
"""

from __future__ import annotations

import fnmatch
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.check import Bound, CallResult, MechanismResult
from harness.reports.context import Context, commit_cell, context_of, context_table
from harness.reports.evidence_log import cited_summaries
from harness.summary import RunSummary, copy_evidence, latest_runs
from harness.scenario.model import Claim, Scenario
from harness.scenario.loading import load_scenario

__all__ = [
    "ClaimRow",
    "claim_rows",
    "load_claim_scenarios",
    "render_claims",
    "write_claims",
]

CHANGED = "CHANGED: re-examine"
NOT_RUN = "NOT RUN"
_INLINE_CALLS = 4  # up to this many calls are listed one by one, more are grouped


@dataclass(frozen=True)
class ClaimRow:
    claim: Claim
    scenario: Scenario  # the file that records the claim
    evidence_scenario: str  # the scenario whose run is the evidence
    summary: RunSummary | None  # that scenario's latest run, if any

    @property
    def verdict(self) -> str:
        if self.summary is None:
            return NOT_RUN
        return self.claim.verdict if self.summary.passed else CHANGED


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def _declares_claims(path: Path) -> bool:
    """Whether a file has a claim block; files that are not claim scenarios (even broken ones
    someone is editing) are left to the scenarios' own tests."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(raw, dict) and bool(raw.get("claim") or raw.get("claims"))


def load_claim_scenarios(directory: Path) -> list[Scenario]:
    """Every scenario of ``directory/*.yaml`` that records claims; claim ids must be unique."""
    scenarios: list[Scenario] = []
    for path in sorted(Path(directory).glob("*.yaml"), key=lambda p: p.name):
        if _declares_claims(path):
            scenarios.extend(load_scenario(path))
    first: dict[str, Path] = {}
    for scenario in scenarios:
        for claim in scenario.all_claims:
            if claim.id in first and first[claim.id] != scenario.source:
                raise ValueError(f"{scenario.source}: claim id {claim.id} is also used by "
                                 f"{first[claim.id]}; claim ids must be unique")
            first[claim.id] = scenario.source
    return scenarios


def _latest(summaries: Sequence[RunSummary], name: str, clean_only: bool) -> RunSummary | None:
    """The newest run of scenario ``name`` (or of any value of a sweep named ``name``)."""
    names = {s.scenario for s in summaries if s.scenario == name or s.scenario.startswith(name + "[")}
    newest = [run for n in names for run in latest_runs(summaries, n, clean_only=clean_only)]
    return max(newest, key=RunSummary.age_key, default=None)


def claim_rows(scenarios: Sequence[Scenario], summaries: Sequence[RunSummary], *,
               clean_only: bool = False) -> list[ClaimRow]:
    """One row per claim, in claim id order (C2a before C10)."""
    rows = []
    for scenario in scenarios:
        for claim in scenario.all_claims:
            name = claim.shown_by or scenario.name
            rows.append(ClaimRow(claim, scenario, name, _latest(summaries, name, clean_only)))
    return sorted(rows, key=lambda row: _id_key(row.claim.id))


def _id_key(claim_id: str) -> tuple[int, str]:
    digits = "".join(c for c in claim_id[1:] if c.isdigit())
    return int(digits or 0), claim_id


# --------------------------------------------------------------------------------------------
# Numbers from a run
# --------------------------------------------------------------------------------------------


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{round(float(value), digits):g}"


def _call_label(call: CallResult) -> str:
    return f"{call.method} {call.api}/jobs/{call.job}"


def _call_status(call: CallResult) -> str:
    shown = "no answer" if call.observed_status is None else str(call.observed_status)
    if call.verdict == "fail":
        shown += f" (expected {call.expect_status})"
    return shown


def _calls_text(claim: Claim, summary: RunSummary) -> str | None:
    calls = [c for c in summary.calls
             if c.id and any(fnmatch.fnmatchcase(c.id, p) for p in claim.calls)]
    if not claim.calls:
        return None
    if not calls:
        return "calls: none in this run"
    checked = sum(len(c.checks) for c in calls)
    passed = sum(c.verdict == "pass" for c in calls)
    if len(calls) <= _INLINE_CALLS:
        parts = [f"`{_call_label(c)}` → {_call_status(c)}" for c in calls]
    else:
        groups = Counter((c.method, c.api, _call_status(c)) for c in calls)
        parts = [f"{n}× {method} {api} → {status}" for (method, api, status), n in groups.items()]
    tail = f" ({passed}/{len(calls)} as expected" + (f", {checked} body checks" if checked else "")
    return "; ".join(parts) + tail + ")"


def _statuses(stats: dict[str, Any]) -> str:
    answers = stats.get("app_status") or {}
    return ", ".join(f"{status}×{n}" for status, n in answers.items())


def _recreated(summary: RunSummary, name: str) -> bool:
    """Whether a POST call replaced the job (an overwrite): its tick model is the old schedule's."""
    return any(c.method == "POST" and c.job == name and 200 <= (c.observed_status or 0) < 300
               for c in summary.calls)


def _ticks(entry: MechanismResult | None, recreated: bool = False) -> str | None:
    """Tick-model numbers of a job, when it had ticks or early attempts to show; for a job a
    POST replaced, the model is its first schedule's, and the text says so."""
    if not entry or (not entry.across.ticks and not entry.early):
        return None
    if recreated:
        view = entry.across
        return (f"tick model of its first schedule (`{entry.schedule}`; the overwrite is not "
                f"modelled, so ticks the new schedule replaced count as lost): ticks "
                f"{view.ticks}, once {view.once}, lost {view.lost}, duplicated {view.duplicated}")
    late = entry.lateness_ms.get("max")
    if entry.schedule.startswith("dueTime"):  # one-time: one tick, retries aside
        return (f"{Bound(entry.early_low, entry.early)} early"
                + (f", first {_num(late, 1)} ms after its due time" if late is not None else ""))
    view = entry.across
    return (f"ticks {view.ticks}: once {view.once}, lost {view.lost}, duplicated "
            f"{view.duplicated}, early {Bound(entry.early_low, entry.early)}"
            + (f", lateness ≤ {_num(late, 1)} ms" if late is not None else ""))


def _mechanism(summary: RunSummary, kind: str, name: str) -> MechanismResult | None:
    return next((m for m in summary.mechanisms if m.mechanism == kind and m.name == name), None)


def _windows(summary: RunSummary, name: str) -> list[str]:
    """The expect_jobs entries of ``name`` that look at part of the window."""
    out = []
    for entry in summary.expect_jobs:
        if entry.job != name or (entry.from_s, entry.until_s) == (None, None):
            continue
        lo, hi = entry.from_s, entry.until_s
        span = f"{_num(lo or 0)}–{_num(hi) if hi is not None else 'end'} s"
        gaps = entry.spacing_s
        out.append(f"{span}: {entry.triggers}"
                   + (f" ({_num(gaps['min'])}–{_num(gaps['max'])} s apart)" if gaps else ""))
    return out


def _job_text(summary: RunSummary, name: str) -> str:
    stats = summary.job_triggers.get(name)
    mechanism = _mechanism(summary, "job", name)
    if stats is None and mechanism is None:
        return f"`{name}`: not in this run"
    parts = []
    if stats is not None:
        parts.append(f"{stats.get('triggers')} deliver{'y' if stats.get('triggers') == 1 else 'ies'}"
                     + (f" (app answered {_statuses(stats)})" if stats.get("triggers") else ""))
        if stats.get("first_after_create_s") is not None:
            parts.append(f"first {_num(stats['first_after_create_s'])} s after create")
        gaps = stats.get("spacing_s")
        if gaps:
            parts.append(f"{_num(gaps['min'])}–{_num(gaps['max'])} s apart")
        per_replica = stats.get("per_replica") or {}
        replicas = summary.replicas or 1
        if replicas > 1 and stats.get("triggers"):
            parts.append("per replica " + "/".join(str(per_replica.get(str(r), 0))
                                                   for r in range(replicas)))
    elif mechanism is not None:
        parts.append(f"{mechanism.triggers} triggers, {_num(mechanism.triggers_per_tick, 2)} per "
                     "tick, per replica " + "/".join(str(v) for v in mechanism.per_replica.values()))
    if ticks := _ticks(mechanism, _recreated(summary, name)):
        parts.append(ticks)
    windows = _windows(summary, name)
    if windows:
        parts.append("by window: " + ", ".join(windows))
    return f"`{name}`: " + ", ".join(parts)


def _binding_text(summary: RunSummary, name: str) -> str:
    entry = _mechanism(summary, "binding", name)
    if entry is None:
        return f"binding `{name}`: not in this run"
    view = entry.per_replica_view
    per_replica = "/".join(str(v) for _, v in sorted(entry.per_replica.items()))
    return (f"binding `{name}`: {entry.triggers} triggers, {_num(entry.triggers_per_tick, 2)} "
            f"per tick, per replica {per_replica}; per (replica, tick): once {view.once}, "
            f"duplicated {view.duplicated}, lost {view.lost} of {view.ticks}")


def evidence_text(row: ClaimRow) -> str:
    """The numbers the claim's run showed, for the 'what we observed' column."""
    summary = row.summary
    if summary is None:
        return "no run yet"
    parts = []
    if text := _calls_text(row.claim, summary):
        parts.append(text)
    parts += [_job_text(summary, name) for name in row.claim.jobs]
    parts += [_binding_text(summary, name) for name in row.claim.bindings]
    if not summary.passed:
        reasons = [r for c in summary.checkers if not c.valid for r in c.reasons]
        parts.append("run FAILED: " + ("; ".join(reasons[:4]) or "see its summary"))
    return "; ".join(parts)


# --------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------


def _cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _run_cell(row: ClaimRow, scenarios_link: str) -> str:
    source = row.scenario.source.name
    if row.claim.shown_by:
        source = f"{row.claim.shown_by}.yaml"
    link = f"[{row.evidence_scenario}]({scenarios_link}/{source})"
    if row.summary is None:
        return f"{link}, no run"
    run_id = row.summary.run_id
    return f"{link}, run [{run_id}](evidence/{run_id}.json)"


def _context(row: ClaimRow) -> Context:
    """The claim's run: its Dapr, replicas, window, commit, and the schedules it cites."""
    if row.summary is None:
        return Context("-", "-", "-", "-", "-")
    names = {*row.claim.jobs, *row.claim.bindings}
    cited = [e for e in row.summary.mechanisms if e.name in names]
    context = context_of(row.summary, cited)
    return context if cited else Context(context.dapr, context.replicas, "-", context.window,
                                         context.commit)


def _header(rows: Sequence[ClaimRow], generated_at: str) -> list[str]:
    summaries = {r.summary.run_id: r.summary for r in rows if r.summary is not None}
    runs = sorted(summaries.values(), key=RunSummary.age_key)
    versions = sorted({s.dapr.version for s in runs}) or ["?"]
    commits = sorted({commit_cell(s) for s in runs})
    starts = [s.started_at for s in runs if s.started_at]
    counts = Counter(row.verdict for row in rows)
    order = ["holds", "wrong", "partly", CHANGED, NOT_RUN]
    tally = ", ".join(f"{counts[v]} {v}" for v in order if counts[v])
    lines = [
        "# Claims about Dapr's Jobs API, tested on real Dapr",
        "",
        ("_Generated by `python -m harness claims` from the latest run of each claim scenario; "
         "do not edit by hand (re-run the command instead)._"),
        "",
        (f"- Dapr: {', '.join(versions)} (daprd, scheduler with embedded etcd, placement; real "
         "processes on 127.0.0.1)"),
        f"- Runs: {len(runs)}" + (f", from {starts[0]} to {starts[-1]}" if starts else ""),
        "- Replicas and windows: " + "; ".join(
            f"{s.scenario} {s.replicas} replica(s), {_num(s.window_s)} s"
            for s in runs),
        f"- Harness commit(s): {', '.join(commits) or 'unknown'}",
        f"- Generated: {generated_at}",
        f"- Verdicts: {tally or 'none'}",
    ]
    return lines


HOW_TO_READ = (
    "Each claim is stated in our own words; *where stated* cites the lesson's section or the "
    "project's source-read facts (`dapr-facts.md`). *What we observed* is the scenario's "
    "recorded observation, followed by the numbers of its latest run (status codes, deliveries "
    "the app received and what it answered, seconds after the create request, spacing). Each "
    "scenario encodes the behaviour in the verdict as expectations, so it fails when Dapr "
    "behaves otherwise: then the verdict reads *CHANGED: re-examine*. Verdicts: *holds* (Dapr "
    "does what the claim says), *wrong* (it does not), *partly* (true only in part or only "
    "for a reason other than the one given)."
)


def render_claims(rows: Sequence[ClaimRow], *, generated_at: str | None = None,
                  scenarios_link: str = "../scenarios") -> str:
    """The whole claims document (Markdown)."""
    generated_at = generated_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    lines = [*_header(rows, generated_at), "", "## How to read", "", HOW_TO_READ, "",
             "## Claims", ""]
    cells = []
    for row in rows:
        observed = f"{_cell(row.claim.observed)}<br>**Run:** {_cell(evidence_text(row))}"
        verdict = row.verdict if row.verdict in (CHANGED, NOT_RUN) else f"**{row.verdict}**"
        cells.append([row.claim.id, _cell(row.claim.source), _cell(row.claim.statement),
                      observed, verdict, _run_cell(row, scenarios_link)])
    lines.append(context_table(["claim", "where stated", "what it says", "what we observed",
                                "verdict", "scenario and run"], cells,
                               [_context(row) for row in rows]))
    differs = [row for row in rows
               if row.claim.source.startswith("dapr-facts") and row.verdict != "holds"]
    lines += ["", "## Where Dapr differs from dapr-facts.md", ""]
    lines += [f"- {row.claim.id}: {_cell(row.claim.statement)} → {row.verdict}" for row in differs]
    if not differs:
        lines.append("Nowhere among the claims tested: every dapr-facts claim above holds.")
    return "\n".join(lines).rstrip() + "\n"


def write_claims(runs_dir: Path, out_dir: Path, scenarios_dir: Path, *,
                 allow_dirty: bool = False) -> list[Path]:
    """Write ``claims.md`` and the evidence copies of every run it cites (runs of a clean tree
    unless ``allow_dirty``)."""
    scenarios = load_claim_scenarios(scenarios_dir)
    if not scenarios:
        raise ValueError(f"no claim scenarios under {scenarios_dir}")
    rows = claim_rows(scenarios, cited_summaries(runs_dir, out_dir), clean_only=not allow_dirty)
    cited = list({r.summary.run_id: r.summary for r in rows if r.summary is not None}.values())
    written = copy_evidence(runs_dir, out_dir / "evidence", cited)
    doc = out_dir / "claims.md"
    doc.write_text(render_claims(rows), encoding="utf-8")
    return [doc, *written]
