"""Reports from finished runs: a Markdown comparison table, timeline plots and evidence copies.

Input: ``results/runs/<run-id>/summary.json`` (written by the runner) and ``history.jsonl``
(see :mod:`harness.record.history`). Output (``write_reports``): ``comparison.md``, PNG plots under
``plots/`` and a copy of every cited run's summary under ``evidence/<run_id>.json``, so a
committed report can cite evidence that is not git-ignored.

Plots are drawn on matplotlib's Agg canvas directly (no pyplot, no display, no global state).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from tabulate import tabulate

from harness.check import MechanismResult
from harness.record.history import History, Trigger, load_history
from harness.summary import RunSummary, copy_evidence, latest_per_scenario, load_summaries

__all__ = [
    "DEFAULT_TITLE",
    "app_cell",
    "fault_spans",
    "headline_table",
    "mechanism_label",
    "mechanism_table",
    "plot_lateness",
    "plot_timeline",
    "render_comparison",
    "update_readme",
    "write_reports",
]

DEFAULT_TITLE = "Jobs API vs cron binding across replicas"
TABLE_HEADERS = [
    "scenario", "Dapr", "mechanism", "name", "replicas", "schedule", "window (s)", "ticks",
    "attempts", "deliveries", "retries", "triggers/tick", "per replica", "exactly once",
    "duplicated", "lost", "early", "per-replica view (once/dup/lost of n)",
    "before/after window", "unexplained", "lateness p50 (ms)", "p99 (ms)", "max (ms)",
    "app p50/p99 (ms)", "drift (ms/tick)", "faults", "verdict", "commit", "run id",
]
_MECHANISM_STYLE = {  # mechanism -> (marker, colour, y offset within a replica's row)
    "job": ("o", "tab:blue", -0.12),
    "binding": ("s", "tab:orange", 0.12),
}


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


def _per_replica(entry: MechanismResult) -> str:
    counts = entry.per_replica
    n = max([entry.replicas, *(k + 1 for k in counts)])
    return "/".join(str(counts.get(i, 0)) for i in range(n)) or "-"


def _per_replica_view(entry: MechanismResult) -> str:
    """Once/duplicated/lost per (replica, tick): the unit of a cron binding's own claim.

    A job has one schedule for the whole app-id, so the view only matters when a scenario
    judges a job per replica."""
    view = entry.per_replica_view
    if entry.view == "across replicas" and entry.delivery_expected != "once_per_replica":
        return "-"
    return f"{view.once}/{view.duplicated}/{view.lost} of {view.ticks}"


def faults_cell(summary: RunSummary) -> str:
    """The faults as carried out: kind, target, start and (when it lasted) duration."""
    parts = []
    for fault in summary.faults:
        where = ("" if fault.get("replica") is None else f" r{fault['replica']}") + (
            "" if fault.get("member") is None else f" member {fault['member']}")
        lasted = float(fault.get("duration_s") or 0)
        lasting = f" for {lasted:.0f}s" if lasted >= 1 else ""
        parts.append(f"{fault.get('kind', '?')}{where} @{_cell(float(fault.get('start_s', 0)))}s{lasting}")
    return ", ".join(parts) or "-"


def commit_cell(summary: RunSummary) -> str:
    source = summary.provenance
    return f"{source.commit or '?'}{' (dirty)' if source.dirty else ''}"


def _run_cell(run_id: str, link_evidence: bool) -> str:
    return f"[{run_id}](evidence/{run_id}.json)" if link_evidence else run_id


def mechanism_label(entry: MechanismResult, summary: RunSummary) -> str:
    """The mechanism's name, marked where a build adaptation touches it: the workflow engine
    runs on durabletask-go v0.12.1 instead of the v0.12.4 Dapr pins (not served here)."""
    adapted = entry.mechanism == "workflow" and any(
        "durabletask" in str(a) for a in summary.dapr.adaptations)
    return f"{entry.mechanism} (durabletask-go v0.12.1 adaptation)" if adapted else entry.mechanism


def app_cell(entry: MechanismResult) -> str:
    """The app's own time on the attempts, p50/p99 (ms): how much of a lateness could be the
    harness's; '-' for histories recorded before the app measured it."""
    cost = entry.app_ms
    if cost.get("p50") is None:
        return "-"
    return f"{cost['p50']:.2g}/{cost['p99']:.2g}"


