"""Pure tests: recorded or generated histories, files and renderers. None may start a process."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import croniter  # noqa: F401  (its import runs `file` via platform.architecture(): do it before the guard)
import pytest
from hypothesis import HealthCheck, settings

# Generated-history and fuzz tests: a quick profile for development, at least 2,000 cases per
# property in CI (.ci/run sets HYPOTHESIS_PROFILE=ci) and more at night.
_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow], "derandomize": False}
settings.register_profile("dev", max_examples=150, **_COMMON)
settings.register_profile("ci", max_examples=2000, **_COMMON)
settings.register_profile("nightly", max_examples=20000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


class ProcessStarted(AssertionError):
    pass


@pytest.fixture(autouse=True)
def _no_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit test that starts a process fails: it belongs in tests/dapr/."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise ProcessStarted(f"a unit test started a process: {args[0] if args else kwargs}")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The ground-truth properties' effective examples (tests/truth/properties.py)."""
    from tests.truth.effective import summary

    lines = summary()
    if lines:
        terminalreporter.section("ground truth: effective examples per property")
        for line in lines:
            terminalreporter.write_line(line)
