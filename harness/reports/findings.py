"""Findings as data: each sentence of prose the README and the ADR state about Dapr is a
statement plus the evidence query that backs it, checked like a claim.

``findings.yaml`` (beside this module) lists them. A finding names a query (one of ``QUERIES``,
each a function over the cited evidence returning named figures), the figures its statement
quotes (``{name}`` placeholders, Python format syntax) and ``expect``: what the figures must
be for the statement to hold. Rendering fills the statement from the figures; when an
expectation fails the text says ``CHANGED: re-examine`` and names what no longer holds, and
``tests/unit/test_findings.py`` fails. No figure in the prose is written by hand.

In a Markdown document a finding is a block ``<!-- finding:ID -->...<!-- /finding:ID -->``;
``update_document`` re-renders every block it finds.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.reports.faults import FaultRow, fault_rows, mechanism_standing, worst_and_pooled
from harness.reports.rates import Rate
from harness.summary import RunSummary

__all__ = ["CHANGED", "Evidence", "Finding", "FindingError", "QUERIES", "Rendered",
           "load_findings", "render_finding", "update_document"]

FINDINGS_FILE = Path(__file__).with_name("findings.yaml")
CHANGED = "CHANGED: re-examine"
_BLOCK = re.compile(r"<!-- finding:(?P<id>[\w.-]+) -->(?P<body>.*?)<!-- /finding:(?P=id) -->",
                    re.DOTALL)


class FindingError(ValueError):
    """A findings file or query that cannot be used; the message names the finding and field."""


@dataclass
class Evidence:
    """What the findings may query: the cited runs (latest of each scenario), the fault runs
    of faults.md, and the version matrix's runs by version and scenario."""

    summaries: Sequence[RunSummary] = ()
    fault_runs: dict[str, list[RunSummary]] = field(default_factory=dict)
    versions: dict[str, dict[str, RunSummary]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rows: list[FaultRow] = fault_rows(self.fault_runs)

    def run(self, scenario: str) -> RunSummary:
        found = [s for s in self.summaries if s.scenario == scenario]
        if not found:
            raise FindingError(f"no cited run of scenario {scenario!r}")
        return max(found, key=RunSummary.age_key)

    def version_run(self, version: str, scenario: str) -> RunSummary:
        run = self.versions.get(version, {}).get(scenario)
        if run is None:
            raise FindingError(f"no matrix run of {scenario!r} on Dapr {version}")
        return run


# --------------------------------------------------------------------------------------------
# Queries: each returns the figures a statement may quote
# --------------------------------------------------------------------------------------------


def _rows(ev: Evidence, mechanism: str, scenarios: str) -> list[FaultRow]:
    rows = [r for r in ev.rows if r.mechanism == mechanism and fnmatch.fnmatchcase(r.scenario, scenarios)]
    if not rows:
        raise FindingError(f"no fault rows of {mechanism} in scenarios {scenarios!r}")
    return rows


def fault_rate(ev: Evidence, mechanism: str, rate: Literal["lost", "duplicated"],
               scenarios: str = "*") -> dict[str, Any]:
    """A mechanism's lost or duplicated ticks under faults: pooled, and its worst scenario."""
    rows = _rows(ev, mechanism, scenarios)
    top, top_rate, all_rate = worst_and_pooled(rows, mechanism, rate)
    return {
        "count": str(all_rate.count), "count_high": all_rate.count.high, "ticks": all_rate.total,
        "runs": sum(r.trials for r in rows), "scenarios": len(rows),
        "pooled": all_rate.per_thousand(), "sentence": all_rate.bound_sentence(f"ticks {rate}"),
        "worst_scenario": top.scenario, "worst_count": str(top_rate.count),
        "worst_ticks": top.ticks, "worst": top_rate.per_thousand(),
        "standing": mechanism_standing(ev.rows, mechanism),
    }


def fault_stall(ev: Evidence, mechanism: str, scenarios: str) -> dict[str, Any]:
    """Stalls and the longest lateness of a mechanism under the matching fault scenarios."""
    rows = _rows(ev, mechanism, scenarios)
    late = [r.max_lateness_ms for r in rows if r.max_lateness_ms is not None]
    recovery = [s for r in rows for s in r.recovery_s]
    return {
        "stalled": sum(r.stalled for r in rows), "tasks": sum(r.tasks for r in rows),
        "runs": sum(r.trials for r in rows), "scenario_list": ", ".join(r.scenario for r in rows),
        "max_late_s": f"{max(late) / 1000:.1f}" if late else "-",
        "recovery_s": (f"{min(recovery):.1f}-{max(recovery):.1f}" if recovery else "-"),
        "recovery_max": max(recovery, default=0.0),
        "lost_high": sum(r.lost.high for r in rows),
    }


def comparison(ev: Evidence, scenario: str | list[str], mechanism: str) -> dict[str, Any]:
    """One mechanism of a fault-free run (the first of the scenarios named that has a cited
    run): attempts and deliveries per tick, ticks once."""
    names = [scenario] if isinstance(scenario, str) else scenario
    found = [n for n in names if any(s.scenario == n for s in ev.summaries)]
    run = ev.run(found[0] if found else names[0])
    entry = next((e for e in run.mechanisms if e.mechanism == mechanism), None)
    if entry is None:
        raise FindingError(f"run {run.run_id} has no {mechanism}")
    view = entry.across
    return {
        "run": run.run_id, "replicas": run.replicas, "ticks": view.ticks,
        "once": str(view.once), "once_low": view.once.low,
        "share_once": Rate.of(view.once, view.ticks).share(),
        "attempts_per_tick": f"{entry.triggers_per_tick:g}",
        "attempts_per_tick_value": entry.triggers_per_tick,
        "deliveries_per_tick": f"{entry.deliveries / view.ticks:g}" if view.ticks else "-",
        "verdict": entry.verdict,
    }


def version_claims(ev: Evidence, version: str, claims: Sequence[str]) -> dict[str, Any]:
    """Which of these claims the version's matrix runs did not reproduce, with a reason each."""
    from harness.reports.versions import claim_outcomes

    outcomes = claim_outcomes(ev.versions.get(version, {}), claims)
    missing = [c for c in claims if c not in outcomes]
    if missing:
        raise FindingError(f"claims {', '.join(missing)} have no run on Dapr {version}")
    changed = [c for c in claims if outcomes[c][0] is False]
    return {"changed": len(changed), "total": len(claims), "ids": ", ".join(claims),
            "reason": {c: outcomes[c][1] for c in claims}}


def version_rows(ev: Evidence, version: str, mechanism: str) -> dict[str, Any]:
    """The version's comparison and fault runs: which failed for this mechanism, early attempts."""
    runs = [r for r in ev.versions.get(version, {}).values() if r.kind != "claims"]
    entries = [(r, e) for r in runs for e in r.mechanisms if e.mechanism == mechanism]
    failed = sorted({r.scenario for r, e in entries if e.reasons})
    return {"failed": len(failed), "failed_list": ", ".join(failed),
            "rows": len({r.scenario for r, _ in entries}),
            "early": sum(e.early for _, e in entries)}


def version_messages(ev: Evidence, version: str, scenario: str, contains: str,
                     where: Literal["driver_errors", "call_responses"]) -> dict[str, Any]:
    """How many of a run's driver errors (or Jobs API answers) contain a text, and how."""
    run = ev.version_run(version, scenario)
    if where == "driver_errors":
        texts = [(e, "") for e in run.driver_errors]
    else:
        texts = [(str(c.response or ""), f"{c.method} {c.observed_status}") for c in run.calls]
    hits = [(t, how) for t, how in texts if contains in t]
    return {"count": len(hits), "how": ", ".join(sorted({h for _, h in hits if h})) or "-",
            "run": run.run_id}


QUERIES: dict[str, Callable[..., dict[str, Any]]] = {
    f.__name__: f for f in (fault_rate, fault_stall, comparison, version_claims, version_rows,
                            version_messages)}


# --------------------------------------------------------------------------------------------
# The file and its rendering
# --------------------------------------------------------------------------------------------


class Check(BaseModel):
    model_config = ConfigDict(extra="forbid")
    equals: Any = None
    at_least: float | None = None
    at_most: float | None = None
    same_as: str | None = None  # another figure of the same query

    def fails(self, value: Any, figures: dict[str, Any]) -> str | None:
        if self.equals is not None and value != self.equals:
            return f"is {value!r}, expected {self.equals!r}"
        if self.at_least is not None and not value >= self.at_least:
            return f"is {value!r}, expected at least {self.at_least:g}"
        if self.at_most is not None and not value <= self.at_most:
            return f"is {value!r}, expected at most {self.at_most:g}"
        if self.same_as is not None and value != figures.get(self.same_as):
            return f"is {value!r}, expected {self.same_as} ({figures.get(self.same_as)!r})"
        return None


class Query(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str
    params: dict[str, Any] = Field(default_factory=dict)


class Finding(BaseModel):
    """``queries`` name each query's figures (``{job[once]}`` in the statement); ``expect``
    checks figures by ``name.figure``."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[\w.-]+$")
    document: Literal["readme", "adr"]
    statement: str
    queries: dict[str, Query]
    expect: dict[str, Check] = Field(default_factory=dict)


@dataclass(frozen=True)
class Rendered:
    finding: Finding
    text: str
    problems: tuple[str, ...] = ()

    @property
    def holds(self) -> bool:
        return not self.problems


def load_findings(path: Path = FINDINGS_FILE) -> list[Finding]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    if not isinstance(raw, list):
        raise FindingError(f"{path}: a list of findings is expected")
    found: list[Finding] = []
    for n, item in enumerate(raw):
        try:
            finding = Finding.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise FindingError(f"{path}: finding {n} field {where}: {first['msg']}") from None
        for name, query in finding.queries.items():
            if query.query not in QUERIES:
                raise FindingError(f"{path}: finding {finding.id} queries.{name}.query: "
                                   f"{query.query!r} is not one of {', '.join(QUERIES)}")
        for key in finding.expect:
            if key.split(".", 1)[0] not in finding.queries or "." not in key:
                raise FindingError(f"{path}: finding {finding.id} expect.{key}: name a figure "
                                   f"as QUERY.FIGURE with QUERY one of {', '.join(finding.queries)}")
        if finding.id in {f.id for f in found}:
            raise FindingError(f"{path}: finding {finding.id} is listed twice")
        found.append(finding)
    return found


def render_finding(finding: Finding, evidence: Evidence) -> Rendered:
    """The statement filled from its query's figures, or CHANGED with what no longer holds."""
    try:
        figures = {name: QUERIES[q.query](evidence, **q.params)
                   for name, q in finding.queries.items()}
    except FindingError as exc:
        return Rendered(finding, f"**{CHANGED}** ({finding.id}): {exc}", (str(exc),))
    problems = []
    for key, check in finding.expect.items():
        name, figure = key.split(".", 1)
        why = check.fails(figures[name].get(figure), figures[name])
        if why is not None:
            problems.append(f"{key} {why}")
    try:
        text = finding.statement.strip().format(**figures)
    except (KeyError, IndexError) as exc:
        raise FindingError(f"finding {finding.id} statement: no figure {exc} in its queries "
                           f"({', '.join(f'{n}: {sorted(f)}' for n, f in figures.items())})") from None
    if problems:
        text = f"**{CHANGED}** ({finding.id}: {'; '.join(problems)}): {text}"
    return Rendered(finding, " ".join(text.split()), tuple(problems))


def rendered_for(document: str, evidence: Evidence,
                 findings: Sequence[Finding] | None = None) -> dict[str, Rendered]:
    chosen = [f for f in (findings if findings is not None else load_findings())
              if f.document == document]
    return {f.id: render_finding(f, evidence) for f in chosen}


def update_document(text: str, rendered: dict[str, Rendered]) -> str:
    """Every ``<!-- finding:ID -->`` block of ``text`` re-rendered; an unknown ID is an error."""
    def replace(match: re.Match[str]) -> str:
        found = rendered.get(match["id"])
        if found is None:
            raise FindingError(f"the document cites finding {match['id']!r}, which "
                               f"findings.yaml does not list")
        return f"<!-- finding:{match['id']} -->{found.text}<!-- /finding:{match['id']} -->"

    return _BLOCK.sub(replace, text)


def blocks(text: str) -> dict[str, str]:
    """finding id -> the text of its block in ``text``."""
    return {m["id"]: m["body"] for m in _BLOCK.finditer(text)}

