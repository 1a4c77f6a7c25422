"""The run's own nftables table: Scheduler members cut apart, and each daprd's connections to
the Scheduler steered through its own proxy.

**Member cuts.** Scheduler members talk to each other over their embedded etcd's peer and
client ports, and every member must see the same peer URLs, so no proxy can stand between two
of them. All of it is on 127.0.0.1, where ports alone cannot say which member sent a packet
(the dialing side uses an ephemeral port). So each member runs under a group id of its own
(``RunGroups``), the table marks every connection with the group of the member that opened
it, and a cut of "a sends nothing to b" drops what a's sockets send on

- connections a opened to one of b's ports (``meta skgid a``, ``tcp dport`` in b's ports), and
- connections b opened to one of a's ports (``meta skgid a``, ``ct mark b``, ``tcp sport`` in
  a's ports).

A two-way cut is both directions.

**Redirects.** A 1.18 daprd asks one of its ``--scheduler-host-address`` for the members'
addresses (WatchHosts) and then dials the addresses the members broadcast, the same for every
daprd, so no per-client address exists to put a proxy on. Each daprd therefore runs under a
group id of its own too, and the table's nat chain redirects what that group sends to a
member's port to the port of that daprd's own proxy to that member (toxiproxy.py), whose
upstream is the member.

Every rule names the run's own ports, so nothing else on the machine is touched. The table is
made before the members and sidecars start (so that every connection is marked or steered) and
removed when the cluster stops. Its name carries the run id and the harness process that made
it (pid and start time), so the watchdog removes it the moment that process dies, and
``clean`` or the next start of the harness removes a table whose owner is gone
(``reap_tables``). Each table also leaves a marker file under ``MARKS`` while it exists, so that
a start of the harness finds candidates without running ``nft`` at all.

Standard library only (and the ``nft`` command, Debian's ``nftables``): the watchdog imports it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FAMILY", "MARKS", "TABLE_PREFIX", "KernelTable", "NftError", "RunGroups", "RunTable",
           "cut_rules", "marked_tables", "nft", "pairs_between", "reap_tables", "redirect_rule",
           "remove_tables", "run_tables", "table_name"]

FAMILY = "inet"
TABLE_PREFIX = "dapr-harness"
_GID_BASE = 0x60000000  # far above any group a system assigns
_GID_SLOTS = 1_000_000  # runs: each gets a block of consecutive group ids
_MEMBER_GIDS, _BLOCK = 8, 64  # members first, then replicas
_CHAIN, _CUTS, _NAT = "output", "cuts", "redirects"
# One empty file per table of ours that exists (tables vanish at reboot, and so does /tmp's
# content on most machines; a stale marker costs one `nft` call).
MARKS = Path(tempfile.gettempdir()) / "dapr-harness-nft"


class NftError(RuntimeError):
    pass


def nft(commands: list[dict[str, object]] | None = None, *args: str) -> dict[str, object]:
    """Run ``nft -j``: a JSON batch on stdin (one transaction) or a listing command."""
    binary = shutil.which("nft")
    if binary is None:
        raise NftError("nft is not installed (Debian package nftables; `python3 -m harness "
                       "setup` installs it)")
    payload = json.dumps({"nftables": commands}) if commands is not None else None
    argv = [binary, "-j", *(["-f", "-"] if payload is not None else args)]
    proc = subprocess.run(argv, input=payload, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise NftError(f"`{' '.join(argv)}` failed: {proc.stderr.strip()[:500]}")
    return json.loads(proc.stdout) if proc.stdout.strip() else {}


def table_name(run_id: str, owner: int, owner_start: str) -> str:
    return f"{TABLE_PREFIX}.{owner}.{owner_start.replace('.', '_')}.{run_id}"


@dataclass(frozen=True)
class RunTable:
    name: str
    run_id: str
    owner: int
    owner_start: str

    @classmethod
    def parse(cls, name: str) -> RunTable | None:
        parts = name.split(".", 3)
        if len(parts) != 4 or parts[0] != TABLE_PREFIX or not parts[1].isdigit():
            return None
        return cls(name, parts[3], int(parts[1]), parts[2].replace("_", "."))


def run_tables(run_ids: Iterable[str] | None = None) -> list[RunTable]:
    """The harness's tables (of the given runs); none when nft is not installed."""
    if shutil.which("nft") is None:
        return []
    wanted = set(run_ids) if run_ids is not None else None
    listing = nft(None, "list", "tables", FAMILY)
    found = []
    for item in listing.get("nftables", []):  # type: ignore[union-attr]
        table = RunTable.parse(item.get("table", {}).get("name", "")) if isinstance(item, dict) else None
        if table is not None and (wanted is None or table.run_id in wanted):
            found.append(table)
    return found


