"""Reports from finished runs: a Markdown comparison table, timeline plots and evidence copies.

Input: ``results/runs/<run-id>/summary.json`` (written by the runner) and ``history.jsonl``
(see :mod:`harness.run.history`). Output (``write_reports``): ``comparison.md``, PNG plots under
``plots/`` and a copy of every cited run's summary under ``evidence/<run_id>.json``, so a
committed report can cite evidence that is not git-ignored.

Plots are drawn on matplotlib's Agg canvas directly (no pyplot, no display, no global state).
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from tabulate import tabulate

from harness.run.history import History, Trigger, load_history

__all__ = [
    "DEFAULT_TITLE",
    "fault_spans",
    "latest_per_scenario",
    "load_summaries",
    "mechanism_table",
    "plot_lateness",
    "headline_table",
    "update_readme",
    "plot_timeline",
    "render_comparison",
    "write_reports",
]

DEFAULT_TITLE = "Jobs API vs cron binding across replicas"
TABLE_HEADERS = [
    "scenario", "Dapr", "mechanism", "name", "replicas", "schedule", "window (s)",
    "ticks expected", "triggers", "triggers/tick", "per replica", "exactly-once ticks",
    "duplicated", "lost", "early", "per-replica view (once/dup/lost of n)",
    "lateness p50 (ms)", "p99 (ms)", "max (ms)", "faults", "verdict", "run id",
]
_MECHANISM_STYLE = {  # mechanism -> (marker, colour, y offset within a replica's row)
    "job": ("o", "tab:blue", -0.12),
    "binding": ("s", "tab:orange", 0.12),
}


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_summaries(runs_dir: Path) -> list[dict[str, Any]]:
    """Every ``<runs_dir>/*/summary.json``, sorted by run id; dirs without one are skipped."""
    if not runs_dir.is_dir():
        return []
    summaries = [json.loads(p.read_text(encoding="utf-8")) for p in runs_dir.glob("*/summary.json")]
    return sorted(summaries, key=lambda s: str(s.get("run_id", "")))


