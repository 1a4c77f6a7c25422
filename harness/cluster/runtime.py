"""Finding the Dapr binaries a run uses, and refusing any that are not the pinned version."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.paths import LOCAL_RUNTIME_DIR
from harness.cluster.versions import CONTROL_PLANE_BINARIES, DAPR_RUNTIME_VERSION

__all__ = [
    "DaprMissingError",
    "DaprRuntime",
    "locate_runtime",
    "logged_version",
    "runtime_dir_candidates",
]

_STARTING_RE = re.compile(r"Starting Dapr [\w ]+? -- version (\S+)")

CONFIG_YAML = """\
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: daprConfig
spec: {}
"""


class DaprMissingError(RuntimeError):
    """No usable Dapr install. The message says where we looked and what to run."""


@dataclass(frozen=True)
class DaprRuntime:
    root: Path  # a `.dapr` directory: bin/, components/, config.yaml
    version: str
    source: str  # how it was found, for the record

    def binary(self, name: str) -> Path:
        return self.root / "bin" / name

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"


def binary_version(path: Path) -> str | None:
    """What ``daprd --version`` prints; None for binaries that have no --version flag."""
    try:
        out = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=20, check=False
        )
    except OSError:
        return None
    text = out.stdout.strip()
    return text if out.returncode == 0 and text else None


def runtime_dir_candidates() -> list[tuple[Path, str, bool]]:
    """(dir, source, explicit) in the order they are tried. An explicit one must be right."""
    found: list[tuple[Path, str, bool]] = []
    if explicit := os.environ.get("DAPR_RUNTIME_PATH"):
        found.append((Path(explicit) / ".dapr", "DAPR_RUNTIME_PATH", True))
    found.append((LOCAL_RUNTIME_DIR, "project build", False))
    if daprd := shutil.which("daprd"):
        found.append((Path(daprd).resolve().parent.parent, "daprd on PATH", False))
    found.append((Path.home() / ".dapr", "~/.dapr (dapr init)", False))
    return found


def check_runtime_dir(root: Path, source: str) -> DaprRuntime:
    """The runtime in ``root`` if it has every binary at the pinned version; else raise."""
    missing = [n for n in CONTROL_PLANE_BINARIES if not (root / "bin" / n).is_file()]
    if missing:
        raise DaprMissingError(f"{source}: {root}/bin lacks {', '.join(missing)}")
    version = binary_version(root / "bin" / "daprd")
    if version != DAPR_RUNTIME_VERSION:
        raise DaprMissingError(
            f"{source}: {root}/bin/daprd is version {version or 'unknown'}; "
            f"this harness is pinned to {DAPR_RUNTIME_VERSION}"
        )
    ensure_layout(root)
    return DaprRuntime(root=root, version=version, source=source)


def ensure_layout(root: Path) -> None:
    """What `dapr init --slim` leaves beside the binaries: a components dir and a config."""
    (root / "components").mkdir(parents=True, exist_ok=True)
    config = root / "config.yaml"
    if not config.exists():
        config.write_text(CONFIG_YAML)


def locate_runtime() -> DaprRuntime:
    """The first usable runtime; an explicit DAPR_RUNTIME_PATH of another version is an error."""
    refusals: list[str] = []
    for root, source, explicit in runtime_dir_candidates():
        try:
            return check_runtime_dir(root, source)
        except DaprMissingError as exc:
            if explicit:
                raise
            refusals.append(str(exc))
    raise DaprMissingError(
        f"no Dapr {DAPR_RUNTIME_VERSION} found: {'; '.join(refusals)}. Run `python -m harness "
        "setup` to build it, or set DAPR_RUNTIME_PATH to a directory whose .dapr/bin holds "
        f"daprd, scheduler and placement {DAPR_RUNTIME_VERSION}"
    )


def logged_version(log_path: Path) -> str | None:
    """The version a scheduler or placement logged at start (they have no --version flag)."""
    try:
        with log_path.open(errors="replace") as fh:
            for line in fh:
                if match := _STARTING_RE.search(line):
                    return match.group(1)
    except OSError:
        return None
    return None
