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
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.reports.comparison import latest_per_scenario, load_summaries
from harness.scenario.model import Claim, Scenario, load_scenario

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
    summary: dict[str, Any] | None  # that scenario's latest run, if any

    @property
    def verdict(self) -> str:
        if self.summary is None:
            return NOT_RUN
        return self.claim.verdict if self.summary.get("passed") else CHANGED


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


def _latest(summaries: Sequence[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """The newest run of scenario ``name`` (or of any value of a sweep named ``name``)."""
    matching = [s for s in summaries
                if s.get("scenario") == name or str(s.get("scenario", "")).startswith(name + "[")]
    newest = latest_per_scenario(matching)
    return max(newest, key=lambda s: (str(s.get("started_at") or ""), str(s.get("run_id"))),
               default=None)


def claim_rows(scenarios: Sequence[Scenario], summaries: Sequence[dict[str, Any]]) -> list[ClaimRow]:
    """One row per claim, in claim id order (C2a before C10)."""
    rows = []
    for scenario in scenarios:
        for claim in scenario.all_claims:
            name = claim.shown_by or scenario.name
            rows.append(ClaimRow(claim, scenario, name, _latest(summaries, name)))
    return sorted(rows, key=lambda row: _id_key(row.claim.id))


def _id_key(claim_id: str) -> tuple[int, str]:
    digits = "".join(c for c in claim_id[1:] if c.isdigit())
    return int(digits or 0), claim_id


# --------------------------------------------------------------------------------------------
# Numbers from a run
# --------------------------------------------------------------------------------------------


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{round(float(value), digits):g}"


def _call_label(call: dict[str, Any]) -> str:
    return f"{call.get('method')} {call.get('api')}/jobs/{call.get('job')}"


def _call_status(call: dict[str, Any]) -> str:
    status = call.get("observed_status")
    shown = "no answer" if status is None else str(status)
    if call.get("verdict") == "fail":
        shown += f" (expected {call.get('expect_status')})"
    return shown


def _calls_text(claim: Claim, summary: dict[str, Any]) -> str | None:
    calls = [c for c in summary.get("calls") or []
             if c.get("id") and any(fnmatch.fnmatchcase(c["id"], p) for p in claim.calls)]
    if not claim.calls:
        return None
    if not calls:
        return "calls: none in this run"
    checked = sum(len(c.get("checks") or []) for c in calls)
    passed = sum(c.get("verdict") == "pass" for c in calls)
    if len(calls) <= _INLINE_CALLS:
        parts = [f"`{_call_label(c)}` → {_call_status(c)}" for c in calls]
    else:
        groups = Counter((c.get("method"), c.get("api"), _call_status(c)) for c in calls)
        parts = [f"{n}× {method} {api} → {status}" for (method, api, status), n in groups.items()]
    tail = f" ({passed}/{len(calls)} as expected" + (f", {checked} body checks" if checked else "")
    return "; ".join(parts) + tail + ")"


def _statuses(stats: dict[str, Any]) -> str:
    answers = stats.get("app_status") or {}
    return ", ".join(f"{status}×{n}" for status, n in answers.items())


def _recreated(summary: dict[str, Any], name: str) -> bool:
    """Whether a POST call replaced the job (an overwrite): its tick model is the old schedule's."""
    return any(c.get("method") == "POST" and c.get("job") == name
               and 200 <= int(c.get("observed_status") or 0) < 300
               for c in summary.get("calls") or [])


def _ticks(entry: dict[str, Any] | None) -> str | None:
    """Tick-model numbers of a job, when it had ticks or early triggers to show."""
    if not entry or (not entry.get("ticks_expected") and not entry.get("early_triggers")):
        return None
    late = (entry.get("lateness_ms") or {}).get("max")
    if str(entry.get("schedule", "")).startswith("dueTime"):  # one-time: one tick, retries aside
        return (f"{entry.get('early_triggers')} early"
                + (f", first {_num(late, 1)} ms after its due time" if late is not None else ""))
    return (f"ticks {entry.get('ticks_expected')}: once {entry.get('exactly_once_ticks')}, "
            f"lost {entry.get('lost_ticks')}, duplicated {entry.get('duplicated_ticks')}, "
            f"early {entry.get('early_triggers')}"
            + (f", lateness ≤ {_num(late, 1)} ms" if late is not None else ""))


def _mechanism(summary: dict[str, Any], kind: str, name: str) -> dict[str, Any] | None:
    return next((m for m in summary.get("mechanisms") or []
                 if m.get("mechanism") == kind and m.get("name") == name), None)


def _windows(summary: dict[str, Any], name: str) -> list[str]:
    """The expect_jobs entries of ``name`` that look at part of the window."""
    out = []
    for entry in summary.get("expect_jobs") or []:
        if entry.get("job") != name or (entry.get("from_s"), entry.get("until_s")) == (None, None):
            continue
        lo, hi = entry.get("from_s"), entry.get("until_s")
        span = f"{_num(lo or 0)}–{_num(hi) if hi is not None else 'end'} s"
        gaps = entry.get("spacing_s")
        out.append(f"{span}: {entry.get('triggers')}"
                   + (f" ({_num(gaps['min'])}–{_num(gaps['max'])} s apart)" if gaps else ""))
    return out


def _job_text(summary: dict[str, Any], name: str) -> str:
    stats = (summary.get("job_triggers") or {}).get(name)
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
        replicas = int(summary.get("replicas") or 1)
        if replicas > 1 and stats.get("triggers"):
            parts.append("per replica " + "/".join(str(per_replica.get(str(r), 0))
                                                   for r in range(replicas)))
    elif mechanism is not None:
        parts.append(f"{mechanism.get('triggers')} triggers, "
                     f"{_num(mechanism.get('triggers_per_tick'), 2)} per tick, per replica "
                     + "/".join(str(v) for v in (mechanism.get("per_replica") or {}).values()))
    if not _recreated(summary, name) and (ticks := _ticks(mechanism)):
        parts.append(ticks)
    windows = _windows(summary, name)
    if windows:
        parts.append("by window: " + ", ".join(windows))
    return f"`{name}`: " + ", ".join(parts)


def _binding_text(summary: dict[str, Any], name: str) -> str:
    entry = _mechanism(summary, "binding", name)
    if entry is None:
        return f"binding `{name}`: not in this run"
    view = entry.get("per_replica_view") or {}
    per_replica = "/".join(str(v) for v in (entry.get("per_replica") or {}).values())
    return (f"binding `{name}`: {entry.get('triggers')} triggers, "
            f"{_num(entry.get('triggers_per_tick'), 2)} per tick, per replica {per_replica}; "
            f"per (replica, tick): once {view.get('once')}, duplicated {view.get('duplicated')}, "
            f"lost {view.get('lost')} of {view.get('ticks_expected')}")


def evidence_text(row: ClaimRow) -> str:
    """The numbers the claim's run showed, for the 'what we observed' column."""
    summary = row.summary
    if summary is None:
        return "no run yet"
    parts = [f"{summary.get('replicas')} replica(s), window {_num(summary.get('window_s'))} s"]
    if text := _calls_text(row.claim, summary):
        parts.append(text)
    parts += [_job_text(summary, name) for name in row.claim.jobs]
    parts += [_binding_text(summary, name) for name in row.claim.bindings]
    if not summary.get("passed"):
        reasons = [r for m in summary.get("mechanisms") or [] for r in m.get("reasons") or []]
        reasons += [r for c in summary.get("calls") or [] for r in c.get("reasons") or []]
        reasons += [r for e in summary.get("expect_jobs") or [] for r in e.get("reasons") or []]
        reasons += list(summary.get("driver_errors") or [])
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
    run_id = row.summary.get("run_id")
    return f"{link}, run [{run_id}](evidence/{run_id}.json)"


def _header(rows: Sequence[ClaimRow], generated_at: str) -> list[str]:
    summaries = {r.summary["run_id"]: r.summary for r in rows if r.summary is not None}
    runs = sorted(summaries.values(), key=lambda s: str(s.get("started_at") or ""))
    versions = sorted({str((s.get("dapr") or {}).get("daprd") or "?") for s in runs}) or ["?"]
    commits = sorted({str(s.get("harness_commit") or "unknown") for s in runs})
    starts = [str(s.get("started_at")) for s in runs if s.get("started_at")]
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
            f"{s.get('scenario')} {s.get('replicas')} replica(s), {_num(s.get('window_s'))} s"
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
             "## Claims", "",
             "| claim | where stated | what it says | what we observed | verdict | scenario and run |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        observed = f"{_cell(row.claim.observed)}<br>**Run:** {_cell(evidence_text(row))}"
        verdict = row.verdict if row.verdict in (CHANGED, NOT_RUN) else f"**{row.verdict}**"
        lines.append(f"| {row.claim.id} | {_cell(row.claim.source)} | "
                     f"{_cell(row.claim.statement)} | {observed} | {verdict} | "
                     f"{_run_cell(row, scenarios_link)} |")
    differs = [row for row in rows
               if row.claim.source.startswith("dapr-facts") and row.verdict != "holds"]
    lines += ["", "## Where Dapr differs from dapr-facts.md", ""]
    lines += [f"- {row.claim.id}: {_cell(row.claim.statement)} → {row.verdict}" for row in differs]
    if not differs:
        lines.append("Nowhere among the claims tested: every dapr-facts claim above holds.")
    return "\n".join(lines).rstrip() + "\n"


def write_claims(runs_dir: Path, out_dir: Path, scenarios_dir: Path) -> list[Path]:
    """Write ``claims.md`` and the evidence copies of every run it cites."""
    scenarios = load_claim_scenarios(scenarios_dir)
    if not scenarios:
        raise ValueError(f"no claim scenarios under {scenarios_dir}")
    rows = claim_rows(scenarios, load_summaries(runs_dir))
    written = []
    for run_id in sorted({str(r.summary["run_id"]) for r in rows if r.summary is not None}):
        evidence = out_dir / "evidence" / f"{run_id}.json"
        evidence.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(runs_dir / run_id / "summary.json", evidence)
        written.append(evidence)
    doc = out_dir / "claims.md"
    doc.write_text(render_claims(rows), encoding="utf-8")
    return [doc, *written]
