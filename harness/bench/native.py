"""The native side of the benchmarks: benchtool (Go, standard library only), built once.

``benchtool sink`` is the null sink a replica runs instead of the recording app; ``benchtool
load`` is the native load generator (see benchtool/main.go). The binary is built by setup with
the Go toolchain the Dapr build already needs, cached outside the clone under a key of its
source, so an unchanged tool is never rebuilt.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.paths import cache_dir

__all__ = ["NativeLoad", "SOURCE_DIR", "benchtool_path", "ensure_benchtool", "run_native_load",
           "sink_argv"]

SOURCE_DIR = Path(__file__).resolve().parent / "benchtool"


def benchtool_path() -> Path:
    """Where the build for the current source lives (it may not exist yet)."""
    digest = hashlib.sha256()
    for name in ("go.mod", "main.go"):
        digest.update((SOURCE_DIR / name).read_bytes())
    return cache_dir() / f"benchtool-{digest.hexdigest()[:10]}" / "benchtool"


def ensure_benchtool() -> Path:
    """Build benchtool unless this source's build is cached; returns the binary."""
    target = benchtool_path()
    if target.exists():
        return target
    go = shutil.which("go")
    if go is None:
        raise RuntimeError("Go is not on PATH; it builds benchtool (and Dapr)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two setups at once build it once
        if not target.exists():
            partial = target.with_suffix(".partial")
            proc = subprocess.run([go, "build", "-trimpath", "-o", str(partial), "."],
                                  cwd=SOURCE_DIR, env={**os.environ, "CGO_ENABLED": "0"},
                                  capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise RuntimeError(f"building benchtool failed: {proc.stderr.strip()[-800:]}")
            partial.rename(target)
    return target


def sink_argv(port: int) -> list[str]:
    return [str(ensure_benchtool()), "sink", "-port", str(port)]


@dataclass(frozen=True)
class NativeLoad:
    """What ``benchtool load`` printed."""

    offered_rate: float | None
    concurrency: int
    duration_s: float
    statuses: dict[str, int]
    latency_ms: dict[str, float] | None
    cpu_s: float

    @property
    def accepted(self) -> int:
        return sum(n for status, n in self.statuses.items() if status.startswith("2"))

    @property
    def accepted_per_s(self) -> float:
        return self.accepted / self.duration_s if self.duration_s else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"offered_rate": self.offered_rate, "concurrency": self.concurrency,
                "duration_s": round(self.duration_s, 3), "sent": sum(self.statuses.values()),
                "accepted": self.accepted, "accepted_per_s": round(self.accepted_per_s, 1),
                "errors_by_status": {k: v for k, v in sorted(self.statuses.items())
                                     if not k.startswith("2")},
                "latency_ms": self.latency_ms, "loadgen_cpu_s": round(self.cpu_s, 3)}


def run_native_load(urls: Sequence[str], *, count: int, concurrency: int,
                    rate: float | None = None, max_s: float = 60.0, body: str = "{}",
                    start: int = 0) -> NativeLoad:
    """POST up to ``count`` requests; request i goes to ``urls[i % len]`` with {i} = start + i."""
    argv = [str(ensure_benchtool()), "load", "-url", ",".join(urls), "-n", str(count),
            "-c", str(concurrency), "-max-s", str(max_s), "-body", body, "-start", str(start)]
    if rate:
        argv += ["-rate", str(rate)]
    # Bounded by -max-s; the margin covers the last requests' 30 s client timeout.
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=max_s + 60, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"benchtool load failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    out = json.loads(proc.stdout)
    return NativeLoad(offered_rate=out["offered_rate"], concurrency=out["concurrency"],
                      duration_s=out["duration_s"], statuses=out["statuses"],
                      latency_ms=out["latency_ms"], cpu_s=out["cpu_s"])