def marked_tables() -> list[RunTable]:
    """The tables our markers say exist (no `nft` call)."""
    names = [p.name for p in MARKS.iterdir()] if MARKS.is_dir() else []
    return [t for t in map(RunTable.parse, names) if t is not None]


def remove_tables(tables: Sequence[RunTable]) -> None:
    for table in tables:
        try:
            nft([{"delete": {"table": {"family": FAMILY, "name": table.name}}}])
        except NftError:
            pass  # removed meanwhile by another cleaner, or never made
        (MARKS / table.name).unlink(missing_ok=True)


def reap_tables(orphaned: Callable[[RunTable], bool], run_ids: Iterable[str] | None = None,
                *, listed: bool = False) -> list[RunTable]:
    """Remove the tables of the given runs, or (none given) those ``orphaned`` says are.
    Candidates come from the kernel's own listing when runs are named or ``listed``, else
    from the markers (so that a start of the harness runs no `nft` when there is none)."""
    run_ids = list(run_ids) if run_ids is not None else None
    candidates = run_tables(run_ids) if run_ids is not None or listed else marked_tables()
    victims = [t for t in candidates if run_ids is not None or orphaned(t)]
    remove_tables(victims)
    return victims


@dataclass(frozen=True)
class RunGroups:
    """The run's block of group ids, distinct from other runs' (a hash of the run id picks it):
    Scheduler members first, then replicas' sidecars."""

    run_id: str

    @property
    def base(self) -> int:
        slot = int(hashlib.sha256(self.run_id.encode()).hexdigest(), 16) % _GID_SLOTS
        return _GID_BASE + slot * _BLOCK

    def member(self, index: int) -> int:
        if not 0 <= index < _MEMBER_GIDS:
            raise ValueError(f"member {index}: at most {_MEMBER_GIDS} members have a group id")
        return self.base + index

    def replica(self, index: int) -> int:
        if not 0 <= index < _BLOCK - _MEMBER_GIDS:
            raise ValueError(f"replica {index}: at most {_BLOCK - _MEMBER_GIDS} replicas have a "
                             "group id")
        return self.base + _MEMBER_GIDS + index


def _match(left: dict[str, object], right: object) -> dict[str, object]:
    return {"match": {"op": "==", "left": left, "right": right}}


def _ports(ports: Sequence[int]) -> dict[str, object]:
    return {"set": sorted(ports)}


def cut_rules(sender_gid: int, sender_ports: Sequence[int], receiver_gid: int,
              receiver_ports: Sequence[int]) -> list[list[dict[str, object]]]:
    """The two rules that drop what one member sends another (see the module's docstring)."""
    skgid = _match({"meta": {"key": "skgid"}}, sender_gid)
    return [
        [skgid, _match({"payload": {"protocol": "tcp", "field": "dport"}}, _ports(receiver_ports)),
         {"drop": None}],
        [skgid, _match({"ct": {"key": "mark"}}, receiver_gid),
         _match({"payload": {"protocol": "tcp", "field": "sport"}}, _ports(sender_ports)),
         {"drop": None}],
    ]


def redirect_rule(gid: int, port: int, to_port: int) -> list[dict[str, object]]:
    """What a daprd (its group) sends to a member's port goes to its own proxy's port."""
    return [_match({"meta": {"key": "skgid"}}, gid),
            _match({"payload": {"protocol": "tcp", "field": "dport"}}, port),
            {"redirect": {"port": to_port}}]


