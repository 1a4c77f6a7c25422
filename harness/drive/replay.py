"""Repeat a finished run by hand with the real dapr CLI: its commands.sh lines or its dapr.yaml.

What a reader of a run dir would do: start placement and the scheduler with the lines of
commands.sh, then the replicas with either the `dapr run` lines of commands.sh (run from another
directory, with the environment the lines carry) or `dapr run -f dapr.yaml` (with
DAPR_RUNTIME_PATH, as the file's header says), create the scenario's jobs, and wait out the
window. The run dir is copied first (paths rewritten to the copy), so the replay writes its own
history; the checker then judges it like any run.
"""

from __future__ import annotations

import shlex
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from harness.scenario.timing import grace_period
from harness.cluster.health import arg_value
from harness.cluster.process import CliProcess, ManagedProcess, stop_all
from harness.cluster.wait import wait_until
from harness.drive.driver import JobsClient
from harness.record.history import HistoryWriter
from harness.record.rundir import RunDir
from harness.scenario.model import Scenario

__all__ = ["Command", "read_commands", "relocate", "replay"]

_COPIED = ("commands.sh", "dapr.yaml", "scenario.json", "resources", "apps")
READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Command:
    comment: str
    env: dict[str, str]
    argv: list[str]


def read_commands(path: Path) -> list[Command]:
    """Each command of a commands.sh with the comment above it and its ``K=V`` prefix."""
    commands, comment = [], ""
    for line in path.read_text().splitlines():
        if line.startswith("#!"):
            continue
        if line.startswith("# "):
            comment = line[2:]
            continue
        words = shlex.split(line)
        env: dict[str, str] = {}
        while words and "=" in words[0] and not words[0].startswith("-"):
            key, value = words.pop(0).split("=", 1)
            env[key] = value
        if words:
            commands.append(Command(comment, env, words))
        comment = ""
    return commands


def relocate(run_root: Path, into: Path) -> RunDir:
    """A copy of a finished run's inputs in ``into``, every path of it pointing at the copy."""
    into.mkdir(parents=True, exist_ok=True)
    for name in _COPIED:
        source = run_root / name
        if source.is_dir():
            shutil.copytree(source, into / name, dirs_exist_ok=True)
        elif source.exists():
            (into / name).write_text(source.read_text().replace(str(run_root), str(into)))
    for sub in ("logs", "etcd"):
        (into / sub).mkdir(exist_ok=True)
    return RunDir(run_id=f"replay-{run_root.name}", root=into)


def _control_plane(commands: Sequence[Command], run: RunDir) -> list[ManagedProcess]:
    procs = []
    for i, command in enumerate(c for c in commands
                                if c.comment.startswith(("placement", "scheduler"))):
        if data_dir := arg_value(command.argv, "etcd-data-dir"):
            Path(data_dir).mkdir(parents=True, exist_ok=True)
            Path(data_dir).chmod(0o700)
        procs.append(ManagedProcess(f"replay-control-{i}", command.argv, run_id=run.run_id,
                                    log_path=run.log(f"control-{i}"), env=command.env))
    return procs


def _launchers(commands: Sequence[Command], run: RunDir, cli: Path,
               mode: str) -> list[CliProcess]:
    if mode == "file":
        header = (run.root / "dapr.yaml").read_text()
        runtime_path = yaml.safe_load(header)["common"]["runtimePath"]
        return [CliProcess("replay-dapr-run-f", [str(cli), "run", "-f", str(run.root / "dapr.yaml")],
                           run_id=run.run_id, log_path=run.log("dapr-run-f"),
                           env={"DAPR_RUNTIME_PATH": runtime_path}, cwd=run.root)]
    lines = [c for c in commands if "under the dapr CLI" in c.comment]
    # From the run dir, not the project: the lines must carry all the app needs.
    return [CliProcess(f"replay-dapr-run-{i}", [str(cli), *c.argv[1:]], run_id=run.run_id,
                       log_path=run.log(f"dapr-run-{i}"), env=c.env, cwd=run.root)
            for i, c in enumerate(lines)]


def _sidecar_ports(commands: Sequence[Command]) -> list[int]:
    return [int(arg_value(c.argv, "dapr-http-port") or 0) for c in commands
            if "under the dapr CLI" in c.comment]


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/v1.0/healthz", timeout=1.0).status_code == 204
    except httpx.HTTPError:
        return False


def _exited(launchers: Sequence[CliProcess]) -> str | None:
    for proc in launchers:
        if not proc.alive():
            return f"{proc.name} exited with {proc.exit_code()}; see {proc.log_path}"
    return None


def replay(run_root: Path, into: Path, cli: Path, mode: str) -> tuple[RunDir, Scenario]:
    """Replay a finished run's replicas with the CLI (``mode``: "commands" or "file")."""
    run = relocate(run_root, into)
    scenario = Scenario.model_validate_json((run.root / "scenario.json").read_text())
    commands = read_commands(run.commands)
    control = _control_plane(commands, run)
    launchers = _launchers(commands, run, cli, mode)
    ports = _sidecar_ports(commands)
    try:
        for proc in [*control, *launchers]:
            proc.start()
        for port in ports:
            wait_until(lambda p=port: _healthy(p), timeout_s=READY_TIMEOUT_S,  # type: ignore[misc]
                       what=f"replayed sidecar on port {port} healthy",
                       abort=lambda: _exited(launchers))
        with HistoryWriter(run.history) as history:
            jobs = JobsClient(f"http://127.0.0.1:{ports[0]}", history, run,
                              api_token=scenario.dapr_api_token)
            history.event("window_start", window_s=scenario.window_s)
            started = time.monotonic()
            # The timeline is the experiment: each job at its moment, then the rest of the window.
            for job in sorted(scenario.jobs, key=lambda j: j.at_s):
                time.sleep(max(0.0, started + job.at_s - time.monotonic()))
                jobs.schedule(job)
            jobs.close()
            time.sleep(max(0.0, started + scenario.window_s - time.monotonic()))
            history.event("window_end")
            grace = grace_period(scenario)  # as the runner: late deliveries of judged ticks
            time.sleep(grace)
            history.event("recording_end", grace_s=grace)
    finally:
        stop_all([*launchers, *reversed(control)], grace_s=5.0)
    return run, scenario
