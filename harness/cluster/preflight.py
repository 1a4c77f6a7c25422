"""Bad environments get one clear line before anything starts.

Checked before a run creates its directory: the runs directory can be created and written, and
its file system has room for a run. A port taken between its reservation and the exec of the
process that binds it (another program grabbed it in the gap) is retried with fresh ports by
``started_cluster`` in controlplane.py, then reported as PortTaken.
"""

from __future__ import annotations

from harness.errors import UserError
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["MIN_FREE_ENV", "EnvironmentProblem", "PortTaken", "check_runs_dir", "required_free_bytes"]

MIN_FREE_ENV = "DAPR_HARNESS_MIN_FREE_MB"
# Each scheduler member's embedded etcd preallocates a 64 MiB WAL; logs and the history of a
# long run take tens of MiB more.
_ETCD_WAL_BYTES = 64 * 1024**2
_BASE_BYTES = 128 * 1024**2


class EnvironmentProblem(UserError, RuntimeError):
    """The machine cannot hold a run; the message says what to change."""


class PortTaken(EnvironmentProblem):
    """Another program took a reserved port before our process bound it, every attempt."""


def required_free_bytes(schedulers: int) -> int:
    """Free space a run needs (``$DAPR_HARNESS_MIN_FREE_MB`` overrides it, e.g. for a test)."""
    if explicit := os.environ.get(MIN_FREE_ENV):
        return int(float(explicit) * 1024**2)
    return _BASE_BYTES + schedulers * _ETCD_WAL_BYTES


def check_runs_dir(runs_dir: Path, schedulers: int = 1) -> None:
    """Raise EnvironmentProblem unless ``runs_dir`` can be created, written and has room."""
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=runs_dir, prefix=".write-probe-"):
            pass
    except OSError as exc:
        raise EnvironmentProblem(
            f"runs directory {runs_dir} cannot be created or written ({exc.strerror or exc}); set "
            "DAPR_HARNESS_RUNS to a writable directory") from None
    free = shutil.disk_usage(runs_dir).free
    need = required_free_bytes(schedulers)
    if free < need:
        raise EnvironmentProblem(
            f"only {free / 1024**2:.0f} MiB free on the file system of {runs_dir}, a run needs "
            f"{need / 1024**2:.0f} MiB; free some space or set DAPR_HARNESS_RUNS elsewhere")
