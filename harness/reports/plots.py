"""PNG plots of runs: the timeline of one run (``harness.reports.timeline``) and lateness.

Drawn on matplotlib's Agg canvas directly (no pyplot, no display, no global state).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from harness.check import FaultWindow, TaskTicks
from harness.record.history import History
from harness.reports.timeline import (
    DUPLICATE_COLOUR,
    FAILED_COLOUR,
    FAULT_COLOUR,
    LOST_COLOUR,
    MECHANISM_STYLES,
    Timeline,
    run_timeline,
    timeline_of,
)
from harness.scenario.mechanisms import MECHANISMS
from harness.summary import RunSummary, StoredRun

__all__ = ["draw_timeline", "plot_lateness", "plot_run_timeline", "plot_timeline", "save_figure",
           "timeline_figure"]

LANE_SPREAD = 0.56  # of a lane's height, shared by the mechanisms drawn on it
LATE_ALPHA = 0.3


def save_figure(fig: Figure, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(out, format="png", dpi=110)
    return out


def _offsets(timeline: Timeline) -> dict[str, float]:
    """Each mechanism's height within a lane, so marks of two mechanisms never cover each other."""
    present = timeline.mechanisms
    if len(present) < 2:
        return {m: 0.0 for m in present}
    step = LANE_SPREAD / (len(present) - 1)
    return {m: -LANE_SPREAD / 2 + i * step for i, m in enumerate(present)}


def _rows_y(timeline: Timeline) -> tuple[dict[tuple[str, str], int], dict[int, int]]:
    """Row index (top first) of each app-wide task, then of each replica's lane."""
    rows = {(r.mechanism, r.name): i for i, r in enumerate(timeline.rows)}
    lanes = {lane.replica: len(rows) + i for i, lane in enumerate(timeline.lanes)}
    return rows, lanes


