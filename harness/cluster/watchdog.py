"""A run dies with its runner: a tiny process that ends what the runner started once it is gone.

The first ManagedProcess a harness process starts also starts one watchdog for that harness
process (the "owner"). The watchdog waits on a pidfd of the owner, so it wakes the moment the
owner exits, however it exits (SIGKILL, OOM kill, closed terminal, normal exit), and then ends the
process group of every process tagged with that owner (Toxiproxy servers included): SIGTERM,
then SIGKILL after a short grace, all within ``GRACE_S`` + a scan; and removes every nftables
table the owner made (its name carries the owner: harness/cluster/netcut.py).

Why not PR_SET_PDEATHSIG on each child: Linux sends it when the *thread* that forked the child
exits, and the nemesis restarts processes from short-lived threads, which would kill the
restarted process as soon as its thread ends. The pidfd is tied to the owner process itself.

Run as ``python -m harness.cluster.watchdog OWNER_PID OWNER_START``; it imports only the
standard library, psutil, ``harness.paths`` and ``harness.cluster.netcut`` (standard library
only), and carries no run tag itself (the reaper must never count it).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from collections.abc import Sequence

import psutil

from harness.cluster.netcut import NftError, reap_tables
from harness.paths import REPO_ROOT

# The tags every process the harness starts carries (set by harness/cluster/process.py): the run,
# the harness process that started it, and that process's start time (a reused pid is no owner).
RUN_TAG_ENV = "DAPR_HARNESS_RUN"
OWNER_ENV = "DAPR_HARNESS_OWNER"
OWNER_START_ENV = "DAPR_HARNESS_OWNER_START"

__all__ = ["GRACE_S", "OWNER_ENV", "OWNER_START_ENV", "RUN_TAG_ENV", "end_groups", "ensure_watchdog",
           "owner_start_time", "watch"]

GRACE_S = 0.5  # the runner is gone: a short grace, then SIGKILL, all well inside 2 s
_STARTED_FOR: set[int] = set()  # owner pids a watchdog was started for (a fork gets its own)


def owner_start_time(pid: int) -> str:
    """The owner's start time as written into its children's environment: pid plus start
    time identify a process even after its pid is reused."""
    return f"{psutil.Process(pid).create_time():.2f}"


def ensure_watchdog(env_without_tags: dict[str, str]) -> None:
    """Start this process's watchdog once (idempotent; called before each child starts)."""
    owner = os.getpid()
    if owner in _STARTED_FOR:
        return
    argv = [sys.executable, "-m", "harness.cluster.watchdog", str(owner), owner_start_time(owner)]
    # Its own session: a Ctrl-C to the terminal's foreground group must not end the watchdog
    # before the runner's own cleanup has had its chance.
    subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, env=env_without_tags, start_new_session=True,
                     cwd=REPO_ROOT)  # so `-m` imports this checkout's harness
    _STARTED_FOR.add(owner)


def _owned_groups(owner: int, start: str, owner_env: str, start_env: str) -> list[int]:
    """Process groups of processes whose environment names this owner (pid and start time)."""
    groups = set()
    for proc in psutil.process_iter(["pid"]):
        try:
            env = proc.environ()
            if env.get(owner_env) == str(owner) and env.get(start_env, start) == start:
                groups.add(os.getpgid(proc.pid))
        except (psutil.Error, ProcessLookupError, PermissionError):
            continue
    return sorted(groups - {os.getpgid(0)})


def end_groups(groups: Sequence[int], grace_s: float = GRACE_S) -> None:
    """SIGCONT + SIGTERM each group, then SIGKILL whatever is left after ``grace_s``."""
    for group in groups:
        for sig in (signal.SIGCONT, signal.SIGTERM):
            try:
                os.killpg(group, sig)
            except (ProcessLookupError, PermissionError):
                break
    leaders = []
    for group in groups:
        try:
            leaders.append(psutil.Process(group))
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(leaders, timeout=grace_s)
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            continue


def _alive(owner: int, start: str) -> bool:
    try:
        return owner_start_time(owner) == start
    except psutil.NoSuchProcess:
        return False


def _wait_for_exit(owner: int, start: str, poll_s: float = 0.1) -> None:
    """Block until the owner is gone: on its pidfd (woken at once), or by polling where the
    kernel has no pidfd_open (Linux < 5.3)."""
    try:
        pidfd = os.pidfd_open(owner)
    except ProcessLookupError:
        return
    except (AttributeError, OSError):
        while _alive(owner, start):
            select.select([], [], [], poll_s)
        return
    if _alive(owner, start):  # the pidfd is of the owner, not of a process reusing its pid
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        poller.poll()  # readable when the owner has exited


def watch(owner: int, start: str) -> int:
    _wait_for_exit(owner, start)
    end_groups(_owned_groups(owner, start, OWNER_ENV, OWNER_START_ENV))
    try:
        reap_tables(lambda table: table.owner == owner and table.owner_start == start)
    except NftError:
        pass  # no nft here, so no table either
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only the owner's death ends the watch
    sys.exit(watch(int(sys.argv[1]), sys.argv[2]))