def _drift(entry: MechanismResult) -> str:
    return _cell((entry.drift or {}).get("per_tick_ms"))


def _row(summary: RunSummary, entry: MechanismResult, link_evidence: bool) -> list[str]:
    late, acc = entry.lateness_ms, entry.accounting
    return [
        _cell(summary.scenario), _cell(summary.dapr.version), _cell(mechanism_label(entry, summary)),
        _cell(entry.name), _cell(entry.replicas), _cell(entry.schedule), _cell(entry.window_s),
        _cell(entry.across.ticks), _cell(entry.attempts), _cell(entry.deliveries),
        _cell(entry.retries), f"{entry.triggers_per_tick:.1f}", _per_replica(entry),
        str(entry.across.once), str(entry.across.duplicated), str(entry.across.lost),
        _cell(entry.early), _per_replica_view(entry),
        f"{acc.before_window}/{acc.after_window}", _cell(acc.early + acc.unexplained),
        _ms(late.get("p50")), _ms(late.get("p99")), _ms(late.get("max")), app_cell(entry),
        _drift(entry), faults_cell(summary), _cell(entry.verdict), commit_cell(summary),
        _run_cell(summary.run_id, link_evidence),
    ]


def mechanism_table(summaries: Sequence[RunSummary], *, link_evidence: bool = False) -> str:
    """A GitHub-Markdown table, one row per mechanism entry of every summary given."""
    rows = [_row(s, e, link_evidence) for s in summaries for e in s.mechanisms]
    return tabulate(rows, headers=TABLE_HEADERS, tablefmt="github", disable_numparse=True)


# --------------------------------------------------------------------------------------------
# Markdown document
# --------------------------------------------------------------------------------------------


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _dapr_line(summary: RunSummary) -> str:
    dapr = summary.dapr
    return ", ".join(f"{k} {getattr(dapr, k) or 'n/a'}"
                     for k in ("runtime", "daprd", "scheduler", "placement", "cli"))


def _machine_line(machine: dict[str, Any]) -> str:
    return (f"{machine.get('hostname', '?')}: {machine.get('cpus', '?')} CPUs, "
            f"{machine.get('memory_gib', '?')} GiB, {machine.get('platform', '?')}")


def provenance_lines(summaries: Sequence[RunSummary], what: str = "latest of each scenario") -> list[str]:
    """Dapr, adaptations, harness commits (clean or not), machine and time span of ``summaries``."""
    starts = sorted(s.started_at for s in summaries if s.started_at)
    ends = sorted(s.finished_at or s.started_at for s in summaries if s.finished_at or s.started_at)
    span = f"{starts[0]} to {ends[-1]}" if starts and ends else "unknown"
    adaptations = _unique(str(a) for s in summaries for a in s.dapr.adaptations)
    lines = ["## Provenance", ""]
    lines += [f"- Dapr: {line}" for line in _unique(_dapr_line(s) for s in summaries)]
    lines.append(f"- Dapr source: {', '.join(_unique(s.dapr.source or '' for s in summaries)) or 'unknown'}")
    if adaptations:
        lines += ["- Adaptations:", *(f"  - {a}" for a in adaptations)]
    else:
        lines.append("- Adaptations: none")
    lines.append(f"- Harness commit(s): {', '.join(_unique(commit_cell(s) for s in summaries)) or 'unknown'}")
    lines += [f"- Machine: {m}" for m in _unique(_machine_line(s.machine) for s in summaries)]
    lines.append(f"- Runs: {len(summaries)} ({what}), {span}")
    return lines


