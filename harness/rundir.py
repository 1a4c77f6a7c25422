"""The directory of one run: history, logs, etcd data, components and the commands it ran."""

from __future__ import annotations

import os
import secrets
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .paths import RUNS_DIR

__all__ = ["RunDir", "new_run_dir"]


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


def new_run_dir(label: str, base: Path | None = None) -> RunDir:
    slug = "".join(c if c.isalnum() or c in "-_" else "-" for c in label).strip("-")[:60]
    run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}-{secrets.token_hex(2)}"
    root = (base or Path(os.environ.get("DAPR_HARNESS_RUNS", RUNS_DIR))) / run_id
    for sub in ("logs", "resources", "etcd"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "commands.sh").write_text("#!/usr/bin/env bash\n# Commands this run executed, in order.\n")
    return RunDir(run_id=run_id, root=root)
