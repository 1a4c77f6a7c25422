"""Pure tests: recorded or generated histories, files and renderers. None may start a process."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest


class ProcessStarted(AssertionError):
    pass


@pytest.fixture(autouse=True)
def _no_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit test that starts a process fails: it belongs in tests/dapr/."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise ProcessStarted(f"a unit test started a process: {args[0] if args else kwargs}")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
