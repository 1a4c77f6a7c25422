"""The run's own Redis: Debian's real redis-server on a free loopback port, one per run.

Mechanisms that need a store (actor reminders and workflows: actor state; binding-claim: a
first-write-wins key; binding-lock: lock.redis) get this server. It is a ManagedProcess like
every other (own process group, run tag), with its own data dir under the run, and it is
ready when it answers PING. It keeps an append-only file, so a restart (the ``restart_redis``
fault) comes back with the keys it had acknowledged.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

from harness.errors import UserError
from harness.cluster.health import LOOPBACK, exited
from harness.cluster.ports import PortReservation
from harness.cluster.process import ManagedProcess
from harness.cluster.wait import wait_until
from harness.record.rundir import RunDir

__all__ = ["REDIS_PACKAGE", "RedisMissingError", "RedisService", "ping", "redis_binary",
           "redis_service"]

REDIS_PACKAGE = "redis-server"  # Debian package that setup installs
READY_TIMEOUT_S = 15.0


class RedisMissingError(UserError, RuntimeError):
    """redis-server is not installed; the message says how to get it."""


def redis_binary() -> Path:
    found = shutil.which("redis-server")
    if found is None:
        raise RedisMissingError(
            "redis-server not found on PATH; run `python3 -m harness setup` (it installs the "
            f"Debian package {REDIS_PACKAGE} with apt-get)")
    return Path(found)


def ping(port: int, timeout_s: float = 1.0) -> bool:
    """True if the server on ``port`` answers PING with PONG (RESP inline command)."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout_s) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(64).startswith(b"+PONG")


class RedisService:
    def __init__(self, process: ManagedProcess, port: int, data_dir: Path) -> None:
        self.process = process
        self.port = port
        self.data_dir = data_dir

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def start(self) -> None:
        self.process.start()

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        wait_until(lambda: ping(self.port), timeout_s=timeout_s,
                   what=f"{self.process.name} answering PING",
                   abort=lambda: exited(self.process))

    def restart(self) -> None:
        """SIGKILL and start again on the same port and data dir (the restart_redis fault)."""
        self.process.kill()
        self.process.start()
        self.wait_ready()

    def owned_ports(self) -> list[int]:
        return [self.port]


def redis_service(run: RunDir) -> RedisService:
    ports = PortReservation(1)
    (port,) = ports.ports
    data_dir = run.root / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        str(redis_binary()), "--bind", LOOPBACK, "--port", str(port), "--dir", str(data_dir),
        # No RDB snapshots; an append-only file fsynced every second (redis's default policy).
        "--save", "", "--appendonly", "yes", "--daemonize", "no",
        "--protected-mode", "yes", "--loglevel", "notice",
    ]
    run.note_command(argv, comment="redis (state store, lock store, actor state)")
    process = ManagedProcess("redis", argv, run_id=run.run_id, log_path=run.log("redis"),
                             ports=ports)
    return RedisService(process, port, data_dir)
