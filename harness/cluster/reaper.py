"""Find and end what a crashed run left behind, by the run tag every harness process carries.

Only processes whose environment has RUN_TAG_ENV are candidates, and only those whose owner (the
harness that started them) is gone, or that belong to the run ids asked for. Nothing is matched
by name. The same goes for the nftables tables of runs (harness/cluster/netcut.py: the table's
name carries its run and owner). An owner counts as gone when no process has its pid, or the one that has it started at
another time (the pid was reused). Every start of the harness (the CLI, a run, a pytest
session) calls ``reap_orphans``, so a run whose runner and watchdog were both killed is cleaned
up by the next start at the latest.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import psutil

from harness.cluster.netcut import RunTable, reap_tables
from harness.cluster.process import OWNER_ENV, OWNER_START_ENV, RUN_TAG_ENV
from harness.cluster.watchdog import owner_start_time

__all__ = ["TaggedProcess", "owner_gone", "reap", "reap_orphans", "reap_run_tables",
           "tagged_processes"]


def owner_gone(owner: int | None, owner_start: str | None) -> bool:
    """No process has the owner's pid, or the one that has it started at another time."""
    if owner is None:
        return True
    try:
        started = owner_start_time(owner)
    except psutil.NoSuchProcess:
        return True
    return owner_start is not None and started != owner_start


@dataclass(frozen=True)
class TaggedProcess:
    pid: int
    run_id: str
    owner: int | None
    cmdline: str
    owner_start: str | None = None

    @property
    def orphaned(self) -> bool:
        return owner_gone(self.owner, self.owner_start)


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
                                   " ".join(proc.info["cmdline"] or [])[:200],
                                   env.get(OWNER_START_ENV)))
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


def reap_run_tables(run_ids: Iterable[str] | None = None, *, listed: bool = False) -> list[RunTable]:
    """Remove the nftables tables of the given runs, or of runs whose owner is gone (found
    from the kernel's listing when ``listed``, else from the tables' markers)."""
    return reap_tables(lambda t: owner_gone(t.owner, t.owner_start), run_ids, listed=listed)


def reap_orphans(say: Callable[[str], None]) -> list[TaggedProcess]:
    """End what runs whose runner is gone left running, and remove their nftables tables;
    say so in one line if anything was."""
    ended = reap()
    if ended:
        runs = sorted({p.run_id for p in ended})
        pids = ", ".join(str(p.pid) for p in ended)
        say(f"ended {len(ended)} process(es) left by {len(runs)} run(s) whose runner is gone: "
            f"{', '.join(runs)} (pids {pids})")
    tables = reap_run_tables()
    if tables:
        say(f"removed {len(tables)} nftables table(s) left by run(s) whose runner is gone: "
            + ", ".join(t.name for t in tables))
    return ended
