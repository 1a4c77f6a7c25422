"""When a tagged process counts as orphaned: its owner's pid gone, or reused by another process."""

from __future__ import annotations

import os

import psutil

from harness.cluster.reaper import TaggedProcess
from harness.cluster.watchdog import owner_start_time


def _tagged(owner: int | None, start: str | None) -> TaggedProcess:
    return TaggedProcess(pid=1, run_id="r", owner=owner, cmdline="x", owner_start=start)


def test_a_live_owner_with_its_start_time_keeps_its_processes() -> None:
    assert not _tagged(os.getpid(), owner_start_time(os.getpid())).orphaned


def test_a_reused_owner_pid_does_not_protect_a_dead_runs_processes() -> None:
    assert _tagged(os.getpid(), "12.34").orphaned


def test_no_owner_or_a_vanished_owner_is_an_orphan() -> None:
    free_pid = max(psutil.pids()) + 100_000
    assert _tagged(None, None).orphaned
    assert _tagged(free_pid, None).orphaned


def test_an_older_tag_without_a_start_time_is_judged_by_the_pid_alone() -> None:
    assert not _tagged(os.getpid(), None).orphaned
