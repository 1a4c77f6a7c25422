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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import psutil

from harness.errors import HarnessError
from harness.cluster.ports import PortReservation
from harness.cluster.watchdog import (
    OWNER_ENV,
    OWNER_START_ENV,
    RUN_TAG_ENV,
    ensure_watchdog,
    owner_start_time,
)

__all__ = [
    "OWNER_ENV", "OWNER_START_ENV", "RUN_TAG_ENV", "AdoptedProcess", "CliProcess",
    "ManagedProcess", "ProcessError", "stop_all",
]


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


class ProcessError(HarnessError, RuntimeError):
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
        self.log_offset = 0  # size of the log when the process last started

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
        self.log_offset = log.tell()
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


def _own_group(proc: psutil.Process) -> bool:
    try:
        return os.getpgid(proc.pid) == proc.pid
    except ProcessLookupError:
        return False


def _signal_child(proc: psutil.Process, sig: signal.Signals) -> None:
    """Its whole group if it leads one (`dapr run` gives daprd and the app their own), else it."""
    try:
        if _own_group(proc):
            os.killpg(proc.pid, sig)
        elif proc.is_running():
            proc.send_signal(sig)
    except (ProcessLookupError, psutil.NoSuchProcess):
        pass


class CliProcess(ManagedProcess):
    """A launcher process (`dapr run`) whose children move to process groups of their own.

    The dapr CLI starts daprd and the app with Setpgid (dapr/cli cmd/run_unix.go,
    pkg/standalone/process_group_unix.go), so signalling the CLI's group does not reach them. Every
    descendant seen is remembered (with its start time, so a reused pid is never hit) and ended
    with the CLI, also when the CLI itself was killed and they were left orphaned."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._seen: dict[int, psutil.Process] = {}

    def children(self) -> list[psutil.Process]:
        """The CLI's live descendants now (remembered for the cleanup)."""
        if self.alive():
            try:
                for child in psutil.Process(self.pid).children(recursive=True):
                    self._seen.setdefault(child.pid, child)
            except psutil.NoSuchProcess:
                pass
        return [p for p in self._seen.values() if p.is_running()]

    def signal_group(self, sig: signal.Signals) -> None:
        super().signal_group(sig)
        if sig == signal.SIGCONT:  # a paused child cannot act on the CLI's SIGTERM
            for child in self.children():
                _signal_child(child, sig)

    def kill(self) -> None:
        self.children()
        super().kill()
        self._end_children()

    def stop(self, grace_s: float = 5.0) -> None:
        self.children()
        super().stop(grace_s)
        self._end_children()

    def _end_children(self) -> None:
        left = [p for p in self._seen.values() if p.is_running()]
        for child in left:
            _signal_child(child, signal.SIGCONT)
            _signal_child(child, signal.SIGKILL)
        psutil.wait_procs(left, timeout=5)
        self._seen.clear()


class AdoptedProcess:
    """daprd or the app as started by a `dapr run` launcher: found among the CLI's descendants.

    It has the ManagedProcess calls the control plane and the nemesis use (pid, alive, kill,
    pause, resume, stop, start); faults hit the real process. Stopping or starting it goes
    through the launcher, as it would for a user: `dapr run` ends the replica's other process
    when one exits, and a new `dapr run` starts both."""

    def __init__(self, name: str, owner: CliProcess, match: Callable[[list[str]], bool],
                 restart: Callable[[], None] | None = None,
                 find_timeout_s: float = 30.0) -> None:
        self.name = name
        self.owner = owner
        self.match = match
        self.restart = restart
        self.find_timeout_s = find_timeout_s
        self.ports: PortReservation | None = None
        self._proc: psutil.Process | None = None

    @property
    def log_path(self) -> Path:
        return self.owner.log_path

    @property
    def log_offset(self) -> int:
        return self.owner.log_offset

    def _find(self) -> psutil.Process | None:
        if self._proc is not None and self._proc.is_running():
            return self._proc
        for child in self.owner.children():
            try:
                if self.match(child.cmdline()):
                    self._proc = child
                    return child
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
        return None

    def process(self) -> psutil.Process:
        """The adopted process, waiting (up to find_timeout_s) for the launcher to start it."""
        deadline = time.monotonic() + self.find_timeout_s
        while (proc := self._find()) is None:
            if not self.owner.alive() or time.monotonic() > deadline:
                raise ProcessError(f"{self.name}: not found among the children of "
                                   f"{self.owner.name}; see {self.owner.log_path}")
            time.sleep(0.1)
        return proc

    @property
    def pid(self) -> int:
        return self.process().pid

    def alive(self) -> bool:
        """Running, or still to be started by a launcher that is running."""
        proc = self._find()
        if proc is None:
            return self._proc is None and self.owner.alive()
        return proc.status() != psutil.STATUS_ZOMBIE

    def exit_code(self) -> int | None:
        return None

    def signal_group(self, sig: signal.Signals) -> None:
        if (proc := self._find()) is not None:
            _signal_child(proc, sig)

    def kill(self) -> None:
        proc = self.process()
        _signal_child(proc, signal.SIGKILL)
        psutil.wait_procs([proc], timeout=5)

    def pause(self) -> None:
        self.signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        self.signal_group(signal.SIGCONT)

    def stop(self, grace_s: float = 5.0) -> None:
        """Ends the launcher (which ends this process and its sibling, as `dapr run` does)."""
        self.owner.stop(grace_s)

    def forget(self) -> None:
        """The launcher starts a new one: look for it among its children again."""
        self._proc = None

    def start(self) -> None:
        """Start the launcher again (a new `dapr run` starts daprd and the app)."""
        if self.restart is None:
            raise ProcessError(f"{self.name}: its launcher cannot restart one replica")
        self.restart()

    def __repr__(self) -> str:
        return f"<AdoptedProcess {self.name} of {self.owner.name} pid={getattr(self._proc, 'pid', None)}>"
