"""A run's timeline (``harness.reports.timeline``) as inline SVG, and its legend as HTML.

Every drawn thing that stands for a record carries it in ``data-record`` (JSON): a trigger its
history record, a tick its state and attempts, a fault its span; the page shows the record of
whatever the pointer is over. Built with ElementTree, so every attribute is escaped.
"""

from __future__ import annotations

import html
import json
import math
import xml.etree.ElementTree as ET
from typing import Any

from harness.reports.timeline import (
    DUPLICATE_COLOUR,
    FAILED_COLOUR,
    FAULT_COLOUR,
    LOST_COLOUR,
    MECHANISM_STYLES,
    Style,
    Timeline,
)
from harness.scenario.mechanisms import MECHANISMS

__all__ = ["legend_html", "timeline_svg"]

WIDTH, LEFT, RIGHT, TOP, BOTTOM = 1240, 290, 16, 34, 34
LABEL_CHARS = 44
ROW_H, LANE_H, MARK_R = 22, 40, 5.0
LATE_OPACITY = "0.35"


def _polygon(style: Style, x: float, y: float, r: float) -> tuple[str, dict[str, str]]:
    if style.sides == 0:
        return "circle", {"cx": f"{x:.1f}", "cy": f"{y:.1f}", "r": f"{r:.1f}"}
    points = []
    for i in range(style.sides):
        angle = math.radians(-90 + style.rotation + 360 * i / style.sides)
        points.append(f"{x + r * math.cos(angle):.1f},{y + r * math.sin(angle):.1f}")
    return "polygon", {"points": " ".join(points)}


def _shape(parent: ET.Element, style: Style, x: float, y: float, *, failed: bool = False,
           r: float = MARK_R, **attrs: str) -> ET.Element:
    tag, geometry = _polygon(style, x, y, r * (1.2 if style.sides in (3, 4) else 1.0))
    paint = ({"fill": "#ffffff", "stroke": FAILED_COLOUR, "stroke-width": "1.6"} if failed
             else {"fill": style.colour, "stroke": style.colour, "stroke-width": "0.6"})
    return ET.SubElement(parent, tag, {**geometry, **paint, **attrs})


def _cross(parent: ET.Element, x: float, y: float, r: float, **attrs: str) -> ET.Element:
    return ET.SubElement(parent, "path", {
        "d": f"M{x - r:.1f},{y - r:.1f}L{x + r:.1f},{y + r:.1f}M{x - r:.1f},{y + r:.1f}L{x + r:.1f},{y - r:.1f}",
        "stroke": LOST_COLOUR, "stroke-width": "2.4", **attrs})


def _record(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)


class _Frame:
    """Where things go: x from seconds, y of each row and lane, sub-heights per mechanism."""

    def __init__(self, timeline: Timeline) -> None:
        lo, hi = timeline.span_s
        self.lo, self.hi = lo - 0.5, hi + 0.5
        self.rows = {(r.mechanism, r.name): TOP + ROW_H * (i + 0.5)
                     for i, r in enumerate(timeline.rows)}
        first_lane = TOP + ROW_H * len(timeline.rows) + (8 if timeline.rows else 0)
        self.lanes = {lane.replica: first_lane + LANE_H * (i + 0.5)
                      for i, lane in enumerate(timeline.lanes)}
        self.bottom = first_lane + LANE_H * len(timeline.lanes)
        present = timeline.mechanisms
        spread = LANE_H * 0.6
        step = spread / (len(present) - 1) if len(present) > 1 else 0.0
        self.offset = {m: (-spread / 2 + i * step) if len(present) > 1 else 0.0
                       for i, m in enumerate(present)}

    def x(self, seconds: float) -> float:
        return LEFT + (seconds - self.lo) / (self.hi - self.lo) * (WIDTH - LEFT - RIGHT)

    def lane_y(self, replica: int, mechanism: str) -> float:
        return self.lanes[replica] + self.offset.get(mechanism, 0.0)

    @property
    def height(self) -> float:
        return self.bottom + BOTTOM


