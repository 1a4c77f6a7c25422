"""Bad environments are refused with one line before anything starts (pure checks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cluster.preflight import MIN_FREE_ENV, EnvironmentProblem, check_runs_dir


def test_a_runs_dir_that_cannot_be_created_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(EnvironmentProblem, match=r"runs directory .*a-file/runs cannot be created or written"
                       r" \(.*\); set DAPR_HARNESS_RUNS to a writable directory$"):
        check_runs_dir(blocker / "runs")


def test_a_read_only_file_system_is_refused() -> None:
    with pytest.raises(EnvironmentProblem, match="cannot be created or written"):
        check_runs_dir(Path("/proc/self/harness-runs"))


def test_too_little_free_space_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MIN_FREE_ENV, str(10**12))  # more than any disk here has
    with pytest.raises(EnvironmentProblem, match=r"^only \d+ MiB free on the file system of .*, "
                       r"a run needs \d+ MiB; free some space"):
        check_runs_dir(tmp_path)


def test_a_good_runs_dir_passes_and_keeps_nothing(tmp_path: Path) -> None:
    check_runs_dir(tmp_path / "runs", schedulers=3)
    assert list((tmp_path / "runs").iterdir()) == []