def _draw_holds(ax: Any, timeline: Timeline) -> list[Any]:
    for i, hold in enumerate(timeline.holds):
        ax.axvspan(hold.start_s, max(hold.end_s, hold.start_s + 0.1), color=FAULT_COLOUR,
                   alpha=0.30, zorder=1, linewidth=0)
        if hold.held_until_s > hold.end_s:
            ax.axvspan(hold.end_s, hold.held_until_s, facecolor=FAULT_COLOUR, alpha=0.10,
                       hatch="//", edgecolor=FAULT_COLOUR, zorder=1, linewidth=0)
        ax.annotate(hold.label, (hold.start_s, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(3, -11 - 10 * (i % 3)), textcoords="offset points", fontsize=7,
                    color=FAULT_COLOUR)
    handles = [Patch(facecolor=FAULT_COLOUR, alpha=0.30, label="fault (as injected)")]
    if any(h.held_until_s > h.end_s for h in timeline.holds):
        handles.append(Patch(facecolor=FAULT_COLOUR, alpha=0.10, hatch="//",
                             edgecolor=FAULT_COLOUR, label="after it: triggers still held"))
    return handles if timeline.holds else []


def _draw_window(ax: Any, timeline: Timeline) -> list[Any]:
    for x in timeline.grid_s:
        ax.axvline(x, color="#cccccc", linewidth=0.5, zorder=0)
    ax.axvline(0.0, color="green", linestyle="--", linewidth=1, zorder=2)
    handles = [Line2D([], [], color="green", linestyle="--", label="window start")]
    if timeline.window_end_s is not None:
        ax.axvline(timeline.window_end_s, color="purple", linestyle="--", linewidth=1, zorder=2)
        handles.append(Line2D([], [], color="purple", linestyle="--", label="window end"))
    if timeline.grid_s:
        handles.append(Line2D([], [], color="#cccccc", linewidth=0.8, label="tick (grid)"))
    return handles


def _draw_marks(ax: Any, timeline: Timeline, lanes: dict[int, int]) -> list[Any]:
    offsets = _offsets(timeline)
    handles = []
    for mechanism in timeline.mechanisms:
        style = MECHANISM_STYLES[mechanism]
        mine = [m for m in timeline.marks if m.mechanism == mechanism and m.replica in lanes]
        for outcome, face in (("ok", style.colour), ("failed", "white")):
            chosen = [m for m in mine if m.outcome == outcome]
            if chosen:
                ax.scatter([m.at_s for m in chosen],
                           [lanes[m.replica] + offsets[mechanism] for m in chosen],
                           marker=style.marker, s=34, facecolors=face, zorder=3,
                           edgecolors=style.colour if outcome == "ok" else FAILED_COLOUR,
                           linewidths=0.6 if outcome == "ok" else 1.4)
        handles.append(Line2D([], [], linestyle="", marker=style.marker, markersize=7,
                              markerfacecolor=style.colour, markeredgecolor=style.colour,
                              label=f"{mechanism}: {MECHANISMS[mechanism].label} ({len(mine)})"))
    failed = [m for m in timeline.marks if m.outcome == "failed"]
    if failed:
        handles.append(Line2D([], [], linestyle="", marker="o", markersize=7,
                              markerfacecolor="white", markeredgecolor=FAILED_COLOUR,
                              label=f"attempt the app failed ({len(failed)})"))
    refused = [m for m in timeline.marks if m.outcome == "refused" and m.replica in lanes]
    if refused:
        ax.scatter([m.at_s for m in refused], [lanes[m.replica] for m in refused], marker="+",
                   c="grey", s=40, zorder=3)
        handles.append(Line2D([], [], linestyle="", marker="+", color="grey",
                              label=f"refused: bad API token ({len(refused)})"))
    duplicates = [m for m in timeline.marks if m.duplicate and m.replica in lanes]
    if duplicates:
        ax.scatter([m.at_s for m in duplicates],
                   [lanes[m.replica] + offsets[m.mechanism] for m in duplicates], marker="o",
                   s=150, facecolors="none", edgecolors=DUPLICATE_COLOUR, linewidths=1.2, zorder=4)
        handles.append(Line2D([], [], linestyle="", marker="o", markersize=11,
                              markerfacecolor="none", markeredgecolor=DUPLICATE_COLOUR,
                              label=f"duplicate delivery ({len(duplicates)})"))
    return handles


def _draw_ticks(ax: Any, timeline: Timeline, rows: dict[tuple[str, str], int],
                lanes: dict[int, int]) -> list[Any]:
    """App-wide ticks on their task's row; lost ticks on their row or lane."""
    offsets = _offsets(timeline)
    for row in timeline.rows:
        y = rows[(row.mechanism, row.name)]
        style = MECHANISM_STYLES[row.mechanism]
        for state, colour in (("once", style.colour), ("duplicated", DUPLICATE_COLOUR),
                              ("undelivered", FAILED_COLOUR), ("none", "#bbbbbb")):
            for late in (False, True):
                xs = [c.at_s for c in row.cells if c.state == state and c.late is late]
                if xs:
                    ax.scatter(xs, [y] * len(xs), marker="|", s=120, c=colour, linewidths=1.5,
                               alpha=LATE_ALPHA if late else 1.0, zorder=3)
    handles = []
    for ambiguous in (False, True):
        misses = [m for m in timeline.misses if m.ambiguous is ambiguous]
        ys = [rows.get((m.mechanism, m.name)) if m.replica is None
              else lanes.get(m.replica, 0) + offsets.get(m.mechanism, 0.0) for m in misses]
        placed = [(m.at_s, y) for m, y in zip(misses, ys, strict=True) if y is not None]
        if placed:
            ax.scatter([x for x, _ in placed], [y for _, y in placed], marker="x", s=60,
                       c=LOST_COLOUR, linewidths=2.0, alpha=0.45 if ambiguous else 1.0, zorder=5)
            label = "lost tick, strict reading only" if ambiguous else "lost tick"
            handles.append(Line2D([], [], linestyle="", marker="x", color=LOST_COLOUR,
                                  alpha=0.45 if ambiguous else 1.0, markeredgewidth=2,
                                  label=f"{label} ({len(placed)})"))
    if timeline.rows:
        handles.append(Line2D([], [], linestyle="", marker="|", markersize=10, color="#555555",
                              markeredgewidth=1.5, label="tick of an app-wide task (its row)"))
        if any(c.late for r in timeline.rows for c in r.cells):
            handles.append(Line2D([], [], linestyle="", marker="|", markersize=10, color="#555555",
                                  alpha=LATE_ALPHA, markeredgewidth=1.5,
                                  label="tick first delivered late (held, replayed)"))
        if any(c.state == "duplicated" for r in timeline.rows for c in r.cells):
            handles.append(Line2D([], [], linestyle="", marker="|", markersize=10,
                                  color=DUPLICATE_COLOUR, markeredgewidth=1.5,
                                  label="tick delivered more than once"))
    return handles


def draw_timeline(timeline: Timeline, out: Path, *, note: str | None = None) -> Path:
    """The timeline as a PNG (``timeline_figure``)."""
    return save_figure(timeline_figure(timeline, note=note), out)


def timeline_figure(timeline: Timeline, *, note: str | None = None) -> Figure:
    """Rows of app-wide ticks on top, then one lane per replica; the legend tells every
    mechanism and mark apart."""
    rows, lanes = _rows_y(timeline)
    height = len(rows) + len(lanes)
    fig = Figure(figsize=(12, 2.4 + 0.5 * max(height, 4)), layout="constrained")
    ax = fig.add_subplot()
    handles = _draw_holds(ax, timeline) + _draw_window(ax, timeline)
    handles = _draw_marks(ax, timeline, lanes) + _draw_ticks(ax, timeline, rows, lanes) + handles
    labels = [f"{r.label} ticks ({r.schedule})" for r in timeline.rows]
    labels += [lane.label for lane in timeline.lanes]
    ax.set_yticks(range(height), labels, fontsize=8)
    ax.set_ylim(height - 0.5, -0.5)
    if rows:
        ax.axhline(len(rows) - 0.5, color="#888888", linewidth=0.8)
    lo, hi = timeline.span_s
    ax.set_xlim(lo - 0.5, hi + 0.5)
    ax.set_xlabel("seconds since window start")
    notes = [n for n in (*timeline.notes, note) if n]
    ax.set_title("\n".join([timeline.title, *notes]), fontsize=10)
    if not timeline.marks:
        ax.text(0.5, 0.5, "no triggers recorded", transform=ax.transAxes, ha="center", color="grey")
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7.5,
              frameon=False)
    return fig


