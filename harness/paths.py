"""Where the harness keeps things: the repo, its runtime dir, results and the build cache."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
COMPONENTS_DIR = REPO_ROOT / "components"
SCENARIOS_DIR = REPO_ROOT / "scenarios"
# Load scenarios (thousands of jobs, minutes each): run by name, never collected by pytest
# or the evidence run, which take scenarios/*.yaml only.
LOAD_SCENARIOS_DIR = SCENARIOS_DIR / "load"
RESULTS_DIR = REPO_ROOT / "results"
RUNS_DIR = RESULTS_DIR / "runs"
# `dapr --runtime-path REPO_ROOT` means REPO_ROOT/.dapr: the project-local runtime dir.
LOCAL_RUNTIME_DIR = REPO_ROOT / ".dapr"
# The dapr CLI setup builds from DAPR_CLI_SOURCE (a dapr CLI on PATH is preferred to it).
LOCAL_CLI = LOCAL_RUNTIME_DIR / "bin" / "dapr"


def cache_dir() -> Path:
    """The build cache, outside the clone, so a fresh clone on the same machine builds nothing."""
    if explicit := os.environ.get("DAPR_HARNESS_CACHE"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dapr-schedule-harness"