def _background(svg: ET.Element, tl: Timeline, f: _Frame, uid: str) -> None:
    defs = ET.SubElement(svg, "defs")
    pattern = ET.SubElement(defs, "pattern", {"id": f"held-{uid}", "width": "8", "height": "8",
                                              "patternUnits": "userSpaceOnUse",
                                              "patternTransform": "rotate(45)"})
    ET.SubElement(pattern, "rect", {"width": "8", "height": "8", "fill": FAULT_COLOUR,
                                    "fill-opacity": "0.07"})
    ET.SubElement(pattern, "line", {"x1": "0", "y1": "0", "x2": "0", "y2": "8",
                                    "stroke": FAULT_COLOUR, "stroke-opacity": "0.35",
                                    "stroke-width": "2"})
    for index, (key, y) in enumerate([*f.rows.items(), *f.lanes.items()]):
        if index % 2:
            h = ROW_H if key in f.rows else LANE_H
            ET.SubElement(svg, "rect", {"x": str(LEFT), "y": f"{y - h / 2:.1f}",
                                        "width": str(WIDTH - LEFT - RIGHT), "height": str(h),
                                        "fill": "#f6f6f6"})
    grid = ET.SubElement(svg, "g", {"class": "grid", "stroke": "#d0d0d0", "stroke-width": "0.7"})
    for s in tl.grid_s:
        ET.SubElement(grid, "line", {"x1": f"{f.x(s):.1f}", "x2": f"{f.x(s):.1f}",
                                     "y1": str(TOP), "y2": f"{f.bottom:.1f}"})
    for i, hold in enumerate(tl.holds):
        record = _record({"fault": hold.kind, "target": hold.target, "start_s": hold.start_s,
                          "end_s": hold.end_s, "triggers_held_until_s": hold.held_until_s})
        x0, x1 = f.x(hold.start_s), max(f.x(hold.end_s), f.x(hold.start_s) + 2)
        ET.SubElement(svg, "rect", {"class": "fault", "x": f"{x0:.1f}", "y": str(TOP),
                                    "width": f"{x1 - x0:.1f}", "height": f"{f.bottom - TOP:.1f}",
                                    "fill": FAULT_COLOUR, "fill-opacity": "0.25",
                                    "data-record": record})
        if hold.held_until_s > hold.end_s:
            x2 = f.x(hold.held_until_s)
            ET.SubElement(svg, "rect", {"class": "held", "x": f"{x1:.1f}", "y": str(TOP),
                                        "width": f"{x2 - x1:.1f}",
                                        "height": f"{f.bottom - TOP:.1f}",
                                        "fill": f"url(#held-{uid})", "data-record": record})
        label = ET.SubElement(svg, "text", {"x": f"{x0 + 3:.1f}", "y": str(TOP - 6 - 11 * (i % 2)),
                                            "fill": FAULT_COLOUR, "font-size": "11"})
        label.text = hold.label


