"""Builds and installs: a build interrupted with Ctrl-C leaves no cache entry (real `go build`);
an install of any version from 1.14 is used as it is, older or unstamped ones are refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cluster.runtime import DaprMissingError, locate_runtime
from harness.cluster.wait import wait_until
from harness.paths import REPO_ROOT

VERSION = "1.15.0"
# build_dapr itself (setup would first take an install of that version if one exists)
BUILD = ("from harness.cluster.build import build_dapr; from harness.cluster.gomod import "
         f"Progress; build_dapr(Progress(), {VERSION!r})")


def test_ctrl_c_during_a_build_leaves_no_cache_entry(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    log = tmp_path / "setup.log"
    env = {**os.environ, "DAPR_HARNESS_CACHE": str(cache)}
    env.pop("DAPR_RUNTIME_PATH", None)
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-c", BUILD], cwd=REPO_ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: "building daprd" in log.read_text(), timeout_s=300,
                   what="setup compiling daprd", abort=lambda: None if proc.poll() is None
                   else f"setup exited with {proc.returncode}: {log.read_text()[-500:]}")
        assert any(p.name.startswith(f".dapr-{VERSION}-") for p in cache.iterdir())
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
        assert proc.wait(timeout=60) != 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "KeyboardInterrupt" in log.read_text()
    left = sorted(p.name for p in cache.iterdir())
    assert left and all(name.endswith(".lock") for name in left), left  # no entry, no temp dir


def _install(root: Path, version: str) -> Path:
    """A `.dapr` dir whose binaries report ``version`` (stand-ins: only --version is asked)."""
    bin_dir = root / ".dapr" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("daprd", "scheduler", "placement"):
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\necho {version}\n")
        script.chmod(0o755)
    return root


@pytest.mark.parametrize("version", ["1.14.0", "1.16.0"])
def test_an_install_of_any_version_from_1_14_is_used_as_it_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str) -> None:
    monkeypatch.setenv("DAPR_RUNTIME_PATH", str(_install(tmp_path, version)))
    runtime = locate_runtime()
    assert (runtime.version, runtime.source) == (version, "DAPR_RUNTIME_PATH")
    assert (runtime.root / "config.yaml").exists()  # the layout `dapr init --slim` leaves


@pytest.mark.parametrize("reported", ["1.13.2", "edge"])
def test_an_install_older_than_1_14_or_unstamped_is_refused_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reported: str) -> None:
    monkeypatch.setenv("DAPR_RUNTIME_PATH", str(_install(tmp_path, reported)))
    with pytest.raises(DaprMissingError, match=f"reports version {reported}; the harness needs "
                                               "a released Dapr >= 1.14.0"):
        locate_runtime()
