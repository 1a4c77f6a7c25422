"""Choosing how a run starts its replicas (launcher) and which dapr CLI it uses."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.scenario.mechanisms import LAUNCHERS

__all__ = ["DEFAULT_LAUNCHER", "LAUNCHER_ENV", "LaunchChoice", "choose_launcher", "cli_version"]

# The daprd launcher is the default: the suite's fault expectations were measured with it, and
# under `dapr run` killing daprd also ends the app (the CLI stops both). Choose per run with
# --launcher, a scenario's `launcher:`, or DAPR_HARNESS_LAUNCHER.
DEFAULT_LAUNCHER = "daprd"
LAUNCHER_ENV = "DAPR_HARNESS_LAUNCHER"
_CLI_VERSION_RE = re.compile(r"CLI version:\s*(\S+)")


@dataclass(frozen=True)
class LaunchChoice:
    launcher: str  # one of LAUNCHERS
    cli: Path | None
    cli_version: str | None
    note: str | None  # why another launcher than the requested one is used


def cli_version(cli: Path) -> str | None:
    """What ``dapr --version`` says about the CLI itself."""
    try:
        proc = subprocess.run([str(cli), "--version"], capture_output=True, text=True,
                              timeout=20, check=False)
    except OSError:
        return None
    match = _CLI_VERSION_RE.search(proc.stdout)
    return match.group(1) if match else None


def choose_launcher(requested: str | None, find_cli: Callable[[], Path | None]) -> LaunchChoice:
    """The requested launcher (else DAPR_HARNESS_LAUNCHER, else the default); a CLI launcher
    with no CLI falls back to daprd, with a one-line note saying so."""
    launcher = requested or os.environ.get(LAUNCHER_ENV) or DEFAULT_LAUNCHER
    if launcher not in LAUNCHERS:
        raise ValueError(f"launcher {launcher!r} is not one of {', '.join(LAUNCHERS)}")
    cli = find_cli()
    version = cli_version(cli) if cli else None
    if launcher == "daprd":
        return LaunchChoice("daprd", cli, version, None)
    if cli is None:
        return LaunchChoice("daprd", None, None,
                            f"no dapr CLI (not on PATH, not built by setup from DAPR_CLI_SOURCE): "
                            f"launcher daprd instead of {launcher}")
    return LaunchChoice(launcher, cli, version, None)
