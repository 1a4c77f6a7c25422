"""Bounded HTTP load on 127.0.0.1: a fixed offered rate or full speed, C concurrent clients.

Every loop is bounded in count and time and stops by itself.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

__all__ = ["LoadResult", "Request", "is_success", "run_load"]

# (method, url, json body) for the i-th request
Request = tuple[str, str, Any]


def is_success(status: str) -> bool:
    """An HTTP 2xx, or gRPC's OK."""
    return status.startswith("2") or status == "OK"


@dataclass
class LoadResult:
    offered_rate: float | None  # requests/s asked for; None = full speed
    concurrency: int
    duration_s: float
    sent: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return sum(n for status, n in self.statuses.items() if is_success(status))

    @property
    def accepted_per_s(self) -> float:
        return self.accepted / self.duration_s if self.duration_s else 0.0

    def to_dict(self) -> dict[str, Any]:
        lat = np.array(self.latencies_ms) if self.latencies_ms else None
        return {
            "offered_rate": self.offered_rate, "concurrency": self.concurrency,
            "duration_s": round(self.duration_s, 3), "sent": self.sent, "accepted": self.accepted,
            "accepted_per_s": round(self.accepted_per_s, 1),
            "errors_by_status": {k: v for k, v in sorted(self.statuses.items()) if not is_success(k)},
            "latency_ms": None if lat is None else {
                "p50": round(float(np.percentile(lat, 50)), 2),
                "p99": round(float(np.percentile(lat, 99)), 2)},
        }


async def _worker(client: httpx.AsyncClient, make: Callable[[int], Request], next_index: Callable[[], int | None],
                  result: LoadResult, start_at: Callable[[int], float]) -> None:
    while (i := next_index()) is not None:
        delay = start_at(i) - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        method, url, body = make(i)
        t0 = time.monotonic()
        try:
            response = await client.request(method, url, json=body)
            result.statuses[str(response.status_code)] += 1
        except httpx.HTTPError as exc:
            result.statuses[type(exc).__name__] += 1
        result.latencies_ms.append((time.monotonic() - t0) * 1000)


async def _run(make: Callable[[int], Request], count: int, concurrency: int, rate: float | None,
               max_s: float) -> LoadResult:
    result = LoadResult(offered_rate=rate, concurrency=concurrency, duration_s=0.0)
    counter = iter(range(count))
    begin = time.monotonic()
    deadline = begin + max_s

    def next_index() -> int | None:
        if time.monotonic() >= deadline:
            return None
        return next(counter, None)

    def start_at(i: int) -> float:
        return begin + i / rate if rate else 0.0

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30.0, limits=limits) as client:
        await asyncio.gather(*(_worker(client, make, next_index, result, start_at)
                               for _ in range(concurrency)))
    result.duration_s = time.monotonic() - begin
    result.sent = sum(result.statuses.values())
    return result


def run_load(make: Callable[[int], Request], *, count: int, concurrency: int,
             rate: float | None = None, max_s: float = 120.0) -> LoadResult:
    """Send up to ``count`` requests (stopping after ``max_s``), at ``rate``/s or full speed."""
    if count < 1 or concurrency < 1:
        raise ValueError(f"count and concurrency must be >= 1, got {count}, {concurrency}")
    return asyncio.run(_run(make, count, concurrency, rate, max_s))
