"""Which command-line flags a Dapr binary accepts, read from its own --help.

Dapr's flags change between versions (the 1.14 scheduler has `--initial-cluster` and
`--etcd-client-ports` where 1.15+ has `--etcd-initial-cluster` and `--etcd-client-port`; 1.18
added `--etcd-client-listen-address`). Rather than a table by version, each argv is fitted to
the flags the binary itself lists, and every flag left out is recorded for the run's summary.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

__all__ = ["binary_flags", "fit_argv", "flag_name"]

_FLAG_RE = re.compile(r"(?:^|\s)--?([a-z0-9][a-z0-9-]*)")


@lru_cache(maxsize=32)
def _flags(path: str, mtime_ns: int) -> frozenset[str]:
    try:
        proc = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=20,
                              check=False)
    except OSError:
        return frozenset()
    return frozenset(_FLAG_RE.findall(proc.stdout + proc.stderr))


def binary_flags(path: Path) -> frozenset[str]:
    """Every flag name ``path --help`` lists (Go's flag and pflag usage formats)."""
    return _flags(str(path), path.stat().st_mtime_ns)


def flag_name(arg: str) -> str | None:
    """``app-id`` for ``--app-id=x`` or ``--app-id``; None for a value or a positional."""
    if not arg.startswith("-"):
        return None
    return arg.lstrip("-").split("=", 1)[0]


def fit_argv(argv: Sequence[str], flags: frozenset[str]) -> tuple[list[str], list[str]]:
    """(argv without the ``--flag=value`` args the binary lacks, the flags left out).

    An empty ``flags`` (the binary printed no usage) leaves argv unchanged."""
    if not flags:
        return list(argv), []
    kept, dropped = [str(argv[0])], []
    for arg in argv[1:]:
        name = flag_name(str(arg))
        if name is not None and name not in flags:
            dropped.append(name)
            continue
        kept.append(str(arg))
    return kept, dropped