class KernelTable:
    """The run's table: connections marked by the member that opened them, the member cuts in
    force (directed member pairs; overlapping faults each hold theirs), and the redirects of
    daprd's Scheduler connections to their proxies."""

    def __init__(self, run_id: str, gids: Sequence[int], ports: Sequence[Sequence[int]],
                 owner: int, owner_start: str) -> None:
        if len(gids) != len(ports):
            raise ValueError("one group id and one port list per member")
        self.gids, self.ports = list(gids), [list(p) for p in ports]
        self.name = table_name(run_id, owner, owner_start)
        self._active: Counter[tuple[int, int]] = Counter()
        self._redirects: list[list[dict[str, object]]] = []
        self.installed = False

    def redirect(self, gid: int, port: int, to_port: int) -> None:
        """Steer what group ``gid`` sends to ``port`` to ``to_port`` (at once if installed)."""
        rule = redirect_rule(gid, port, to_port)
        self._redirects.append(rule)
        if self.installed:
            nft([self._add(_NAT, rule)])

    def _add(self, chain: str, expr: list[dict[str, object]]) -> dict[str, object]:
        return {"add": {"rule": {**self._table(), "chain": chain, "expr": expr}}}

    def _table(self) -> dict[str, str]:
        return {"family": FAMILY, "table": self.name}

    def install(self) -> None:
        """The table: its marking rules, the (empty) chain of cuts, the redirects so far."""
        mark = [[_match({"ct": {"key": "state"}}, "new"),
                 _match({"meta": {"key": "skgid"}}, gid),
                 {"mangle": {"key": {"ct": {"key": "mark"}}, "value": gid}}] for gid in self.gids]
        chain = {**self._table(), "name": _CHAIN, "type": "filter", "hook": "output",
                 "prio": 0, "policy": "accept"}
        nat = {**self._table(), "name": _NAT, "type": "nat", "hook": "output", "prio": -100,
               "policy": "accept"}
        commands: list[dict[str, object]] = [
            {"add": {"table": {"family": FAMILY, "name": self.name}}},
            {"add": {"chain": chain}},
            {"add": {"chain": nat}},
            {"add": {"chain": {**self._table(), "name": _CUTS}}},
            *(self._add(_CHAIN, expr) for expr in mark),
            self._add(_CHAIN, [{"jump": {"target": _CUTS}}]),
            *(self._add(_NAT, rule) for rule in self._redirects),
        ]
        MARKS.mkdir(parents=True, exist_ok=True)
        (MARKS / self.name).touch()  # before the table: a crash in between leaves no table unmarked
        nft(commands)
        self.installed = True

    def cut(self, pairs: Iterable[tuple[int, int]]) -> None:
        """Drop what member a sends member b, for each (a, b)."""
        self._active.update(set(pairs))
        self._apply()

    def heal(self, pairs: Iterable[tuple[int, int]]) -> None:
        self._active.subtract(set(pairs))
        self._active = +self._active  # drop pairs no fault holds any more
        self._apply()

    @property
    def active(self) -> frozenset[tuple[int, int]]:
        return frozenset(self._active)

    def _apply(self) -> None:
        """The chain of cuts replaced in one transaction: the pairs in force, nothing else."""
        commands: list[dict[str, object]] = [{"flush": {"chain": {**self._table(), "name": _CUTS}}}]
        for a, b in sorted(self._active):
            for expr in cut_rules(self.gids[a], self.ports[a], self.gids[b], self.ports[b]):
                commands.append(self._add(_CUTS, expr))
        nft(commands)

    def remove(self) -> None:
        if self.installed or (MARKS / self.name).exists():
            remove_tables([RunTable(self.name, "", 0, "")])
            self.installed = False


def pairs_between(sides: Sequence[Iterable[int]], one_way: bool = False) -> set[tuple[int, int]]:
    """Directed pairs cut between sides of members: each way between every two sides, or
    only from the first side to the second when ``one_way``."""
    groups = [list(side) for side in sides]
    return {(a, b) for i, left in enumerate(groups) for j, right in enumerate(groups)
            if i != j and (not one_way or (i, j) == (0, 1)) for a in left for b in right}

