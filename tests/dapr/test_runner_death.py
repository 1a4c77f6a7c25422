"""A run dies with its runner: SIGKILL of the runner ends every process of its run within 2 s,
and processes a dead runner left anyway are reaped by the next start of the harness."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from harness.cluster.ports import port_is_free
from harness.cluster.process import OWNER_ENV, OWNER_START_ENV, RUN_TAG_ENV
from harness.cluster.reaper import tagged_processes
from harness.cluster.wait import wait_until
from harness.paths import REPO_ROOT
from harness.record.history import load_history

DEATH_DEADLINE_S = 2.0

# A runner that starts tagged children from the main thread and from a thread that has already
# ended by the time it is killed (the case PR_SET_PDEATHSIG would get wrong).
RUNNER = """
import sys, threading, time
from pathlib import Path
from harness.cluster.process import ManagedProcess
sleep = [sys.executable, "-c", "import time; time.sleep(600)"]
def start(name):
    ManagedProcess(name, sleep, run_id=sys.argv[1], log_path=Path(sys.argv[2]) / name).start()
start("main-thread")
worker = threading.Thread(target=start, args=("short-thread",))
worker.start(); worker.join()
print("ready", flush=True)
time.sleep(600)
"""


def _gone_within(run_id: str, ports: list[int], killed_at: float) -> float:
    wait_until(lambda: not tagged_processes([run_id]) and all(port_is_free(p) for p in ports),
               timeout_s=DEATH_DEADLINE_S + 0.5, what=f"nothing of {run_id} left", interval_s=0.02)
    elapsed = time.monotonic() - killed_at
    assert elapsed <= DEATH_DEADLINE_S, f"run outlived its runner by {elapsed:.2f}s"
    return elapsed


def test_children_of_a_short_lived_thread_die_with_the_runner(tmp_path: Path) -> None:
    run_id = f"death-threads-{os.getpid()}"
    runner = subprocess.Popen([sys.executable, "-c", RUNNER, run_id, str(tmp_path)],
                              cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert runner.stdout is not None and runner.stdout.readline().strip() == "ready"
        assert len(tagged_processes([run_id])) == 2
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=5)
        _gone_within(run_id, [], time.monotonic())
    finally:
        if runner.poll() is None:
            runner.kill()


def test_sigkilled_runner_leaves_no_process_and_no_port(tmp_path: Path) -> None:
    """`kill -9` of `python -m harness run comparison` mid-window: all of it ends within 2 s."""
    env = {**os.environ, "DAPR_HARNESS_RUNS": str(tmp_path)}
    child = subprocess.Popen([sys.executable, "-m", "harness", "run", "comparison"], cwd=REPO_ROOT,
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        table_path = wait_until(lambda: next(tmp_path.glob("*/processes.json"), None),
                                timeout_s=90, what="the run's cluster up")
        history = table_path.parent / "history.jsonl"
        wait_until(lambda: load_history(history).first_event("window_start"), timeout_s=30,
                   what="the observation window open")
        table = json.loads(table_path.read_text())
        assert len(tagged_processes([table["run_id"]])) == len(table["processes"])
        child.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        child.wait(timeout=5)
        _gone_within(table["run_id"], table["ports"], killed_at)
    finally:
        if child.poll() is None:
            child.kill()


def _stale_process(run_id: str) -> psutil.Popen:
    """A tagged process whose owner is gone: what a runner killed with its watchdog leaves."""
    gone = psutil.Popen(["true"])
    gone.wait()
    env = {**os.environ, RUN_TAG_ENV: run_id, OWNER_ENV: str(gone.pid), OWNER_START_ENV: "0.00"}
    proc = psutil.Popen([sys.executable, "-c", "import time; time.sleep(600)"], env=env,
                        start_new_session=True)
    wait_until(lambda: tagged_processes([run_id]), timeout_s=5, what="the stale process tagged")
    return proc


def test_next_cli_start_reaps_a_stale_run_and_says_so() -> None:
    run_id = f"stale-cli-{os.getpid()}"
    stale = _stale_process(run_id)
    try:
        # Any command is a start; this one fails at once on its argument, after the reaping.
        done = subprocess.run([sys.executable, "-m", "harness", "run", "no-such-scenario"],
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2
        [line] = [ln for ln in done.stdout.splitlines() if run_id in ln]
        assert "whose runner is gone" in line and str(stale.pid) in line
        assert stale.wait(timeout=5) is not None
        assert tagged_processes([run_id]) == []
    finally:
        if stale.is_running():
            stale.kill()


def test_next_pytest_session_reaps_a_stale_run() -> None:
    run_id = f"stale-pytest-{os.getpid()}"
    stale = _stale_process(run_id)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
             "tests/unit/test_schedule.py"], cwd=REPO_ROOT, capture_output=True, text=True,
            timeout=120)
        assert done.returncode == 0, done.stdout[-2000:]
        assert any(run_id in ln and "whose runner is gone" in ln for ln in done.stdout.splitlines())
        assert stale.wait(timeout=5) is not None
    finally:
        if stale.is_running():
            stale.kill()