def _axes(svg: ET.Element, tl: Timeline, f: _Frame) -> None:
    axis = ET.SubElement(svg, "g", {"class": "axis", "font-size": "11", "fill": "#333"})
    step = next(s for s in (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1e9)
                if (f.hi - f.lo) / s <= 14)
    for k in range(math.ceil(f.lo / step), math.floor(f.hi / step) + 1):
        x = f.x(k * step)
        ET.SubElement(axis, "line", {"x1": f"{x:.1f}", "x2": f"{x:.1f}", "y1": f"{f.bottom:.1f}",
                                     "y2": f"{f.bottom + 4:.1f}", "stroke": "#333"})
        text = ET.SubElement(axis, "text", {"x": f"{x:.1f}", "y": f"{f.bottom + 16:.1f}",
                                            "text-anchor": "middle"})
        text.text = f"{k * step:g}"
    caption = ET.SubElement(axis, "text", {"x": f"{(LEFT + WIDTH) / 2:.0f}",
                                           "y": f"{f.bottom + 30:.1f}", "text-anchor": "middle"})
    caption.text = "seconds since window start"
    for x, colour, name in ((0.0, "#2ca02c", "window start"),
                            (tl.window_end_s, "#7b2c9e", "window end")):
        if x is not None:
            line = ET.SubElement(svg, "line", {"x1": f"{f.x(x):.1f}", "x2": f"{f.x(x):.1f}",
                                               "y1": str(TOP), "y2": f"{f.bottom:.1f}",
                                               "stroke": colour, "stroke-dasharray": "5,3",
                                               "stroke-width": "1.3"})
            ET.SubElement(line, "title").text = name
    labels = ET.SubElement(svg, "g", {"font-size": "11.5", "fill": "#222", "text-anchor": "end"})
    for row in tl.rows:
        text = ET.SubElement(labels, "text", {"x": str(LEFT - 8),
                                              "y": f"{f.rows[(row.mechanism, row.name)] + 4:.1f}"})
        text.text = _short(f"{row.label} ticks ({row.schedule})")
    for lane in tl.lanes:
        text = ET.SubElement(labels, "text", {"x": str(LEFT - 8), "y": f"{f.lanes[lane.replica] + 4:.1f}"})
        text.text = lane.label
    ET.SubElement(svg, "rect", {"x": str(LEFT), "y": str(TOP), "width": str(WIDTH - LEFT - RIGHT),
                                "height": f"{f.bottom - TOP:.1f}", "fill": "none",
                                "stroke": "#888"})


def _ticks(svg: ET.Element, tl: Timeline, f: _Frame) -> None:
    group = ET.SubElement(svg, "g", {"class": "ticks"})
    for row in tl.rows:
        y = f.rows[(row.mechanism, row.name)]
        colour = MECHANISM_STYLES[row.mechanism].colour
        for cell in row.cells:
            if cell.state == "lost":
                continue  # drawn as a miss
            stroke = {"once": colour, "duplicated": DUPLICATE_COLOUR,
                      "undelivered": FAILED_COLOUR}.get(cell.state, "#bbbbbb")
            ET.SubElement(group, "line", {
                "class": f"tick {cell.state}", "x1": f"{f.x(cell.at_s):.1f}",
                "x2": f"{f.x(cell.at_s):.1f}", "y1": f"{y - 7:.1f}", "y2": f"{y + 7:.1f}",
                "stroke": stroke, "stroke-width": "3" if cell.state == "duplicated" else "2",
                "stroke-opacity": LATE_OPACITY if cell.late else "1",
                "data-record": _record({"task": row.label, "tick_s": cell.at_s,
                                        "state": cell.state, "late": cell.late,
                                        "ambiguous": cell.ambiguous, "attempts": cell.attempts})})
    for miss in tl.misses:
        y = (f.rows.get((miss.mechanism, miss.name)) if miss.replica is None
             else f.lane_y(miss.replica, miss.mechanism) if miss.replica in f.lanes else None)
        if y is not None:
            _cross(group, f.x(miss.at_s), y, 5.5, **{
                "class": "lost", "stroke-opacity": "0.45" if miss.ambiguous else "1",
                "data-record": _record({"task": f"{miss.mechanism} {miss.name}",
                                        "tick_s": miss.at_s, "replica": miss.replica,
                                        "state": "lost", "ambiguous": miss.ambiguous})})


