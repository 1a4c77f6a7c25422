"""An architecture-decision record whose every number comes from the latest runs.

"Jobs API or cron binding for scheduled work": the comparison, the replica sweep, the claims,
the faults and the benchmarks that exist are cited with their run ids; a section whose
evidence has not been produced yet says which command produces it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tabulate import tabulate

from harness.reports.comparison import latest_per_scenario, load_summaries

__all__ = ["render_adr", "write_adr"]


def _by_name(summaries: Sequence[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    return [s for s in summaries if s["scenario"] == prefix or s["scenario"].startswith(f"{prefix}[")]


def _entry(summary: dict[str, Any], mechanism: str) -> dict[str, Any] | None:
    return next((e for e in summary["mechanisms"] if e["mechanism"] == mechanism), None)


def _cite(summary: dict[str, Any]) -> str:
    return f"[{summary['run_id']}](evidence/{summary['run_id']}.json)"


def _comparison(summaries: Sequence[dict[str, Any]]) -> tuple[list[str], dict[str, bool]]:
    found = _by_name(summaries, "comparison")
    if not found:
        return ["No comparison run yet: `python -m harness run comparison`."], {}
    s = found[0]
    job, binding = _entry(s, "job"), _entry(s, "binding")
    assert job and binding
    lines = [
        f"With {s['replicas']} replicas of one app-id on Dapr {s['dapr']['runtime']}, over "
        f"{s['window_s']:g} s (run {_cite(s)}):", "",
        f"- the job `{job['schedule']}` had {job['ticks_expected']} ticks and "
        f"{job['triggers_per_tick']:g} trigger per tick: {job['exactly_once_ticks']} ticks exactly "
        f"once, {job['duplicated_ticks']} duplicated, {job['lost_ticks']} lost, "
        f"{job['early_triggers']} early; lateness p50 {job['lateness_ms']['p50']} ms, "
        f"max {job['lateness_ms']['max']} ms;",
        f"- the cron binding `{binding['schedule']}` had {binding['triggers_per_tick']:g} triggers "
        f"per tick ({binding['per_replica_view']['once']} of "
        f"{binding['per_replica_view']['ticks_expected']} replica-ticks fired once on their "
        f"replica): {binding['exactly_once_ticks']} ticks exactly once across replicas, "
        f"{binding['duplicated_ticks']} duplicated.",
    ]
    facts = {"job_once": job["exactly_once_ticks"] == job["ticks_expected"] > 0,
             "binding_per_replica": binding["triggers_per_tick"] >= s["replicas"] > 1}
    return lines, facts


def _sweep(summaries: Sequence[dict[str, Any]]) -> list[str]:
    found = sorted(_by_name(summaries, "replica-sweep"), key=lambda s: s["replicas"])
    if not found:
        return ["No replica sweep yet: `python -m harness run replica-sweep`."]
    rows = [[s["replicas"], (_entry(s, "job") or {}).get("triggers_per_tick"),
             (_entry(s, "binding") or {}).get("triggers_per_tick"), _cite(s)] for s in found]
    return [tabulate(rows, headers=["replicas", "job triggers/tick", "binding triggers/tick", "run"],
                     tablefmt="github")]


def _claims(summaries: Sequence[dict[str, Any]]) -> list[str]:
    rows = []
    for s in summaries:
        for claim in s.get("claims") or ([s["claim"]] if s.get("claim") else []):
            verdict = claim.get("verdict") if s.get("passed") else "CHANGED: re-examine"
            rows.append([claim.get("id"), claim.get("statement"), verdict, _cite(s)])
    if not rows:
        return ["No claim runs yet: `pytest scenarios/ -k claim` then `python -m harness claims`."]
    wrong = [r for r in rows if r[2] != "holds"]
    head = f"{len(rows)} claims checked on real Dapr; {len(rows) - len(wrong)} hold. Those that do not:"
    table = tabulate(sorted(wrong, key=lambda r: str(r[0])),
                     headers=["claim", "statement", "verdict", "run"], tablefmt="github")
    return [head, "", table if wrong else "(none)", "", "All claims: [claims.md](claims.md)."]


def _faults(summaries: Sequence[dict[str, Any]]) -> list[str]:
    """One row per fault scenario and mechanism, summed over its jobs or bindings."""
    rows = []
    for s in summaries:
        if not (s.get("faults") and s["scenario"].startswith("fault-")):
            continue
        kinds = ", ".join(f["kind"] for f in s["faults"])
        for mechanism in ("job", "binding"):
            entries = [e for e in s["mechanisms"] if e["mechanism"] == mechanism]
            if not entries:
                continue
            view = "per_replica_view" if mechanism == "binding" else None
            lost = sum(e[view]["lost"] if view else e["lost_ticks"] for e in entries)
            dup = sum(e[view]["duplicated"] if view else e["duplicated_ticks"] for e in entries)
            ticks = sum(e[view]["ticks_expected"] if view else e["ticks_expected"] for e in entries)
            verdict = "pass" if all(e["verdict"] in ("pass", "n/a") for e in entries) else "fail"
            rows.append([kinds, mechanism, ticks, lost, dup, verdict, _cite(s)])
    if not rows:
        return ["No fault runs yet: `pytest scenarios/ -k fault` then `python -m harness faults`."]
    return ["Job ticks are counted across replicas; binding ticks per (replica, tick), since each "
            "sidecar runs its own cron.", "",
            tabulate(rows, headers=["fault", "mechanism", "ticks", "lost", "duplicated",
                                    "verdict", "run"], tablefmt="github"),
            "", "Rates over repeated trials, lateness and replays: [faults.md](faults.md)."]


def _bench(bench_json: Path) -> list[str]:
    if not bench_json.exists():
        return ["No benchmark yet: `python -m harness bench`."]
    from harness.reports.bench import headline_lines

    return [*headline_lines(json.loads(bench_json.read_text())["benchmarks"]), "",
            "Full figures: [bench.md](bench.md)."]


def _decision(facts: dict[str, bool]) -> list[str]:
    if not facts:
        return ["Undecided: the comparison has not been run."]
    if facts["job_once"] and facts["binding_per_replica"]:
        return [
            "Use the **Jobs API** for scheduled work that must run once per tick for the whole "
            "app (the Task API cleanup): observed once per tick across replicas, while a cron "
            "binding ran on every replica. Use a **cron binding** only for work that should run "
            "in every replica (per-instance housekeeping).",
            "",
            "Dapr promises at-least-once delivery for jobs, not exactly-once: keep the handler "
            "idempotent, and read the fault evidence for how often duplicates appear.",
        ]
    return ["The evidence does not support the claim as stated; see the comparison above before "
            "choosing."]


def render_adr(summaries: Sequence[dict[str, Any]], bench_json: Path) -> str:
    comparison, facts = _comparison(summaries)
    versions = sorted({s["dapr"]["runtime"] for s in summaries}) or ["?"]
    return "\n".join([
        "# ADR: Jobs API or cron binding for scheduled work", "",
        "_Generated by `python -m harness adr` from the latest runs; every number links to the "
        "run it comes from. Do not edit by hand._", "",
        f"- Status: proposed, on evidence from Dapr {', '.join(versions)}",
        f"- Date: {time.strftime('%Y-%m-%d')}", "",
        "## Context", "",
        "The Task API must clean up completed todos on a schedule while it runs as several "
        "replicas of one app-id. Dapr offers two schedulers: the Jobs API (jobs stored in the "
        "Scheduler service, which calls `POST /job/{name}` on one replica) and the cron input "
        "binding (a component that every sidecar runs in its own memory).", "",
        "## Evidence", "", "### Across replicas", "", *comparison, "",
        "### Replica sweep", "", *_sweep(summaries), "",
        "### Claims", "", *_claims(summaries), "",
        "### Faults", "", *_faults(summaries), "",
        "### Throughput, precision, cost", "", *_bench(bench_json), "",
        "## Decision", "", *_decision(facts), "",
    ])


def write_adr(runs_dir: Path, out_dir: Path) -> Path:
    summaries = latest_per_scenario(load_summaries(runs_dir))
    if not summaries:
        raise ValueError(f"no runs with a summary.json under {runs_dir}; "
                         "run `pytest scenarios/` or `python -m harness run` first")
    out = out_dir / "adr-jobs-api-or-cron-binding.md"
    out.write_text(render_adr(summaries, out_dir / "bench.json"), encoding="utf-8")
    return out
