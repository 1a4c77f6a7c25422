"""Timelines (the model, the PNG, the SVG) from histories written in code and from stored
evidence: what they mark is what the checker counted (no Dapr)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from fakeruns import T0, comparison_history, comparison_scenario, fake_run

from harness.check import check_run
from harness.paths import RESULTS_DIR
from harness.record.history import Event, HistoryWriter, Trigger, load_history
from harness.reports.plots import plot_run_timeline, timeline_figure
from harness.reports.svg import legend_html, timeline_svg
from harness.reports.timeline import MECHANISM_STYLES, Timeline, run_timeline, timeline_of
from harness.scenario.mechanisms import MECHANISMS
from harness.scenario.model import FaultSpec
from harness.summary import RunSummary, evidence_ids, load_stored_run

KILL_SCHEDULER_RUN = "0001-20261129-120843-mechanisms-fault-kill-scheduler-4e22"
SVG = "{http://www.w3.org/2000/svg}"


def _event(writer: HistoryWriter, what: str, wall: float, **attrs: Any) -> None:
    writer.append(Event(event=what, wall=wall, mono=wall - T0, attrs=attrs))


def _trigger(writer: HistoryWriter, mechanism: str, name: str, replica: int, wall: float) -> None:
    writer.append(Trigger(mechanism=mechanism, name=name, replica=replica,  # type: ignore[arg-type]
                          pid=1000 + replica, wall=wall, mono=wall - T0))


def with_duplicate(writer: HistoryWriter) -> None:
    """The comparison history (the job's tick at 10 s lost) plus a second delivery of its
    tick at 16 s on another replica."""
    comparison_history(3, skip_tick=6)(writer)
    _trigger(writer, "job", "tick", 2, T0 + 16.08)


def held_by_scheduler(writer: HistoryWriter) -> None:
    """A job every 2 s; the scheduler is killed at 8 s and back at 8.1 s, the sidecars
    reconnect at 20 s and the ticks due meanwhile arrive then, one after another."""
    for r in range(3):
        _event(writer, "replica_ready", T0 - 3 + r * 0.1, replica=r)
    _event(writer, "job_created", T0 - 1.95, name="tick", spec={"schedule": "@every 2s"},
           sent_wall=T0 - 2, status=204)
    _event(writer, "window_start", T0)
    for k in range(13):
        due = T0 + 2 * k
        late = 8 <= 2 * k < 20
        _trigger(writer, "job", "tick", k % 3, T0 + 20.5 + 0.01 * k if late else due + 0.03)
    _event(writer, "fault_start", T0 + 8, fault="kill_scheduler", target="scheduler", member=0)
    _event(writer, "fault_end", T0 + 8.1, fault="kill_scheduler", target="scheduler", member=0)
    _event(writer, "fault_recovered", T0 + 20, fault="kill_scheduler", target="scheduler", member=0)
    _event(writer, "window_end", T0 + 24)
    _event(writer, "recording_end", T0 + 25)


def _run(tmp_path: Path, history: Any, faults: tuple[FaultSpec, ...] = ()) -> tuple[RunSummary, Timeline]:
    summary = fake_run(tmp_path, "0001-fake", comparison_scenario(faults=faults), history,
                       "2026-11-28T19:46:34Z")
    return summary, run_timeline(load_stored_run(tmp_path, "0001-fake"))


def _expected(summary: RunSummary, field: str) -> int:
    """What the checker counted, in the view the timeline draws each task in."""
    return sum(getattr(e.across if e.view == "across replicas" else e.per_replica_view,
                       field).high for e in summary.mechanisms)


def test_every_trigger_a_mark_every_lost_tick_and_duplicate_marked_as_the_checker_counted(
        tmp_path: Path) -> None:
    summary, timeline = _run(tmp_path, with_duplicate)
    history = load_history(tmp_path / "0001-fake" / "history.jsonl")
    assert len(timeline.marks) == len(history.triggers)
    assert len(timeline.misses) == _expected(summary, "lost") >= 1
    assert sum(m.duplicate for m in timeline.marks) == _expected(summary, "extra") >= 1
    duplicate = next(m for m in timeline.marks if m.duplicate)
    assert (duplicate.mechanism, duplicate.replica, duplicate.record["t_s"]) == ("job", 2, 16.08)
    row = next(r for r in timeline.rows if r.name == "tick")
    assert [c.at_s for c in row.cells if c.state == "duplicated"] == [16.0]
    assert timeline.judged and timeline.grid_s[:3] == (0.0, 2.0, 4.0)


def test_a_fault_is_shaded_until_it_stops_holding_triggers(tmp_path: Path) -> None:
    _, timeline = _run(tmp_path, held_by_scheduler)
    (hold,) = timeline.holds
    assert (hold.kind, hold.start_s, hold.end_s) == ("kill_scheduler", 8.0, 8.1)
    assert hold.held_until_s == pytest.approx(20.59)  # the last held tick's arrival
    late = [c.at_s for r in timeline.rows for c in r.cells if c.late]
    assert late[:6] == [8.0, 10.0, 12.0, 14.0, 16.0, 18.0] and late[-1] < 24


def test_without_its_scenario_a_run_is_drawn_and_says_its_ticks_are_not_judged(
        tmp_path: Path) -> None:
    fake_run(tmp_path, "0001-fake", comparison_scenario(), comparison_history(3),
             "2026-11-28T19:46:34Z")
    (tmp_path / "0001-fake" / "scenario.json").unlink()
    timeline = run_timeline(load_stored_run(tmp_path, "0001-fake"))
    assert not timeline.judged and timeline.marks and not timeline.misses
    assert any("scenario unreadable" in n for n in timeline.notes)
    assert any("ticks not judged" in n for n in timeline.notes)


def test_the_title_names_the_real_lanes(tmp_path: Path) -> None:
    mechanisms = run_timeline(load_stored_run(RESULTS_DIR / "evidence", KILL_SCHEDULER_RUN))
    assert "3 HTTP + 3 gRPC replicas" in mechanisms.title
    assert [lane.label for lane in mechanisms.lanes][2:4] == ["replica 2 (HTTP)", "replica 3 (gRPC)"]

    def scaled_out(writer: HistoryWriter) -> None:
        comparison_history(3)(writer)
        _event(writer, "replica_ready", T0 + 9, replica=3, app_id="taskapi")
    summary = fake_run(tmp_path, "0002-fake", comparison_scenario(), scaled_out,
                       "2026-11-28T19:46:34Z")
    timeline = timeline_of(summary, load_history(tmp_path / "0002-fake" / "history.jsonl"))
    assert "4 replicas (1 added during the run)" in timeline.title
    assert timeline.lanes[-1].label == "replica 3 added"


def test_every_mechanism_has_its_own_colour_and_shape() -> None:
    assert set(MECHANISM_STYLES) == set(MECHANISMS)
    assert len({s.colour for s in MECHANISM_STYLES.values()}) == len(MECHANISMS)
    assert len({s.marker for s in MECHANISM_STYLES.values()}) == len(MECHANISMS)
    assert len({(s.sides, s.rotation) for s in MECHANISM_STYLES.values()}) == len(MECHANISMS)


def test_the_png_legend_tells_the_mechanisms_apart() -> None:
    timeline = run_timeline(load_stored_run(RESULTS_DIR / "evidence", KILL_SCHEDULER_RUN))
    legend = timeline_figure(timeline).axes[0].get_legend()
    entries = {t.get_text(): h for t, h in zip(legend.get_texts(), legend.legend_handles, strict=True)}
    drawn = {label.split(":")[0]: handle for label, handle in entries.items()
             if label.split(":")[0] in MECHANISMS}
    assert set(drawn) == set(timeline.mechanisms) == {"job-sdk", "reminder", "binding-lock",
                                                      "binding-claim", "workflow"}
    assert len({(h.get_marker(), h.get_markerfacecolor()) for h in drawn.values()}) == len(drawn)
    assert any(label.startswith("lost tick") for label in entries)
    assert "fault (as injected)" in entries and "after it: triggers still held" in entries


def test_a_stored_run_redraws_as_a_png(tmp_path: Path) -> None:
    out = plot_run_timeline(load_stored_run(RESULTS_DIR / "evidence", KILL_SCHEDULER_RUN),
                            tmp_path / "t.png")
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_the_svg_carries_each_mark_with_its_record(tmp_path: Path) -> None:
    def faulted(writer: HistoryWriter) -> None:
        comparison_history(3, fault=True)(writer)
        _trigger(writer, "job", "tick", 2, T0 + 16.08)
    _, timeline = _run(tmp_path, faulted,
                       (FaultSpec(kind="kill_daprd", at_s=8, duration_s=4, replica=1),))
    svg = ET.fromstring(timeline_svg(timeline, "u1"))
    marks = [e for e in svg.iter() if "mark" in (e.get("class") or "").split()]
    assert len(marks) == len(timeline.marks)
    assert {e.get("data-record") is not None for e in marks} == {True}
    assert len([e for e in svg.iter() if e.get("class") == "lost"]) == len(timeline.misses)
    assert len([e for e in svg.iter() if e.get("class") == "duplicate"]) == 1 == sum(
        m.duplicate for m in timeline.marks)
    assert len([e for e in svg.iter() if e.get("class") == "fault"]) == 1
    legend = legend_html(timeline)
    assert "job: Jobs API (HTTP)" in legend and "binding: cron input binding" in legend
    assert "ringed" in legend and "fault as injected" in legend


def test_every_cited_run_can_be_drawn() -> None:
    evidence = RESULTS_DIR / "evidence"
    for run_id in evidence_ids(evidence):
        run = load_stored_run(evidence, run_id)
        timeline = run_timeline(run)
        assert timeline.judged, (run_id, timeline.notes)
        assert len(timeline.marks) == len(run.history.triggers)  # type: ignore[union-attr]
        assert len(timeline.misses) == sum(
            (k.judged and k.lost.high) for t in check_run(run.scenario, run.history).ticks  # type: ignore[arg-type]
            for k in t.ticks)
