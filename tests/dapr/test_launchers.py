"""The real dapr CLI as launcher: the daprd flags it passes, faults on what it started, nothing
left behind when it is killed, and a finished run repeated by hand with it (commands.sh and
dapr.yaml) giving the same verdict. Needs the CLI: on PATH or built by setup from
DAPR_CLI_SOURCE (a test fails, never skips, without it)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
import pytest

from harness.check import check_run
from harness.cluster.build import find_cli
from harness.cluster.controlplane import Cluster
from harness.cluster.health import arg_value
from harness.cluster.replicas import Replica
from harness.cluster.process import AdoptedProcess
from harness.cluster.reaper import tagged_processes
from harness.cluster.runtime import DaprRuntime, locate_runtime
from harness.cluster.wait import wait_until
from harness.paths import SCENARIOS_DIR
from harness.record.history import load_history
from harness.drive.nemesis import Nemesis
from harness.drive.replay import replay
from harness.record.rundir import RunDir, new_run_dir
from harness.runner import RunResult, run_scenario
from harness.scenario.model import FaultSpec
from harness.scenario.loading import load_scenario

# Every daprd flag that decides which sidecar the scheduler and placement see, where the app is
# reached, and which components (the cron binding) and configuration are loaded.
SCHEDULING_FLAGS = (
    "app-id", "app-port", "app-protocol", "app-channel-address", "dapr-http-port",
    "dapr-grpc-port", "dapr-internal-grpc-port", "metrics-port", "placement-host-address",
    "scheduler-host-address", "resources-path", "config", "dapr-listen-addresses", "log-level",
)
# A flag left out takes daprd's default: the CLI omits --app-channel-address when it is
# 127.0.0.1 (dapr/cli pkg/standalone/run.go, `ifneq:"127.0.0.1"`), daprd's default
# (dapr/dapr pkg/runtime/config.go DefaultChannelAddress).
DAPRD_DEFAULTS = {"app-channel-address": "127.0.0.1"}


def _effective(argv: list[str], flag: str) -> str | None:
    return arg_value(argv, flag) or DAPRD_DEFAULTS.get(flag)


@pytest.fixture(scope="module")
def runtime() -> DaprRuntime:
    return locate_runtime()


@pytest.fixture(scope="module")
def cli() -> Path:
    found = find_cli()
    assert found is not None, ("no dapr CLI: put one on PATH or run setup with "
                               "DAPR_CLI_SOURCE=<dapr/cli archive or checkout>")
    return found


@pytest.fixture
def run(tmp_path: Path) -> RunDir:
    return new_run_dir("launcher-test", base=tmp_path)


def _adopted_argv(replica: Replica) -> list[str]:
    assert isinstance(replica.daprd, AdoptedProcess)
    return replica.daprd.process().cmdline()


def test_dapr_run_passes_daprd_the_flags_the_harness_emulates(
        runtime: DaprRuntime, run: RunDir, cli: Path) -> None:
    with Cluster(runtime, run, replicas=1, launcher="dapr-run", cli=cli) as cluster:
        replica = cluster.replicas[0]
        real = _adopted_argv(replica)
        emulated = replica.daprd_argv
        assert Path(real[0]).resolve() == Path(emulated[0]).resolve()  # the project's daprd
        differing = {flag: (_effective(real, flag), _effective(emulated, flag))
                     for flag in SCHEDULING_FLAGS
                     if _effective(real, flag) != _effective(emulated, flag)}
        assert differing == {}, f"dapr run (left) and the daprd launcher (right) differ: {differing}"


def test_killing_dapr_run_leaks_nothing(runtime: DaprRuntime, run: RunDir, cli: Path) -> None:
    cluster = Cluster(runtime, run, replicas=1, launcher="dapr-run", cli=cli)
    with cluster:
        replica = cluster.replicas[0]
        assert replica.launcher is not None
        children = [replica.daprd.pid, replica.app.pid]
        os.kill(replica.launcher.pid, signal.SIGKILL)
        # The CLI put daprd and the app in process groups of their own: they outlive it.
        wait_until(lambda: not replica.launcher or not replica.launcher.alive(), timeout_s=10,
                   what="dapr run gone")
        assert all(psutil.pid_exists(pid) for pid in children)
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                   for pid in children)
    assert tagged_processes([run.run_id]) == []


def test_faults_under_dapr_run_hit_the_daprd_and_app_it_started(
        runtime: DaprRuntime, run: RunDir, cli: Path) -> None:
    with Cluster(runtime, run, replicas=1, launcher="dapr-run", cli=cli) as cluster:
        replica = cluster.replicas[0]
        before = replica.daprd.pid
        assert replica.launcher is not None
        assert before in [p.pid for p in psutil.Process(replica.launcher.pid).children(True)]
        nemesis = Nemesis(cluster, [FaultSpec(kind="kill_daprd", at_s=0)])
        for action in nemesis.actions():
            action.act()
        nemesis.close()
        assert not psutil.pid_exists(before) or psutil.Process(before).status() == "zombie"
        assert replica.daprd.pid != before
        assert replica.daprd.pid in [p.pid for p in
                                     psutil.Process(replica.launcher.pid).children(True)]
        events = [e.event for e in load_history(run.history).events]
        assert "fault_end" in events and "fault_error" not in events
        # pause_replica stops the daprd and app the CLI started, not the CLI
        pause = Nemesis(cluster, [FaultSpec(kind="pause_replica", at_s=0, duration_s=1)])
        start, end = pause.actions()
        start.act()
        wait_until(lambda: {psutil.Process(p.pid).status() for p in replica.workers}
                   == {psutil.STATUS_STOPPED}, timeout_s=5, what="daprd and app stopped")
        assert psutil.Process(replica.launcher.pid).status() != psutil.STATUS_STOPPED
        end.act()
        pause.close()
        assert {psutil.Process(p.pid).status() for p in replica.workers} != {
            psutil.STATUS_STOPPED}


def _verdicts(history_path: Path, scenario: object) -> dict[str, tuple[bool, float | None]]:
    report = check_run(scenario, load_history(history_path))  # type: ignore[arg-type]
    return {r.mechanism: (not r.reasons, r.triggers_per_tick) for r in report.mechanisms}


@pytest.fixture(scope="module")
def finished_run(runtime: DaprRuntime, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    """The headline comparison, run by the harness (daprd launcher), to be repeated by hand."""
    scenario = load_scenario(SCENARIOS_DIR / "comparison.yaml")[0]
    result = run_scenario(scenario, runtime, runs_dir=tmp_path_factory.mktemp("runs"),
                          launcher="daprd")
    assert result.passed
    return result


@pytest.mark.parametrize("mode", ["commands", "file"])
def test_a_finished_run_repeated_by_hand_with_the_cli_gives_the_same_verdict(
        finished_run: RunResult, tmp_path: Path, cli: Path, mode: str) -> None:
    replayed, scenario = replay(finished_run.run.root, tmp_path / f"replay-{mode}", cli, mode)
    assert _verdicts(replayed.history, scenario) == _verdicts(finished_run.run.history,
                                                              finished_run.scenario)
    assert tagged_processes([replayed.run_id]) == []
