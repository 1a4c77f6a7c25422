"""Small checks shared by the control plane's services and replicas: is it up, did it exit."""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from harness.cluster.flags import binary_flags, fit_argv
from harness.cluster.process import AdoptedProcess, ManagedProcess

__all__ = ["LOOPBACK", "READY_TIMEOUT_S", "arg_value", "exited", "fitted_argv", "http_status",
           "port_open"]

READY_TIMEOUT_S = 30.0
LOOPBACK = "127.0.0.1"


def arg_value(argv: Sequence[str], flag: str) -> str | None:
    """The value of ``--flag=v`` or ``--flag v`` in an argv (the CLI passes the second form)."""
    for i, arg in enumerate(argv):
        if arg == f"--{flag}" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(f"--{flag}="):
            return arg.split("=", 1)[1]
    return None


def fitted_argv(name: str, argv: list[str], notes: list[str]) -> list[str]:
    """argv without the flags this version's binary lacks; a note says which were left out."""
    kept, dropped = fit_argv(argv, binary_flags(Path(argv[0])))
    if dropped:
        notes.append(f"{name}: left out {', '.join('--' + d for d in dropped)} "
                     "(not in this version's --help)")
    return kept


def http_status(url: str, headers: Mapping[str, str] | None = None) -> int:
    return httpx.get(url, headers=headers, timeout=1.0).status_code


def exited(proc: ManagedProcess | AdoptedProcess) -> str | None:
    if proc.alive():
        return None
    return f"{proc.name} exited with code {proc.exit_code()}; see {proc.log_path}"


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((LOOPBACK, port)) == 0