HOW_TO_READ = (
    "Each row is one mechanism (a job created through the Jobs API, or a `bindings.cron` "
    "component loaded by every replica's sidecar) observed over a window by the app replicas. "
    "A *tick* is one scheduled firing time inside the window. An *attempt* is a request the "
    "app received; a *delivery* is an attempt Dapr counts as done (2xx, and 404 for jobs; every "
    "attempt of a cron binding); a *retry* is an attempt after a failed one for the same tick. "
    "**Exactly once** = a tick delivered exactly once across all replicas; **duplicated** = "
    "delivered more than once (a retry after a failure is not a duplicate); **lost** = a tick "
    "with no attempt; **early** = an attempt before its tick (for `@every` bindings: less than "
    "one period after the previous fire on that replica). Where the record admits two readings "
    "(a late delivery, or a loss plus a duplicate) a count shows both bounds, `low-high`, and "
    "the verdict takes the high one (`ambiguous`). A cron binding fires in every sidecar, so "
    "the *per-replica view* counts each (replica, tick) on its own. Recording goes on for a "
    "grace period after the window: attempts for ticks before or after the window are counted "
    "in *before/after window*, attempts no tick explains in *unexplained*. Lateness is from a "
    "tick to its first attempt; *app p50/p99* is the sample app's own time on those attempts (from a "
    "request reaching it to its record written, the answer following at once): a lateness far "
    "above it is not spent in the app's handler (time queued before the app reads a request is "
    "not in it; the benchmarks' null sink shows that part); an `@every` binding's origin is unknown, so its *drift* (mean "
    "excess of each gap over the period) is shown instead."
)


def _caption(summaries: Sequence[RunSummary]) -> str:
    versions = ", ".join(_unique(s.dapr.version for s in summaries)) or "?"
    return (f"Dapr {versions}. Replicas, schedule and observation window (s) of every row are "
            "in its columns; the run id links to the run's summary under `evidence/`.")


def _reasons(summaries: Sequence[RunSummary]) -> list[str]:
    lines = [f"- {s.scenario} / {c.checker} ({c.verdict}): {reason}"
             for s in summaries for c in s.checkers if c.checker != "metrics"
             for reason in c.reasons]
    return ["## Verdict reasons", "", *lines] if lines else []


def _mismatches(summaries: Sequence[RunSummary]) -> list[str]:
    lines = [f"- {s.scenario} (run `{s.run_id}`): {m}"
             for s in summaries for m in s.metrics_check.get("mismatches") or []]
    if not lines:
        return []
    return ["## Mismatches between the app's record and Dapr's metrics", "", *lines]


def _timeline_section(summary: RunSummary) -> list[str]:
    run_id = summary.run_id
    lines = [f"### {summary.scenario} (`{run_id}`)", ""]
    if summary.description:
        lines += [summary.description.strip(), ""]
    lines += [f"{summary.replicas} replicas, window {_cell(summary.window_s)} s (+{_cell(summary.grace_s)} s "
              f"grace), Dapr {summary.dapr.version}, faults: {faults_cell(summary)}, "
              f"verdict: {summary.verdict}. "
              f"Evidence: [`evidence/{run_id}.json`](evidence/{run_id}.json).", ""]
    return [*lines, f"![timeline](plots/{run_id}-timeline.png)", ""]


def render_comparison(summaries: Sequence[RunSummary], *, title: str,
                      lateness_plot: str | None = None) -> str:
    """The whole comparison document (Markdown) for the given runs."""
    lines = [f"# {title}", "",
             "_Generated by `python -m harness report` from the runs' summaries and histories; "
             "do not edit by hand (re-run the command instead)._", ""]
    lines += [*provenance_lines(summaries), "", "## How to read", "", HOW_TO_READ, ""]
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


def _window_end(history: History, summary: RunSummary, origin: float) -> float | None:
    end = history.first_event("window_end")
    if end is not None:
        return end.wall - origin
    return summary.window_s if history.first_event("window_start") else None


def _replica_count(history: History, summary: RunSummary) -> int:
    seen = [t.replica for t in history.triggers]
    seen += [int(e.attrs["replica"]) for e in history.events if "replica" in e.attrs]
    return max([summary.replicas or 1, *(r + 1 for r in seen)])


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


