"""The directory of one run: history, logs, etcd data, components and the commands it ran."""

from __future__ import annotations

import fcntl
import os
import secrets
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.paths import RUNS_DIR

__all__ = ["RunDir", "new_run_dir", "runs_base"]


@dataclass(frozen=True)
class RunDir:
    run_id: str
    root: Path

    @property
    def history(self) -> Path:
        return self.root / "history.jsonl"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def resources(self) -> Path:
        return self.root / "resources"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def commands(self) -> Path:
        return self.root / "commands.sh"

    def etcd_data(self, member: str) -> Path:
        return self.root / "etcd" / member

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def note_command(self, argv: Sequence[str], env: Mapping[str, str] | None = None,
                     comment: str = "") -> None:
        """Append a command to commands.sh, so a reader can repeat the run by hand."""
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
        line = " ".join(shlex.quote(str(a)) for a in argv)
        with self.commands.open("a") as fh:
            if comment:
                fh.write(f"# {comment}\n")
            fh.write(f"{prefix + ' ' if prefix else ''}{line}\n")


def _next_number(base: Path) -> int:
    """Runs are numbered in the order they start, even when several start at once."""
    base.mkdir(parents=True, exist_ok=True)
    with (base / ".counter").open("a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        number = int(fh.read().strip() or 0) + 1
        fh.seek(0)
        fh.truncate()
        fh.write(str(number))
    return number


def runs_base(base: Path | None = None) -> Path:
    """Where run directories go: ``base``, else $DAPR_HARNESS_RUNS, else results/runs."""
    return base or Path(os.environ.get("DAPR_HARNESS_RUNS", RUNS_DIR))


def new_run_dir(label: str, base: Path | None = None) -> RunDir:
    """A fresh run directory; its id is ``<number>-<date>-<time>-<label>-<random>``."""
    base = runs_base(base)
    slug = "".join(c if c.isalnum() or c in "-_" else "-" for c in label).strip("-")[:60]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_id = f"{_next_number(base):04d}-{stamp}-{slug}-{secrets.token_hex(2)}"
    root = base / run_id
    for sub in ("logs", "resources", "etcd"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "commands.sh").write_text("#!/usr/bin/env bash\n# Commands this run executed, in order.\n")
    return RunDir(run_id=run_id, root=root)