def _marks(svg: ET.Element, tl: Timeline, f: _Frame) -> None:
    group = ET.SubElement(svg, "g", {"class": "marks"})
    for mark in tl.marks:
        if mark.replica not in f.lanes:
            continue
        x, y = f.x(mark.at_s), f.lane_y(mark.replica, mark.mechanism)
        record = _record(mark.record | {"duplicate": mark.duplicate} if mark.duplicate
                         else mark.record)
        if mark.outcome == "refused":
            ET.SubElement(group, "path", {"class": "mark refused", "stroke": "#777",
                                          "stroke-width": "2", "data-record": record,
                                          "d": f"M{x - 5:.1f},{y:.1f}h10M{x:.1f},{y - 5:.1f}v10"})
            continue
        _shape(group, MECHANISM_STYLES[mark.mechanism], x, y, failed=mark.outcome == "failed",
               **{"class": f"mark {mark.mechanism}", "data-record": record})
        if mark.duplicate:
            ET.SubElement(group, "circle", {"class": "duplicate", "cx": f"{x:.1f}",
                                            "cy": f"{y:.1f}", "r": "9", "fill": "none",
                                            "stroke": DUPLICATE_COLOUR, "stroke-width": "1.6",
                                            "data-record": record})


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[:LABEL_CHARS - 1] + "…"


def timeline_svg(timeline: Timeline, uid: str) -> str:
    """The timeline as an ``<svg>`` element; ``uid`` keeps its ids unique on the page."""
    frame = _Frame(timeline)
    svg = ET.Element("svg", {"xmlns": "http://www.w3.org/2000/svg", "class": "timeline",
                             "viewBox": f"0 0 {WIDTH} {frame.height:.0f}",
                             "width": str(WIDTH), "height": f"{frame.height:.0f}",
                             "role": "img", "aria-label": timeline.title,
                             "font-family": "system-ui, sans-serif"})
    _background(svg, timeline, frame, uid)
    _axes(svg, timeline, frame)
    _ticks(svg, timeline, frame)
    _marks(svg, timeline, frame)
    return ET.tostring(svg, encoding="unicode")


def _icon(draw: Any) -> str:
    svg = ET.Element("svg", {"width": "18", "height": "18", "viewBox": "0 0 18 18",
                             "aria-hidden": "true"})
    draw(svg)
    return ET.tostring(svg, encoding="unicode")


def legend_html(timeline: Timeline) -> str:
    """One entry per mechanism (its colour and shape, with its count), then the other marks."""
    entries = []
    for mechanism in timeline.mechanisms:
        count = sum(1 for m in timeline.marks if m.mechanism == mechanism)
        style = MECHANISM_STYLES[mechanism]
        entries.append((_icon(lambda s, st=style: _shape(s, st, 9, 9, r=6)),
                        f"{mechanism}: {MECHANISMS[mechanism].label} ({count} triggers)"))
    failed = sum(1 for m in timeline.marks if m.outcome == "failed")
    if failed:
        entries.append((_icon(lambda s: _shape(s, MECHANISM_STYLES["job"], 9, 9, failed=True, r=6)),
                        f"hollow, red edge: the app answered with an error ({failed})"))
    duplicates = sum(1 for m in timeline.marks if m.duplicate)
    if duplicates:
        entries.append((_icon(lambda s: ET.SubElement(s, "circle", {
            "cx": "9", "cy": "9", "r": "7", "fill": "none", "stroke": DUPLICATE_COLOUR,
            "stroke-width": "1.6"})), f"ringed: a delivery beyond the first of its tick ({duplicates})"))
    if timeline.misses:
        entries.append((_icon(lambda s: _cross(s, 9, 9, 6)),
                        f"lost tick ({len(timeline.misses)}; faded: lost under the strict "
                        "reading only)"))
    if timeline.rows:
        entries.append((_icon(lambda s: ET.SubElement(s, "line", {
            "x1": "9", "x2": "9", "y1": "2", "y2": "16", "stroke": "#555", "stroke-width": "2"})),
            "tick of an app-wide task on its row (faded: first delivered late; black: "
            "delivered more than once; grey: outside the window)"))
    if timeline.holds:
        entries.append((_icon(lambda s: ET.SubElement(s, "rect", {
            "width": "18", "height": "18", "fill": FAULT_COLOUR, "fill-opacity": "0.25"})),
            "fault as injected; hatched after it: triggers still held"))
    items = "".join(f"<li>{icon}{html.escape(text)}</li>" for icon, text in entries)
    return f'<ul class="legend">{items}</ul>'
