"""Job creations over gRPC with the official Dapr Python SDK (``dapr`` on PyPI).

The same bounded shape as loadgen.run_load: C concurrent workers on one asyncio client, a fixed
offered rate or full speed, a request budget and a time budget, whichever ends first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from dapr.aio.clients import DaprClient
from dapr.clients import Job
from dapr.clients.exceptions import DaprGrpcError
from dapr.conf import settings

from harness.bench.loadgen import LoadResult

__all__ = ["run_grpc_creations"]


async def _worker(client: DaprClient, make: Callable[[int], Job], next_index: Callable[[], int | None],
                  result: LoadResult, start_at: Callable[[int], float]) -> None:
    while (i := next_index()) is not None:
        delay = start_at(i) - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        t0 = time.monotonic()
        try:
            await client.schedule_job(make(i))
            result.statuses["OK"] += 1
        except DaprGrpcError as exc:
            result.statuses[str(exc.code().name)] += 1
        result.latencies_ms.append((time.monotonic() - t0) * 1000)


async def _run(address: str, make: Callable[[int], Job], count: int, concurrency: int,
               rate: float | None, max_s: float) -> LoadResult:
    result = LoadResult(offered_rate=rate, concurrency=concurrency, duration_s=0.0)
    counter = iter(range(count))
    async with DaprClient(address=address) as client:
        begin = time.monotonic()
        deadline = begin + max_s

        def next_index() -> int | None:
            return None if time.monotonic() >= deadline else next(counter, None)

        def start_at(i: int) -> float:
            return begin + i / rate if rate else 0.0

        await asyncio.gather(*(_worker(client, make, next_index, result, start_at)
                               for _ in range(concurrency)))
        result.duration_s = time.monotonic() - begin
    result.sent = sum(result.statuses.values())
    return result


def run_grpc_creations(address: str, http_port: int, make: Callable[[int], Job], *, count: int,
                       concurrency: int, rate: float | None = None, max_s: float = 60.0) -> LoadResult:
    """Schedule up to ``count`` jobs through daprd's gRPC API at ``address`` (host:port).

    The SDK's client first polls the sidecar's HTTP /v1.0/healthz/outbound on its configured
    HTTP port (dapr/clients/health.py), so that port is set to this sidecar's.
    """
    if count < 1 or concurrency < 1:
        raise ValueError(f"count and concurrency must be >= 1, got {count}, {concurrency}")
    settings.DAPR_HTTP_PORT = http_port
    return asyncio.run(_run(address, make, count, concurrency, rate, max_s))
