"""results/reliability.md from results/reliability.json: each fault of the harness itself, how
often it was tried, and what it left running, held or lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tabulate import tabulate

__all__ = ["render_reliability", "write_reliability_report"]


def _stamp(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    scenario = doc["runner_scenario"]
    return (f"Dapr {doc['dapr']}, harness commit `{doc['harness_commit']}` ({doc['tree']} tree), "
            f"{m['cpus']} CPUs / {m['memory_gib']} GiB, generated {doc['generated_at']} by "
            f"`python3 -m harness reliability`. Runner faults run `{scenario['name']}`: "
            f"{scenario['replicas']} replicas, schedule {', '.join(scenario['schedules'])} "
            f"(a job and a cron binding), window {scenario['window_s']:g} s.")


def _runner_table(doc: dict[str, Any]) -> str:
    rows = []
    for sig in dict.fromkeys(r["signal"] for r in doc["runner_death"]):
        trials = [r for r in doc["runner_death"] if r["signal"] == sig]
        rows.append([
            f"runner {sig} mid-window", len(trials), max(r["processes"] for r in trials),
            sum(r["left"] for r in trials), sum(r["ports_held"] for r in trials),
            f"{max(r['clean_s'] for r in trials):.2f}",
            sum(not r["history_readable"] for r in trials),
            ", ".join(sorted({str(r["exit_code"]) for r in trials})),
        ])
    return tabulate(rows, headers=["fault", "trials", "processes per run", "left running",
                                   "ports held", "slowest clean-up (s)", "histories torn",
                                   "runner exit"], tablefmt="github")


def _burst_table(doc: dict[str, Any]) -> str:
    trials = doc["app_burst"]
    rows = [[i + 1, t["sent"], t["killed_after"], t["acknowledged"], t["recorded"],
             t["lost_acknowledged"], t["recorded_unacknowledged"],
             "yes" if t["history_readable"] else "NO", t["left"], t["ports_held"]]
            for i, t in enumerate(trials)]
    return tabulate(rows, headers=["trial", "triggers sent", "SIGKILL after", "acknowledged",
                                   "recorded", "acknowledged but lost", "recorded, answer lost",
                                   "history readable", "left running", "ports held"],
                    tablefmt="github")


def _malformed_table(doc: dict[str, Any]) -> str:
    rows = [[r["category"], r["cases"], r["precise"], r["loaded"],
             sum(r["other"].values()) or 0, r["slowest_ms"]] for r in doc["malformed"]]
    total = [sum(r[i] for r in rows) for i in (1, 2, 3, 4)]
    rows.append(["**all**", *total, max(r[5] for r in rows)])
    return tabulate(rows, headers=["category", "files", "one precise ScenarioError line",
                                   "loaded (valid after all)", "any other outcome",
                                   "slowest (ms)"], tablefmt="github")


def _env_table(doc: dict[str, Any]) -> str:
    rows = []
    for entry in doc["environments"]:
        trials = entry["trials"]
        outcomes = sorted({t["outcome"] for t in trials})
        rows.append([entry["fault"], len(trials), "<br>".join(o.replace("|", "\\|") for o in outcomes),
                     sum(t["left"] for t in trials), sum(t["ports_held"] for t in trials)])
    return tabulate(rows, headers=["fault", "trials", "what the harness said or did",
                                   "left running", "ports held"], tablefmt="github")


def _others(doc: dict[str, Any]) -> list[str]:
    found = []
    for row in doc["malformed"]:
        found += [f"- {row['category']}: {n} x `{outcome}`" for outcome, n in row["other"].items()]
    return found


def render_reliability(doc: dict[str, Any]) -> str:
    runner = doc["runner_death"]
    kill = [r for r in runner if r["signal"] == "SIGKILL"]
    lines = [
        "# Reliability of the harness itself",
        "",
        _stamp(doc),
        "",
        "Faults of the harness, not of Dapr: each is tried for real and the table says what it "
        "left running, which ports stayed held, and what was lost. \"Left running\" counts "
        "processes carrying the run's tag after the clean-up window; \"ports held\" the run's "
        "ports that still refuse a bind.",
        "",
        "## The runner dies mid-window",
        "",
        f"`python3 -m harness run {doc['runner_scenario']['name']}` is signalled after the job "
        "has fired 3 times. SIGKILL gives the runner no chance to clean up: its watchdog "
        "(harness/cluster/watchdog.py, woken by a pidfd of the runner) ends every tagged process "
        f"group; the requirement is nothing left within {doc['sigkill_deadline_s']:g} s. "
        "SIGINT and SIGTERM run the runner's own teardown (exit 130).",
        "",
        _runner_table(doc),
        "",
        f"SIGKILL: slowest clean-up {max((r['clean_s'] for r in kill), default=0):.2f} s over "
        f"{len(kill)} trials.",
        "",
        "## The app is SIGKILLed during a burst of triggers",
        "",
        "One sample app (the recorder every replica runs), without Dapr, receives "
        f"{doc['settings']['burst_triggers']:,} `POST /job/...` requests from "
        f"{doc['settings']['burst_concurrency']} concurrent clients and is SIGKILLed when half "
        "have been acknowledged. An acknowledged trigger missing from the history would be a "
        "loss; a recorded trigger whose answer never arrived is the expected at-least-once "
        "window (the record is written before the answer).",
        "",
        _burst_table(doc),
        "",
        "## Malformed scenario files",
        "",
        "Each file must fail with one line naming the file, the field and what is allowed "
        "(`<file>: <field>: <problem>, got <value>; allowed: <...>`), or load when the mutation "
        "happened to leave it valid. The Hypothesis fuzz test "
        "(tests/unit/test_scenario_hostile.py, 500 examples per CI run) checks the same rule.",
        "",
        _malformed_table(doc),
        "",
        *(_others(doc) or ["No file produced any other outcome."]),
        "",
        "## Bad environments",
        "",
        _env_table(doc),
        "",
    ]
    return "\n".join(lines)


def write_reliability_report(source: Path, out_dir: Path) -> list[Path]:
    doc = json.loads(source.read_text())
    target = out_dir / "reliability.md"
    target.write_text(render_reliability(doc))
    return [source, target]