def plot_timeline(history: History, summary: RunSummary, out: Path, *,
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
    title = f"{summary.scenario}: {summary.replicas} replicas, Dapr {summary.dapr.version}"
    ax.set_title(title + (f"\n{note}" if note else ""), fontsize=10)
    if not history.triggers:
        ax.text(0.5, 0.5, "no triggers recorded", transform=ax.transAxes, ha="center", color="grey")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return _save(fig, out)


def plot_lateness(summaries: Sequence[RunSummary], out: Path) -> Path:
    """A box plot of the checker's lateness samples (first attempt of each tick) per entry."""
    labels, data = [], []
    for summary in summaries:
        for entry in summary.mechanisms:
            if entry.lateness_samples_ms:
                labels.append(f"{summary.scenario}\n{entry.mechanism} {entry.name}")
                data.append(entry.lateness_samples_ms)
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


def _plot_run(runs_dir: Path, out_dir: Path, summary: RunSummary) -> Path:
    history, note = _history_of(runs_dir, summary.run_id)
    return plot_timeline(history, summary, out_dir / "plots" / f"{summary.run_id}-timeline.png",
                         note=note)


def write_reports(runs_dir: Path, out_dir: Path, *, title: str = DEFAULT_TITLE,
                  run_ids: Sequence[str] | None = None, allow_dirty: bool = False) -> list[Path]:
    """Write ``comparison.md``, plots and evidence copies for the latest run of each comparison
    scenario (from a clean tree unless ``allow_dirty``), or for the runs named in ``run_ids``."""
    summaries = [s for s in load_summaries(runs_dir) if run_ids is None or s.run_id in run_ids]
    summaries = [s for s in latest_per_scenario(summaries, clean_only=not allow_dirty)
                 if run_ids or s.kind == "comparison"]
    if not summaries:
        raise ValueError(f"no runs of a clean tree with a summary.json under {runs_dir}; run "
                         "`python3 -m harness run` from a committed tree first (or --allow-dirty)")
    written = [_plot_run(runs_dir, out_dir, s) for s in summaries]
    written += copy_evidence(runs_dir, out_dir / "evidence", summaries)
    lateness = plot_lateness(summaries, out_dir / "plots" / "lateness.png")
    doc = out_dir / "comparison.md"
    doc.write_text(render_comparison(summaries, title=title, lateness_plot="plots/lateness.png"),
                   encoding="utf-8")
    return [doc, *written, lateness]


# --------------------------------------------------------------------------------------------
# README headline
# --------------------------------------------------------------------------------------------

HEADLINE_START, HEADLINE_END = "<!-- headline:start -->", "<!-- headline:end -->"


def headline_table(summary: RunSummary, *, evidence_link: bool = True) -> str:
    """The compact comparison table the README (and ``demo``) shows, with what it was
    measured with."""
    rows = [[
        mechanism_label(e, summary), e.schedule, e.across.ticks, e.attempts, f"{e.triggers_per_tick:.1f}",
        _per_replica(e), str(e.across.once), str(e.across.duplicated), str(e.across.lost),
        e.early, _ms(e.lateness_ms.get("p50")), _ms(e.lateness_ms.get("max")), app_cell(e),
        _drift(e),
    ] for e in summary.mechanisms]
    table = tabulate(rows, tablefmt="github", disable_numparse=True, headers=[
        "mechanism", "schedule", "ticks", "attempts", "per tick", "per replica",
        "exactly once", "duplicated", "lost", "early", "lateness p50 (ms)", "max (ms)",
        "app p50/p99 (ms)", "drift (ms/tick)"])
    run = (f"run `{summary.run_id}` ([evidence](results/evidence/{summary.run_id}.json))"
           if evidence_link else f"run `{summary.run_id}`")
    caption = (f"Dapr {summary.dapr.version}, {summary.replicas} replicas of one app-id, "
               f"observation window {summary.window_s:g} s, harness {commit_cell(summary)}, {run}; "
               "generated by `python3 -m harness report`.")
    return f"{caption}\n\n{table}"


def update_readme(readme: Path, summary: RunSummary) -> None:
    """Replace the README's headline block with the table of ``summary``."""
    text = readme.read_text(encoding="utf-8")
    head, sep, rest = text.partition(HEADLINE_START)
    _, sep2, tail = rest.partition(HEADLINE_END)
    if not sep or not sep2:
        raise ValueError(f"{readme} has no {HEADLINE_START} ... {HEADLINE_END} block")
    block = f"{HEADLINE_START}\n{headline_table(summary)}\n{HEADLINE_END}"
    readme.write_text(head + block + tail, encoding="utf-8")
