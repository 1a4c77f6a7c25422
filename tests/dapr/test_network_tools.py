"""The network tools on real sockets (no Dapr): an nftables member cut drops exactly what one
member's processes send another's ports, on connections either side opened; a Toxiproxy proxy
disabled refuses, a latency toxic delays, a blackhole holds, a reset_peer resets."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cluster.netcut import KernelTable, RunGroups, run_tables
from harness.cluster.ports import PortReservation
from harness.cluster.process import ManagedProcess
from harness.cluster.toxiproxy import LinkProxies
from harness.cluster.wait import wait_until
from harness.cluster.watchdog import owner_start_time
from harness.record.rundir import RunDir, new_run_dir

ECHO = """
import socket, sys, threading
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1]))); srv.listen()
def serve(conn):
    while data := conn.recv(64):
        conn.sendall(data)
while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""
DIAL = """
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1.0)
    s.sendall(b"ping"); print(s.recv(4).decode() or "closed")
except OSError as exc:
    print(type(exc).__name__)
"""


@pytest.fixture
def run(tmp_path: Path) -> RunDir:
    return new_run_dir("network-tools", base=tmp_path)


def _echo(run: RunDir, name: str, gid: int | None = None) -> tuple[ManagedProcess, int]:
    ports = PortReservation(1)
    port = ports.ports[0]
    process = ManagedProcess(name, [sys.executable, "-c", ECHO, str(port)], run_id=run.run_id,
                             log_path=run.log(name), ports=ports, group=gid)
    process.start()
    wait_until(lambda: _dial(port) == "ping", timeout_s=10, what=f"{name} echoing")
    return process, port


def _dial(port: int, gid: int | None = None) -> str:
    done = subprocess.run([sys.executable, "-c", DIAL, str(port)], capture_output=True, text=True,
                          group=gid, timeout=10, check=False)
    return done.stdout.strip()


@pytest.fixture
def members(run: RunDir) -> Iterator[tuple[KernelTable, list[int], list[int]]]:
    """Two "members": echo servers under group ids of their own, and their run's table."""
    gids = [RunGroups(run.run_id).member(i) for i in range(2)]
    servers = [_echo(run, f"member-{i}", gid) for i, gid in enumerate(gids)]
    ports = [port for _, port in servers]
    cuts = KernelTable(run.run_id, gids, [[p] for p in ports], 1, owner_start_time(1))
    cuts.install()
    try:
        yield cuts, gids, ports
    finally:
        cuts.remove()
        for process, _ in servers:
            process.stop(grace_s=1)


def test_a_one_way_cut_drops_what_one_member_sends_on_both_kinds_of_connection(
        members: tuple[KernelTable, list[int], list[int]]) -> None:
    cuts, (g0, g1), (p0, p1) = members
    assert _dial(p1, g0) == "ping" and _dial(p0, g1) == "ping"
    cuts.cut({(0, 1)})  # member 0 sends member 1 nothing
    assert _dial(p1, g0) == "TimeoutError"  # 0 opened it: its ping is dropped
    assert _dial(p0, g1) == "TimeoutError"  # 1 opened it: 0's answer is dropped
    assert _dial(p1) == "ping" and _dial(p0) == "ping"  # anyone else is untouched
    cuts.heal({(0, 1)})
    assert _dial(p1, g0) == "ping" and _dial(p0, g1) == "ping"


def test_the_table_is_named_for_its_run_and_gone_when_removed(
        run: RunDir, members: tuple[KernelTable, list[int], list[int]]) -> None:
    cuts, _, _ = members
    assert [t.name for t in run_tables([run.run_id])] == [cuts.name]
    cuts.remove()
    assert run_tables([run.run_id]) == []


@pytest.fixture
def proxy(run: RunDir) -> Iterator[tuple[LinkProxies, int]]:
    echo, port = _echo(run, "upstream")
    proxies = LinkProxies(run, ["app"])
    listen = proxies.route("replica-0", "app", "app", f"127.0.0.1:{port}")
    proxies.start()
    try:
        yield proxies, int(listen.rsplit(":", 1)[1])
    finally:
        proxies.stop()
        echo.stop(grace_s=1)


def test_a_proxy_disabled_refuses_and_toxics_delay_hold_and_reset(
        proxy: tuple[LinkProxies, int]) -> None:
    proxies, port = proxy
    chosen = proxies.select("app")
    assert _dial(port) == "ping"
    proxies.set_enabled(chosen, False)
    assert _dial(port) == "ConnectionRefusedError"
    proxies.set_enabled(chosen, True)
    proxies.add_toxic(chosen, "slow", "latency", {"latency": 300, "jitter": 0})
    started = time.monotonic()
    assert _dial(port) == "ping"
    assert time.monotonic() - started >= 0.6  # 300 ms each way
    proxies.remove_toxic(chosen, "slow")
    proxies.add_toxic(chosen, "hole", "timeout", {"timeout": 0})
    assert _dial(port) == "TimeoutError"  # accepted, never answered
    proxies.remove_toxic(chosen, "hole")
    proxies.add_toxic(chosen, "reset", "reset_peer", {"timeout": 0})
    assert _dial(port) in {"ConnectionResetError", "closed"}
    proxies.remove_toxic(chosen, "reset")
    assert _dial(port) == "ping"
