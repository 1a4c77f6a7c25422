"""One OS process the harness started: run in its own process group, tagged, always ended.

Every process gets the environment variables RUN_TAG_ENV (the run id), OWNER_ENV (the pid of
the harness that started it) and OWNER_START_ENV (that harness's start time, so a reused pid is
not taken for it), so `clean` can find what a crashed run left, and nothing else. Before the
first child starts, a watchdog (harness/cluster/watchdog.py) is started that ends every tagged
group of this harness the moment the harness dies, SIGKILL included.
Ending a process signals its whole group: interrupt first, then kill after a deadline.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

from harness.cluster.ports import PortReservation
from harness.cluster.watchdog import ensure_watchdog, owner_start_time

__all__ = [
    "OWNER_ENV", "OWNER_START_ENV", "RUN_TAG_ENV", "ManagedProcess", "ProcessError", "stop_all",
]

RUN_TAG_ENV = "DAPR_HARNESS_RUN"
OWNER_ENV = "DAPR_HARNESS_OWNER"
OWNER_START_ENV = "DAPR_HARNESS_OWNER_START"

# Started and not yet stopped: ended at interpreter exit if a caller's cleanup never ran.
_LIVE: set[ManagedProcess] = set()


@atexit.register
def _end_leftovers() -> None:
    stop_all(list(_LIVE), grace_s=2.0)


def stop_all(processes: Sequence[ManagedProcess], grace_s: float = 5.0) -> None:
    """Interrupt all at once, give them ``grace_s`` together, then kill what is left."""
    for proc in processes:
        if proc.alive():
            proc.signal_group(signal.SIGCONT)  # a paused process cannot act on SIGINT
            proc.signal_group(signal.SIGINT)
    deadline = time.monotonic() + grace_s
    for proc in processes:
        proc.stop(grace_s=max(0.0, deadline - time.monotonic()))


class ProcessError(RuntimeError):
    pass


class ManagedProcess:
    """A process with Run (``start``) and Cleanup (``stop``), logging to its own file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        run_id: str,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        ports: PortReservation | None = None,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.run_id = run_id
        self.log_path = log_path
        self.env = dict(env or {})
        self.cwd = cwd
        self.ports = ports
        self._popen: subprocess.Popen[bytes] | None = None
        self.started_wall: float | None = None

    @property
    def pid(self) -> int:
        if self._popen is None:
            raise ProcessError(f"{self.name} was never started")
        return self._popen.pid

    def start(self) -> None:
        if self.alive():
            raise ProcessError(f"{self.name} is already running (pid {self.pid})")
        untagged = {k: v for k, v in os.environ.items()
                    if k not in (RUN_TAG_ENV, OWNER_ENV, OWNER_START_ENV)}
        ensure_watchdog(untagged)
        env = {**untagged, **self.env, RUN_TAG_ENV: self.run_id, OWNER_ENV: str(os.getpid()),
               OWNER_START_ENV: owner_start_time(os.getpid())}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        if self.ports is not None:
            self.ports.release()
        try:
            self._popen = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=env, cwd=self.cwd, start_new_session=True,
            )
        except OSError as exc:
            raise ProcessError(f"cannot start {self.name} ({self.argv[0]}): {exc}") from exc
        finally:
            log.close()
        self.started_wall = time.time()
        _LIVE.add(self)

    def alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def exit_code(self) -> int | None:
        return None if self._popen is None else self._popen.poll()

    def signal_group(self, sig: signal.Signals) -> None:
        """Signal the process group; the process is its group leader (start_new_session)."""
        if self._popen is None:
            return
        try:
            os.killpg(self._popen.pid, sig)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL the group now and reap the leader (a fault, not a clean stop)."""
        self.signal_group(signal.SIGKILL)
        self._wait(5.0)
        self._kill_group_leftovers()
        _LIVE.discard(self)

    def pause(self) -> None:
        self.signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        self.signal_group(signal.SIGCONT)

    def stop(self, grace_s: float = 5.0) -> None:
        """Interrupt, wait up to ``grace_s``, then kill; also kills group members left behind."""
        if self._popen is None:
            return
        if self.alive():
            self.signal_group(signal.SIGCONT)  # a paused process cannot act on SIGINT
            self.signal_group(signal.SIGINT)
            if not self._wait(grace_s):
                self.signal_group(signal.SIGKILL)
                self._wait(5.0)
        self._kill_group_leftovers()
        _LIVE.discard(self)

    def _wait(self, timeout: float) -> bool:
        assert self._popen is not None
        try:
            self._popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def _kill_group_leftovers(self) -> None:
        """Children that outlived the leader still carry its pgid; end them too."""
        assert self._popen is not None
        pgid = self._popen.pid
        leftovers = []
        for proc in psutil.process_iter(["pid"]):
            try:
                if os.getpgid(proc.pid) == pgid:
                    leftovers.append(proc)
            except (ProcessLookupError, PermissionError):
                continue
        for proc in leftovers:
            proc.kill()
        psutil.wait_procs(leftovers, timeout=5)

    def __repr__(self) -> str:
        state = "running" if self.alive() else f"exited {self.exit_code()}"
        pid = self._popen.pid if self._popen else None
        return f"<ManagedProcess {self.name} pid={pid} {state}>"
