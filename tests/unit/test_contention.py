"""Contention: the sampler on this process, what the summary carries and reports flag, and
`evidence` refusing to share the machine with another run (no process started)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from harness import cli
from harness.cluster import contention as contention_module
from harness.cluster.contention import CONTENDED_CORES, Contention, ContentionSampler, live_runs
from harness.cluster.reaper import TaggedProcess
from harness.cluster.watchdog import owner_start_time
from harness.summary import RunSummary, contention_note, overlapping_runs

ME = os.getpid()


def tagged(run_id: str, *, live: bool = True) -> TaggedProcess:
    """A tagged process of this test's own: its owner is alive (this process) or long gone."""
    return TaggedProcess(ME, run_id, ME if live else None, "python", owner_start_time(ME))


def test_the_sampler_counts_this_process_as_its_own_and_lists_the_other_live_runs() -> None:
    scan = [tagged("0001-mine"), tagged("0002-other"), tagged("0003-dead", live=False)]
    sampler = ContentionSampler("0001-mine", 0.2, scan=lambda: scan).start()
    cpu0, wall0 = time.process_time(), time.monotonic()
    deadline = wall0 + 30
    while sampler.samples < 4 and time.monotonic() < deadline:  # busy: this process's CPU
        sum(i * i for i in range(20_000))
    used = (time.process_time() - cpu0) / (time.monotonic() - wall0)
    result = sampler.stop()
    assert result.samples >= 4, "the sampler did not sample within 30 s"
    assert result.cpus == os.cpu_count()
    assert result.load_1m_max is not None and result.load_1m_max >= 0
    # Its own share is this busy process's, measured while the machine may be loaded: bounded,
    # not matched to the process clock (the two are sampled at different moments).
    assert 0.1 < result.own_cpu_cores_mean <= max(used, 0.1) + 0.6
    assert result.own_cpu_cores_max >= result.own_cpu_cores_mean > 0.1
    assert result.others_cpu_cores_max >= result.others_cpu_cores_mean >= 0
    assert result.overlapping_runs == ["0002-other"]  # not its own, not one whose owner is gone
    assert result.flag and "overlapped 0002-other" in result.note


def test_a_quiet_run_is_not_flagged_and_a_busy_machine_is() -> None:
    quiet = Contention(interval_s=1, samples=20, cpus=2, others_cpu_cores_mean=0.1)
    busy = quiet.model_copy(update={"others_cpu_cores_mean": CONTENDED_CORES + 0.01})
    assert not quiet.flag and quiet.note.startswith("quiet: ")
    assert busy.flag and busy.note.startswith("contended: ") and "of 2" in busy.note


def test_live_runs_are_those_whose_harness_is_alive() -> None:
    scan = [tagged("0001-mine"), tagged("0002-other"), tagged("0003-dead", live=False)]
    assert live_runs("0001-mine", lambda: scan) == {"0002-other"}
    assert live_runs(None, lambda: scan) == {"0001-mine", "0002-other"}


def _summary(run_id: str, start: str, end: str, contention: Contention | None = None) -> RunSummary:
    return RunSummary(run_id=run_id, scenario="s", started_at=start, finished_at=end,
                      contention=contention)


def test_the_summary_carries_contention_and_reports_flag_it() -> None:
    sampled = _summary("0005", "2026-11-29T11:00:00Z", "2026-11-29T11:00:40Z",
                       Contention(interval_s=1, samples=40, cpus=2, overlapping_runs=["0004"]))
    again = RunSummary.model_validate_json(sampled.model_dump_json())
    assert again.contention == sampled.contention and again.contention is not None
    assert contention_note(again) == again.contention.note
    assert contention_note(_summary("0006", "a", "b", Contention(interval_s=1))) is None


def test_a_run_from_before_sampling_is_flagged_by_the_runs_it_overlapped() -> None:
    runs = [_summary("0001", "2026-11-29T11:00:00Z", "2026-11-29T11:00:40Z"),
            _summary("0002", "2026-11-29T11:00:40Z", "2026-11-29T11:01:20Z"),  # touches: no
            _summary("0003", "2026-11-29T11:00:30Z", "2026-11-29T11:02:00Z")]
    assert overlapping_runs(runs[0], runs) == ["0003"]
    assert overlapping_runs(runs[2], runs) == ["0001", "0002"]
    note = contention_note(runs[0], runs)
    assert note is not None and "0003" in note and "not sampled" in note
    assert contention_note(runs[0], runs[:2]) is None


def test_evidence_refuses_to_start_while_another_run_is_going(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(contention_module, "tagged_processes", lambda: [tagged("0042-going")])
    monkeypatch.setattr(cli, "_reap_leftovers", lambda: None)
    assert cli.main(["evidence"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("error: another harness run is going") and "0042-going" in err


def test_the_comparison_report_flags_a_contended_run(tmp_path: Path) -> None:
    from fakeruns import comparison_history, comparison_scenario, fake_run

    from harness.reports.comparison import render_comparison

    summary = fake_run(tmp_path, "0001-fake", comparison_scenario(), comparison_history(3),
                       "2026-11-28T19:46:34Z")
    busy = summary.model_copy(update={"contention": Contention(
        interval_s=1, samples=24, cpus=2, others_cpu_cores_mean=1.2, overlapping_runs=["0002"])})
    assert "Machine contended: other processes used 1.20 cores" in render_comparison(
        [busy], title="t")
    quiet = busy.model_copy(update={"contention": Contention(interval_s=1, samples=24, cpus=2)})
    assert "Machine contended" not in render_comparison([quiet], title="t")
