"""Which side limits a figure: CPU each process used during a measured interval (psutil).

A figure measured on one machine is bounded by whichever side runs out first: the load
generator, daprd, the scheduler, the app, or the machine's cores (shared with other work).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psutil

__all__ = ["CpuSampler", "limiting_side"]

SATURATED = 0.9  # a side at >= 90% of what it can use is taken as the limit
KEPT_UP = 0.97  # accepted >= 97% of the offered rate: the offer, not the system, set the figure


def _cpu_s(proc: psutil.Process) -> float | None:
    try:
        t = proc.cpu_times()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return t.user + t.system + t.children_user + t.children_system


@dataclass
class CpuSampler:
    """CPU seconds per process kind between ``start`` and ``stop``, as % of one core.

    ``pids`` maps a process kind (``daprd``, ``scheduler``, ``app``, ``loadgen`` ...) to the pids
    of that kind; a kind's figure is the sum over its processes. ``extra`` adds CPU seconds a
    process reported itself (a load generator that has exited before ``stop``).
    """

    pids: Mapping[str, list[int]]
    _procs: dict[str, list[psutil.Process]] = field(default_factory=dict)
    _before: dict[str, float] = field(default_factory=dict)
    _wall: float = 0.0
    _machine: Any = None  # psutil.cpu_times() at start

    def start(self) -> CpuSampler:
        self._procs = {kind: [psutil.Process(p) for p in pids] for kind, pids in self.pids.items()}
        self._before = {kind: self._sum(kind) for kind in self._procs}
        self._machine = psutil.cpu_times()
        self._wall = time.monotonic()
        return self

    def _sum(self, kind: str) -> float:
        return sum(v for p in self._procs[kind] if (v := _cpu_s(p)) is not None)

    def stop(self, extra: Mapping[str, float] | None = None) -> dict[str, float]:
        """{kind: % of one core} plus ``machine_busy_pct`` (all cores, 100 = every core busy)."""
        wall = max(time.monotonic() - self._wall, 1e-6)
        out = {kind: round((self._sum(kind) - self._before[kind]) / wall * 100, 1)
               for kind in self._procs}
        for kind, seconds in (extra or {}).items():
            out[kind] = round(out.get(kind, 0.0) + seconds / wall * 100, 1)
        before, after = self._machine, psutil.cpu_times()
        total = _total(after) - _total(before)
        busy = total - (after.idle + after.iowait - before.idle - before.iowait)
        out["machine_busy_pct"] = round(busy / total * 100, 1) if total > 0 else 0.0
        return out


def _total(times: Any) -> float:
    """All CPU time; guest time is already inside user time on Linux, so it is left out."""
    return sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)


def limiting_side(cpu: Mapping[str, float], cores: int, *, offered: float | None = None,
                  achieved: float | None = None) -> str:
    """Name what bounds a figure, from a CpuSampler reading.

    The offered rate when the figure reached it (the system kept up: not a ceiling); else the
    machine when its cores are >= 90% busy (whoever uses them: ours or other work); otherwise
    the busiest kind of process; "none (idle: latency-bound)" when nothing is busy.
    """
    if offered and achieved is not None and achieved >= KEPT_UP * offered:
        return f"the offered rate ({offered:g}/s; kept up, so not a ceiling)"
    machine = cpu.get("machine_busy_pct", 0.0)
    kinds = {k: v for k, v in cpu.items() if k != "machine_busy_pct"}
    busiest = max(kinds, key=lambda k: kinds[k]) if kinds else None
    ours = sum(kinds.values()) / cores
    if machine >= SATURATED * 100:
        others = max(0.0, machine - ours)
        lead = f", busiest {busiest} {kinds[busiest]:g}%" if busiest else ""
        return f"machine CPU ({machine:g}% of {cores} cores; other work {others:.0f}%{lead})"
    if busiest is None or kinds[busiest] < 0.5 * 100:
        return "none (idle: latency-bound)"
    return f"{busiest} ({kinds[busiest]:g}% of a core)"
