"""What else the machine did while a run observed: its load, the CPU of processes that are not
the run's, and every other harness run that was live meanwhile.

A run's timing figures (lateness, drift, recovery) are only as good as the machine was quiet,
and the machine is shared. ``ContentionSampler`` is a small thread the runner starts when the
window opens and stops when recording ends; every ``interval_s`` it reads the 1-minute load,
the machine's busy CPU time and the CPU time of the run's own processes (this process, its
descendants and everything tagged with the run's id), so that the rest is what others used;
and it lists the other runs whose tagged processes are alive with their owner (the reaper's
tags, ``harness.cluster.reaper``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable

import psutil
from pydantic import BaseModel, ConfigDict, Field

from harness.cluster.reaper import TaggedProcess, tagged_processes

__all__ = ["CONTENDED_CORES", "Contention", "ContentionSampler", "live_runs"]

# Others' mean CPU above which a run is flagged: half a core is a quarter of this 2-core
# machine, enough to delay a sidecar's or the app's next timer by a scheduling slice.
CONTENDED_CORES = 0.5
DEFAULT_INTERVAL_S = 1.0


class Contention(BaseModel):
    """The machine during one run's window, as sampled."""

    model_config = ConfigDict(extra="ignore")

    interval_s: float
    samples: int = 0  # intervals measured
    cpus: int = 0
    load_1m_mean: float | None = None
    load_1m_max: float | None = None
    own_cpu_cores_mean: float = 0.0  # cores' worth used by the run's own processes
    own_cpu_cores_max: float = 0.0
    others_cpu_cores_mean: float = 0.0  # ... and by every other process on the machine
    others_cpu_cores_max: float = 0.0
    overlapping_runs: list[str] = Field(default_factory=list)  # other harness runs seen live

    @property
    def flag(self) -> bool:
        """Another run overlapped, or others used more than ``CONTENDED_CORES`` on average."""
        return bool(self.overlapping_runs) or self.others_cpu_cores_mean > CONTENDED_CORES

    @property
    def note(self) -> str:
        """One line a report can print beside the run."""
        parts = [f"other processes used {self.others_cpu_cores_mean:.2f} cores on average "
                 f"(max {self.others_cpu_cores_max:.2f}) of {self.cpus}"]
        if self.load_1m_max is not None:
            parts.append(f"load up to {self.load_1m_max:.1f}")
        if self.overlapping_runs:
            parts.append("overlapped " + ", ".join(self.overlapping_runs))
        return ("contended: " if self.flag else "quiet: ") + "; ".join(parts)


def _owner_alive(process: TaggedProcess) -> bool:
    return not process.orphaned


def live_runs(exclude: str | None = None,
              processes: Callable[[], Iterable[TaggedProcess]] | None = None) -> set[str]:
    """Ids of harness runs with a tagged process whose harness is still alive."""
    found = (processes or tagged_processes)()
    return {p.run_id for p in found if p.run_id != exclude and _owner_alive(p)}


def _cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def _busy_seconds() -> float:
    times = psutil.cpu_times()
    idle = times.idle + getattr(times, "iowait", 0.0)
    return sum(times) - idle - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)


class ContentionSampler:
    """Samples in a daemon thread between ``start`` and ``stop``."""

    def __init__(self, run_id: str, interval_s: float = DEFAULT_INTERVAL_S, *,
                 scan: Callable[[], Iterable[TaggedProcess]] = tagged_processes) -> None:
        self.run_id, self.interval_s, self._scan = run_id, interval_s, scan
        self._me = psutil.Process(os.getpid())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"contention-{run_id}",
                                        daemon=True)
        self._lock = threading.Lock()
        self._loads: list[float] = []
        self._own: list[float] = []
        self._others: list[float] = []
        self._runs: set[str] = set()
        self._last: tuple[float, float, float, dict[int, float]] | None = None

    # -- measuring ---------------------------------------------------------------------------

    def _own_processes(self, tagged: list[TaggedProcess]) -> list[psutil.Process]:
        mine = {p.pid for p in tagged if p.run_id == self.run_id}
        others = {p.pid for p in tagged if p.run_id != self.run_id}
        procs = {p.pid: p for p in self._me.children(recursive=True) if p.pid not in others}
        for pid in mine - set(procs):
            try:
                procs[pid] = psutil.Process(pid)
            except psutil.NoSuchProcess:
                continue
        return [self._me, *procs.values()]

    def _own_seconds(self, tagged: list[TaggedProcess]) -> tuple[float, dict[int, float]]:
        """CPU seconds of the run's processes so far, and per pid (to diff against)."""
        per_pid: dict[int, float] = {}
        for proc in self._own_processes(tagged):
            try:
                per_pid[proc.pid] = _cpu_seconds(proc)
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
        children = self._me.cpu_times()
        reaped = children.children_user + children.children_system  # own children that ended
        return reaped, per_pid

    def sample(self) -> None:
        """One measurement: the first sets the baseline, each later one adds an interval."""
        tagged = list(self._scan())
        now, busy = time.monotonic(), _busy_seconds()
        reaped, per_pid = self._own_seconds(tagged)
        with self._lock:
            self._runs |= {p.run_id for p in tagged if p.run_id != self.run_id and _owner_alive(p)}
            self._loads.append(os.getloadavg()[0])
            if self._last is not None:
                then, busy_then, reaped_then, pids_then = self._last
                wall = max(now - then, 1e-6)
                # A child that ended since: its whole life is in ``reaped``, and all but its
                # last interval was counted already under its pid.
                counted = sum(s for pid, s in pids_then.items() if pid not in per_pid)
                own = max(0.0, reaped - reaped_then - counted) + sum(
                    seconds - pids_then.get(pid, 0.0) for pid, seconds in per_pid.items())
                self._own.append(max(0.0, own) / wall)
                self._others.append(max(0.0, busy - busy_then - own) / wall)
            self._last = (now, busy, reaped, per_pid)

    def _loop(self) -> None:
        self.sample()
        while not self._stop.wait(self.interval_s):
            self.sample()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> ContentionSampler:
        self._thread.start()
        return self

    def stop(self) -> Contention:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10 * self.interval_s + 5)
        self.sample()  # the last partial interval
        return self.result()

    @property
    def samples(self) -> int:
        with self._lock:
            return len(self._others)

    def result(self) -> Contention:
        with self._lock:
            own, others, loads = list(self._own), list(self._others), list(self._loads)
            runs = sorted(self._runs)

        def mean(values: list[float]) -> float:
            return round(sum(values) / len(values), 3) if values else 0.0
        return Contention(
            interval_s=self.interval_s, samples=len(others), cpus=psutil.cpu_count() or 0,
            load_1m_mean=round(sum(loads) / len(loads), 2) if loads else None,
            load_1m_max=round(max(loads), 2) if loads else None,
            own_cpu_cores_mean=mean(own), own_cpu_cores_max=round(max(own, default=0.0), 3),
            others_cpu_cores_mean=mean(others),
            others_cpu_cores_max=round(max(others, default=0.0), 3), overlapping_runs=runs)