def latest_per_scenario(summaries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest run of each scenario name (sweep instances count as scenarios), by name."""
    newest: dict[str, dict[str, Any]] = {}
    for summary in summaries:
        name = str(summary.get("scenario", "?"))
        if name not in newest or _age_key(summary) > _age_key(newest[name]):
            newest[name] = summary
    return [newest[name] for name in sorted(newest)]


def _age_key(summary: dict[str, Any]) -> tuple[str, str]:
    return str(summary.get("started_at") or ""), str(summary.get("run_id") or "")


def _history_of(runs_dir: Path, run_id: str) -> tuple[History, str | None]:
    """A run's history, or an empty one and the reason it could not be read."""
    try:
        return load_history(runs_dir / run_id / "history.jsonl"), None
    except (OSError, ValueError) as exc:
        return History(triggers=(), events=()), f"history unreadable: {exc}"


# --------------------------------------------------------------------------------------------
# Table
# --------------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    """A table cell: '-' for missing, compact numbers, pipes escaped."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("|", "\\|")


def _ms(value: float | None) -> str:
    return "-" if value is None else str(round(value))


def _per_replica(entry: dict[str, Any]) -> str:
    counts = {int(k): int(v) for k, v in (entry.get("per_replica") or {}).items()}
    n = max([int(entry.get("replicas") or 0), *(k + 1 for k in counts)])
    return "/".join(str(counts.get(i, 0)) for i in range(n)) or "-"


def _per_replica_view(entry: dict[str, Any]) -> str:
    """Once/duplicated/lost per (replica, tick): the unit of a cron binding's own claim.

    A job has one schedule for the whole app-id, so the view only matters when a scenario
    judges a job per replica."""
    view = entry.get("per_replica_view")
    per_replica_claim = entry.get("delivery_expected") == "once_per_replica"
    if not view or (entry.get("mechanism") == "job" and not per_replica_claim):
        return "-"
    return f"{view.get('once', 0)}/{view.get('duplicated', 0)}/{view.get('lost', 0)} " \
           f"of {view.get('ticks_expected', 0)}"


def _faults_cell(summary: dict[str, Any]) -> str:
    parts = []
    for fault in summary.get("faults") or []:
        where = "" if fault.get("replica") is None else f" r{fault['replica']}"
        parts.append(f"{fault.get('kind', '?')}{where} @{_cell(float(fault.get('at_s', 0)))}s")
    return ", ".join(parts) or "-"


def _dapr_version(summary: dict[str, Any]) -> str:
    dapr = summary.get("dapr") or {}
    return str(dapr.get("daprd") or dapr.get("runtime") or "?")


def _run_cell(run_id: str, link_evidence: bool) -> str:
    return f"[{run_id}](evidence/{run_id}.json)" if link_evidence else run_id


def _row(summary: dict[str, Any], entry: dict[str, Any], link_evidence: bool) -> list[str]:
    late = entry.get("lateness_ms") or {}
    tpt = entry.get("triggers_per_tick")
    return [
        _cell(summary.get("scenario")), _cell(_dapr_version(summary)),
        _cell(entry.get("mechanism")), _cell(entry.get("name")),
        _cell(entry.get("replicas", summary.get("replicas"))), _cell(entry.get("schedule")),
        _cell(entry.get("window_s", summary.get("window_s"))), _cell(entry.get("ticks_expected")),
        _cell(entry.get("triggers")), "-" if tpt is None else f"{tpt:.1f}",
        _per_replica(entry), _cell(entry.get("exactly_once_ticks")),
        _cell(entry.get("duplicated_ticks")), _cell(entry.get("lost_ticks")),
        _cell(entry.get("early_triggers")), _per_replica_view(entry),
        _ms(late.get("p50")), _ms(late.get("p99")), _ms(late.get("max")),
        _faults_cell(summary), _cell(entry.get("verdict")),
        _run_cell(str(summary.get("run_id")), link_evidence),
    ]


def mechanism_table(summaries: Sequence[dict[str, Any]], *, link_evidence: bool = False) -> str:
    """A GitHub-Markdown table, one row per mechanism entry of every summary given."""
    rows = [_row(s, e, link_evidence) for s in summaries for e in s.get("mechanisms") or []]
    return tabulate(rows, headers=TABLE_HEADERS, tablefmt="github", disable_numparse=True)


# --------------------------------------------------------------------------------------------
# Markdown document
# --------------------------------------------------------------------------------------------


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _dapr_line(dapr: dict[str, Any]) -> str:
    parts = [f"{k} {dapr.get(k) or 'n/a'}" for k in ("runtime", "daprd", "scheduler", "placement", "cli")]
    return ", ".join(parts)


def _machine_line(machine: dict[str, Any]) -> str:
    return (f"{machine.get('hostname', '?')}: {machine.get('cpus', '?')} CPUs, "
            f"{machine.get('memory_gib', '?')} GiB, {machine.get('platform', '?')}")


def _provenance(summaries: Sequence[dict[str, Any]]) -> list[str]:
    dapr = [s.get("dapr") or {} for s in summaries]
    starts = sorted(str(s["started_at"]) for s in summaries if s.get("started_at"))
    ends = sorted(str(s.get("finished_at") or s.get("started_at")) for s in summaries
                  if s.get("finished_at") or s.get("started_at"))
    span = f"{starts[0]} to {ends[-1]}" if starts and ends else "unknown"
    adaptations = _unique(a for d in dapr for a in d.get("adaptations") or [])
    lines = ["## Provenance", ""]
    lines += [f"- Dapr: {line}" for line in _unique(_dapr_line(d) for d in dapr)]
    sources = _unique(str(d.get("source") or "") for d in dapr)
    lines.append(f"- Dapr source: {', '.join(sources) or 'unknown'}")
    if adaptations:
        lines += ["- Adaptations:", *(f"  - {a}" for a in adaptations)]
    else:
        lines.append("- Adaptations: none")
    commits = _unique(str(s.get("harness_commit") or "") for s in summaries)
    lines.append(f"- Harness commit(s): {', '.join(commits) or 'unknown'}")
    machines = _unique(_machine_line(s.get("machine") or {}) for s in summaries)
    lines += [f"- Machine: {m}" for m in machines]
    lines.append(f"- Runs: {len(summaries)} (latest of each scenario), {span}")
    return lines


HOW_TO_READ = (
    "Each row is one mechanism (a job created through the Jobs API, or a `bindings.cron` "
    "component loaded by every replica's sidecar) observed over a window by the app replicas. "
    "A *tick* is one scheduled firing time. **Exactly once** = a tick that produced exactly one "
    "trigger across all replicas; **duplicated** = a tick with more than one trigger across "
    "replicas; **lost** = an expected tick with none; **early** = triggers before their tick. "
    "A cron binding fires in every sidecar, so the *per-replica view* counts each (replica, "
    "tick) on its own: for bindings, that view (not the across-replicas one) says whether each "
    "replica fired once per tick. *triggers/tick* is triggers on expected ticks divided by "
    "expected ticks; *per replica* is trigger counts for replicas 0/1/2/... Lateness is the "
    "time from a tick to its first trigger; for `@every` bindings each sidecar's phase is "
    "estimated from its own triggers, so their lateness is relative and early triggers cannot "
    "be seen."
)


def _caption(summaries: Sequence[dict[str, Any]]) -> str:
    versions = ", ".join(_unique(_dapr_version(s) for s in summaries)) or "?"
    return (f"Dapr {versions}. Replicas, schedule and observation window (s) of every row are "
            "in its columns; the run id links to the run's summary under `evidence/`.")


def _reasons(summaries: Sequence[dict[str, Any]]) -> list[str]:
    lines = []
    for s in summaries:
        for e in s.get("mechanisms") or []:
            for reason in e.get("reasons") or []:
                lines.append(f"- {s.get('scenario')} / {e.get('mechanism')} `{e.get('name')}` "
                             f"({e.get('verdict')}): {reason}")
        lines += [f"- {s.get('scenario')}: driver error: {err}" for err in s.get("driver_errors") or []]
    return ["## Verdict reasons", "", *lines] if lines else []


def _mismatches(summaries: Sequence[dict[str, Any]]) -> list[str]:
    lines = []
    for s in summaries:
        for e in s.get("mechanisms") or []:
            for m in (e.get("metrics") or {}).get("mismatches") or []:
                lines.append(f"- {s.get('scenario')} / {e.get('mechanism')} `{e.get('name')}` "
                             f"(run `{s.get('run_id')}`): {m}")
    if not lines:
        return []
    return ["## Mismatches between the app's record and Dapr's metrics", "", *lines]


def _timeline_section(summary: dict[str, Any]) -> list[str]:
    run_id = summary.get("run_id")
    lines = [f"### {summary.get('scenario')} (`{run_id}`)", ""]
    if summary.get("description"):
        lines += [str(summary["description"]).strip(), ""]
    lines += [f"{summary.get('replicas', '?')} replicas, window {_cell(summary.get('window_s'))} s, "
              f"Dapr {_dapr_version(summary)}, faults: {_faults_cell(summary)}, "
              f"passed: {summary.get('passed')}. "
              f"Evidence: [`evidence/{run_id}.json`](evidence/{run_id}.json).", ""]
    return [*lines, f"![timeline](plots/{run_id}-timeline.png)", ""]


def render_comparison(summaries: Sequence[dict[str, Any]], *, title: str,
                      lateness_plot: str | None = None) -> str:
    """The whole comparison document (Markdown) for the given runs."""
    lines = [f"# {title}", "",
             "_Generated by `python -m harness report` from the runs' summaries and histories; "
             "do not edit by hand (re-run the command instead)._", ""]
    lines += [*_provenance(summaries), "", "## How to read", "", HOW_TO_READ, ""]
    lines += ["## Results", "", _caption(summaries), "",
              mechanism_table(summaries, link_evidence=True), ""]
    for section in (_reasons(summaries), _mismatches(summaries)):
        lines += [*section, ""] if section else []
    if lateness_plot:
        lines += ["## Lateness", "", f"![lateness]({lateness_plot})", ""]
    lines += ["## Timelines", ""]
    for summary in summaries:
        lines += _timeline_section(summary)
    return "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------


def fault_spans(history: History) -> list[tuple[str, str, float, float | None]]:
    """(fault kind, target, start wall, end wall or None): ``fault_end`` events paired in order
    with the earliest open ``fault_start`` of the same kind and target."""
    spans: list[list[Any]] = []
    for event in sorted(history.events, key=lambda e: e.wall):
        key = (str(event.attrs.get("fault", "?")), str(event.attrs.get("target", "?")))
        if event.event == "fault_start":
            spans.append([*key, event.wall, None])
        elif event.event == "fault_end":
            match = next((s for s in spans if (s[0], s[1]) == key and s[3] is None), None)
            if match is not None:
                match[3] = event.wall
    return [(str(k), str(t), float(a), None if b is None else float(b)) for k, t, a, b in spans]


def _origin(history: History) -> float:
    start = history.first_event("window_start")
    if start is not None:
        return start.wall
    walls = [r.wall for r in (*history.triggers, *history.events)]
    return min(walls) if walls else 0.0


def _window_end(history: History, summary: dict[str, Any], origin: float) -> float | None:
    end = history.first_event("window_end")
    if end is not None:
        return end.wall - origin
    window = summary.get("window_s")
    return float(window) if window is not None and history.first_event("window_start") else None


def _replica_count(history: History, summary: dict[str, Any]) -> int:
    seen = [t.replica for t in history.triggers]
    seen += [int(e.attrs["replica"]) for e in history.events if "replica" in e.attrs]
    return max([int(summary.get("replicas") or 1), *(r + 1 for r in seen)])


def _scatter_triggers(ax: Any, history: History, origin: float) -> None:
    groups: dict[str, list[Trigger]] = defaultdict(list)
    for t in history.triggers:
        groups[t.mechanism if t.outcome == "ok" else t.outcome].append(t)
    labels = {"job": "job trigger", "binding": "binding trigger",
              "failed": "failed (app answered an error)", "refused": "refused (bad API token)"}
    styles = {"failed": ("X", "tab:red"), "refused": ("+", "black")}
    for key, trigs in groups.items():
        marker, colour, _ = _MECHANISM_STYLE.get(key, ("o", "grey", 0.0))
        marker, colour = styles.get(key, (marker, colour))
        xs = [t.wall - origin for t in trigs]
        ys = [t.replica + _MECHANISM_STYLE.get(t.mechanism, ("", "", 0.0))[2] for t in trigs]
        ax.scatter(xs, ys, marker=marker, c=colour, s=36, label=f"{labels.get(key, key)} ({len(trigs)})",
                   zorder=3, linewidths=1.5 if key in styles else 0.5)


def _draw_faults(ax: Any, history: History, origin: float, end: float | None) -> None:
    for i, (kind, target, start, stop) in enumerate(fault_spans(history)):
        x0 = start - origin
        x1 = (stop - origin) if stop is not None else (end if end is not None else x0 + 1.0)
        ax.axvspan(x0, max(x1, x0 + 0.15), color="tab:red", alpha=0.15, zorder=1,
                   label="fault" if i == 0 else None)
        ax.annotate(f"{kind} ({target})", (x0, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(2, -12 - 10 * (i % 3)), textcoords="offset points", fontsize=7,
                    color="tab:red")


def _draw_window(ax: Any, end: float | None, has_start: bool) -> None:
    if has_start:
        ax.axvline(0.0, color="green", linestyle="--", linewidth=1, label="window start", zorder=2)
    if end is not None:
        ax.axvline(end, color="purple", linestyle="--", linewidth=1, label="window end", zorder=2)


def _save(fig: Figure, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(out, format="png", dpi=110)
    return out


def plot_timeline(history: History, summary: dict[str, Any], out: Path, *,
                  note: str | None = None) -> Path:
    """Triggers per replica over time (seconds since ``window_start``), faults shaded; a PNG."""
    origin = _origin(history)
    end = _window_end(history, summary, origin)
    replicas = _replica_count(history, summary)
    fig = Figure(figsize=(11, 2.2 + 0.55 * replicas), layout="constrained")
    ax = fig.add_subplot()
    _draw_faults(ax, history, origin, end)
    _draw_window(ax, end, history.first_event("window_start") is not None)
    _scatter_triggers(ax, history, origin)
    ax.set_yticks(range(replicas), [f"replica {i}" for i in range(replicas)])
    ax.set_ylim(-0.6, replicas - 0.4)
    ax.set_xlabel("seconds since window start")
    ax.grid(axis="x", alpha=0.3)
    title = (f"{summary.get('scenario', '?')}: {summary.get('replicas', '?')} replicas, "
             f"Dapr {_dapr_version(summary)}")
    ax.set_title(title + (f"\n{note}" if note else ""), fontsize=10)
    if not history.triggers:
        ax.text(0.5, 0.5, "no triggers recorded", transform=ax.transAxes, ha="center", color="grey")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return _save(fig, out)


def plot_lateness(summaries: Sequence[dict[str, Any]], out: Path) -> Path:
    """A box plot of the checker's lateness samples (first trigger of each tick) per entry."""
    labels, data = [], []
    for summary in summaries:
        for entry in summary.get("mechanisms") or []:
            samples = entry.get("lateness_samples_ms") or []
            if samples:
                labels.append(f"{summary.get('scenario')}\n{entry.get('mechanism')} {entry.get('name')}")
                data.append(samples)
    fig = Figure(figsize=(10, 1.5 + 0.45 * max(len(data), 1)), layout="constrained")
    ax = fig.add_subplot()
    if data:
        ax.boxplot(data, **_horizontal_boxplot_kwargs(labels))
        ax.tick_params(axis="y", labelsize=7)
        ax.invert_yaxis()  # first entry on top
    else:
        ax.text(0.5, 0.5, "no lateness samples", transform=ax.transAxes, ha="center", color="grey")
    ax.set_xlabel("lateness (ms): first trigger of each expected tick after the tick's time")
    ax.set_title("Trigger lateness per mechanism", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, out)


def _horizontal_boxplot_kwargs(labels: list[str]) -> dict[str, Any]:
    """matplotlib 3.9 renamed ``labels`` to ``tick_labels``; 3.10 replaced ``vert`` by
    ``orientation``."""
    version = tuple(int(x) for x in matplotlib.__version__.split(".")[:2])
    kwargs: dict[str, Any] = {"tick_labels" if version >= (3, 9) else "labels": labels}
    return kwargs | ({"orientation": "horizontal"} if version >= (3, 10) else {"vert": False})


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _write_run_artifacts(runs_dir: Path, out_dir: Path, summary: dict[str, Any]) -> list[Path]:
    run_id = str(summary["run_id"])
    history, note = _history_of(runs_dir, run_id)
    plot = plot_timeline(history, summary, out_dir / "plots" / f"{run_id}-timeline.png", note=note)
    evidence = out_dir / "evidence" / f"{run_id}.json"
    evidence.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(runs_dir / run_id / "summary.json", evidence)
    return [plot, evidence]


def is_comparison(summary: dict[str, Any]) -> bool:
    """Claim and fault scenarios have their own documents (claims.md, faults.md)."""
    return not (summary.get("faults") or summary.get("claims") or summary.get("claim"))


def write_reports(runs_dir: Path, out_dir: Path, *, title: str = DEFAULT_TITLE,
                  run_ids: Sequence[str] | None = None) -> list[Path]:
    """Write ``comparison.md``, plots and evidence copies for the latest run of each comparison
    scenario, or for the runs named in ``run_ids``."""
    summaries = [s for s in load_summaries(runs_dir) if run_ids is None or s["run_id"] in run_ids]
    summaries = [s for s in latest_per_scenario(summaries) if run_ids or is_comparison(s)]
    if not summaries:
        raise ValueError(f"no runs with a summary.json under {runs_dir}; "
                         "run `pytest scenarios/` or `python -m harness run` first")
    written = [p for s in summaries for p in _write_run_artifacts(runs_dir, out_dir, s)]
    lateness = plot_lateness(summaries, out_dir / "plots" / "lateness.png")
    doc = out_dir / "comparison.md"
    doc.write_text(render_comparison(summaries, title=title, lateness_plot="plots/lateness.png"),
                   encoding="utf-8")
    return [doc, *written, lateness]


# --------------------------------------------------------------------------------------------
# README headline
# --------------------------------------------------------------------------------------------

HEADLINE_START, HEADLINE_END = "<!-- headline:start -->", "<!-- headline:end -->"


def headline_table(summary: dict[str, Any]) -> str:
    """The compact comparison table the README shows, with what it was measured with."""
    rows = [[
        entry["mechanism"], entry["schedule"], entry["ticks_expected"],
        entry["triggers"], f"{entry['triggers_per_tick']:.1f}", _per_replica(entry),
        entry["exactly_once_ticks"], entry["duplicated_ticks"], entry["lost_ticks"],
        entry["early_triggers"], _ms(entry["lateness_ms"]["p50"]), _ms(entry["lateness_ms"]["max"]),
    ] for entry in summary["mechanisms"]]
    table = tabulate(rows, tablefmt="github", headers=[
        "mechanism", "schedule", "ticks", "triggers", "triggers/tick", "per replica",
        "exactly once", "duplicated", "lost", "early", "lateness p50 (ms)", "max (ms)"])
    caption = (f"Dapr {_dapr_version(summary)}, {summary['replicas']} replicas of one app-id, "
               f"observation window {summary['window_s']:g} s, run `{summary['run_id']}` "
               f"([evidence](results/evidence/{summary['run_id']}.json)); "
               "generated by `python3 -m harness report`.")
    return f"{caption}\n\n{table}"


def update_readme(readme: Path, summary: dict[str, Any]) -> None:
    """Replace the README's headline block with the table of ``summary``."""
    text = readme.read_text(encoding="utf-8")
    head, sep, rest = text.partition(HEADLINE_START)
    _, sep2, tail = rest.partition(HEADLINE_END)
    if not sep or not sep2:
        raise ValueError(f"{readme} has no {HEADLINE_START} ... {HEADLINE_END} block")
    block = f"{HEADLINE_START}\n{headline_table(summary)}\n{HEADLINE_END}"
    readme.write_text(head + block + tail, encoding="utf-8")
