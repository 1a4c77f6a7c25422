"""Find and end what a crashed run left behind, by the run tag every harness process carries.

Only processes whose environment has RUN_TAG_ENV are candidates, and only those whose owner (the
harness that started them) is gone, or that belong to the run ids asked for. Nothing is matched
by name.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

from harness.cluster.process import OWNER_ENV, RUN_TAG_ENV

__all__ = ["TaggedProcess", "reap", "tagged_processes"]


@dataclass(frozen=True)
class TaggedProcess:
    pid: int
    run_id: str
    owner: int | None
    cmdline: str

    @property
    def orphaned(self) -> bool:
        return self.owner is None or not psutil.pid_exists(self.owner)


def tagged_processes(run_ids: Iterable[str] | None = None) -> list[TaggedProcess]:
    wanted = set(run_ids) if run_ids is not None else None
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            env = proc.environ()
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        run_id = env.get(RUN_TAG_ENV)
        if run_id is None or (wanted is not None and run_id not in wanted):
            continue
        owner = env.get(OWNER_ENV)
        found.append(TaggedProcess(proc.pid, run_id, int(owner) if owner and owner.isdigit() else None,
                                   " ".join(proc.info["cmdline"] or [])[:200]))
    return found


def reap(run_ids: Iterable[str] | None = None, grace_s: float = 3.0) -> list[TaggedProcess]:
    """End orphaned tagged processes (or all of the given runs): interrupt, then kill."""
    run_ids = list(run_ids) if run_ids is not None else None
    victims = [p for p in tagged_processes(run_ids) if run_ids is not None or p.orphaned]
    victims = [p for p in victims if p.pid != os.getpid()]
    procs = []
    for victim in victims:
        try:
            proc = psutil.Process(victim.pid)
            proc.send_signal(signal.SIGCONT)
            proc.send_signal(signal.SIGINT)
            procs.append(proc)
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)
    return victims