def plot_timeline(history: History, summary: RunSummary, out: Path, *, note: str | None = None,
                  ticks: Sequence[TaskTicks] | None = None,
                  faults: Sequence[FaultWindow] | None = None) -> Path:
    """A run's timeline from its history; lost ticks and duplicates are marked when the
    checker's ``ticks`` are given (``plot_run_timeline`` judges a stored run itself)."""
    notes = [] if ticks is not None else ["lost ticks and duplicates not marked: drawn without "
                                          "the run's scenario"]
    return draw_timeline(timeline_of(summary, history, ticks, faults, notes), out, note=note)


def plot_run_timeline(run: StoredRun, out: Path) -> Path:
    """A stored run's timeline, its ticks judged again from its scenario and history."""
    return draw_timeline(run_timeline(run), out)


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
    return save_figure(fig, out)


def _horizontal_boxplot_kwargs(labels: list[str]) -> dict[str, Any]:
    """matplotlib 3.9 renamed ``labels`` to ``tick_labels``; 3.10 replaced ``vert`` by
    ``orientation``."""
    version = tuple(int(x) for x in matplotlib.__version__.split(".")[:2])
    kwargs: dict[str, Any] = {"tick_labels" if version >= (3, 9) else "labels": labels}
    return kwargs | ({"orientation": "horizontal"} if version >= (3, 10) else {"vert": False})
