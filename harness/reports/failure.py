"""Expected vs observed, per mechanism: what a failing scenario prints."""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

__all__ = ["failure_report"]


def failure_report(summary: dict[str, Any]) -> str:
    rows = []
    for entry in summary["mechanisms"]:
        rows.append([
            entry["mechanism"], entry["name"], entry.get("delivery_expected") or "-",
            entry["ticks_expected"], entry["triggers"], entry["exactly_once_ticks"],
            entry["duplicated_ticks"], entry["lost_ticks"], entry["early_triggers"],
            entry["verdict"], "; ".join(entry.get("reasons", [])) or "-",
        ])
    table = tabulate(rows, headers=[
        "mechanism", "name", "expected", "ticks", "triggers", "exactly once", "duplicated",
        "lost", "early", "verdict", "why"], tablefmt="github")
    lines = [
        f"scenario {summary['scenario']} failed on Dapr {summary['dapr']['runtime']} with "
        f"{summary['replicas']} replica(s), window {summary['window_s']:g}s "
        f"(run {summary['run_id']})", "", table,
    ]
    lines += [f"driver: {error}" for error in summary.get("driver_errors", [])]
    for call in summary.get("calls") or []:
        if call.get("verdict") == "fail":
            label = call.get("id") or f"calls[{call.get('index')}]"
            lines.append(f"call {label} ({call.get('method')} {call.get('api')}/jobs/"
                         f"{call.get('job')}): " + "; ".join(call.get("reasons") or []))
    for entry in summary.get("expect_jobs") or []:
        if entry.get("verdict") == "fail":
            span = f"[{entry.get('from_s') or 0:g}, {entry.get('until_s') or 'end'})"
            lines.append(f"job {entry.get('job')} {span}: " + "; ".join(entry.get("reasons") or []))
    return "\n".join(lines)
