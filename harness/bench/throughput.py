"""Throughput on real Dapr, with the side that limits each figure.

- scheduling: job creations/s from three clients at Dapr's offered 1,000/s: the native load
  generator (benchtool, HTTP), the Python one (httpx, HTTP) and the Dapr Python SDK (gRPC).
- triggering: N one-time jobs due at the same moment, delivered to the null sink and to the
  recording app, trial by trial; recording app / null sink is what the harness's recording
  leaves of Dapr's delivery rate.
- recorder: the recording app driven directly by the native load generator, without Dapr: the
  requests/s it sustains with no record lost, against the fastest delivery Dapr achieved.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

import psutil
from dapr.clients import Job

from harness.bench.common import (BenchSettings, Say, bench_cluster, cluster_sampler, count_triggers,
                                  rfc3339, sink_counts)
from harness.bench.cpu import limiting_side
from harness.bench.grpc_load import run_grpc_creations
from harness.bench.loadgen import run_load
from harness.bench.native import run_native_load
from harness.bench.stats import percentile, spread
from harness.cluster.controlplane import Cluster
from harness.cluster.runtime import DaprRuntime
from harness.cluster.wait import wait_until
from harness.record.history import load_history

__all__ = ["bench_recorder", "bench_scheduling", "bench_triggering", "deliver_due_jobs",
           "summarise_load"]

CORES = psutil.cpu_count() or 1
CLIENTS = ("native-http", "python-http", "sdk-grpc")


def _jobs_urls(cluster: Cluster, prefix: str) -> list[str]:
    return [f"{r.dapr_url}/v1.0/jobs/{prefix}{{i}}" for r in cluster.replicas]


def _create(cluster: Cluster, client: str, prefix: str, body: dict[str, Any], *, count: int,
            concurrency: int, rate: float | None, max_s: float) -> dict[str, Any]:
    """Create jobs ``prefix0..`` with one client; the figures and each side's CPU."""
    here = os.getpid()
    sampler = cluster_sampler(cluster, **({} if client == "native-http" else {"loadgen": [here]}))
    sampler.start()
    if client == "native-http":
        native = run_native_load(_jobs_urls(cluster, prefix), count=count, concurrency=concurrency,
                                 rate=rate, max_s=max_s, body=json.dumps(body))
        row, cpu = native.to_dict(), sampler.stop(extra={"loadgen": native.cpu_s})
    elif client == "python-http":
        urls = _jobs_urls(cluster, prefix)
        result = run_load(lambda i: ("POST", urls[i % len(urls)].replace("{i}", str(i)), body),
                          count=count, concurrency=concurrency, rate=rate, max_s=max_s)
        row, cpu = result.to_dict(), sampler.stop()
    else:
        sidecar = cluster.replicas[0]
        result = run_grpc_creations(f"127.0.0.1:{sidecar.grpc_port}", sidecar.http_port, lambda i: Job(name=f"{prefix}{i}", **_sdk_fields(body)),
                                    count=count, concurrency=concurrency, rate=rate, max_s=max_s)
        row, cpu = result.to_dict(), sampler.stop()
    return {**row, "cpu_pct": cpu, "limited_by": limiting_side(
        cpu, CORES, offered=rate, achieved=row["accepted_per_s"])}


def _sdk_fields(body: dict[str, Any]) -> dict[str, Any]:
    names = {"dueTime": "due_time", "schedule": "schedule", "repeats": "repeats", "ttl": "ttl"}
    return {names[k]: v for k, v in body.items()}


def summarise_load(rows: list[dict[str, Any]], key: str = "accepted_per_s") -> dict[str, Any]:
    errors: dict[str, int] = {}
    for row in rows:
        for status, n in row["errors_by_status"].items():
            errors[status] = errors.get(status, 0) + n
    return {key: spread([r[key] for r in rows]),
            "latency_p50_ms": spread([(r["latency_ms"] or {}).get("p50") for r in rows]),
            "latency_p99_ms": spread([(r["latency_ms"] or {}).get("p99") for r in rows]),
            "errors_by_status": errors, "limited_by": [r.get("limited_by") for r in rows],
            "trials": rows}


# -- scheduling -----------------------------------------------------------------------------------
def bench_scheduling(runtime: DaprRuntime, s: BenchSettings, say: Say) -> dict[str, Any]:
    """Each client at Dapr's offered rate, then at full speed (the ceiling on this machine)."""
    modes = {"fixed": s.scheduling_rate, "full-speed": None}
    rows: dict[str, list[dict[str, Any]]] = {f"{c} {m}": [] for c in CLIENTS for m in modes}
    count = int(s.scheduling_rate * s.scheduling_seconds)
    for trial in range(s.trials):
        with bench_cluster(runtime, f"bench-scheduling-{trial}") as cluster:
            for client in CLIENTS:
                for mode, rate in modes.items():
                    row = _create(cluster, client, f"{client}-{mode}-", {"dueTime": "1h"},
                                  count=count if rate else 10**7, concurrency=s.concurrency,
                                  rate=rate, max_s=s.scheduling_seconds)
                    rows[f"{client} {mode}"].append(row)
                    say(f"scheduling {client} {mode} trial {trial + 1}: {row['accepted_per_s']:.0f} "
                        f"accepted/s, limited by {row['limited_by']}")
    return {"offered_rate": s.scheduling_rate, "seconds": s.scheduling_seconds,
            "concurrency": s.concurrency, "clients": {c: summarise_load(r) for c, r in rows.items()}}


# -- triggering -----------------------------------------------------------------------------------
def deliver_due_jobs(cluster: Cluster, n: int, s: BenchSettings, *, null_sink: bool) -> dict[str, Any]:
    """Create ``n`` jobs due at one moment (native client), then time their delivery."""
    # Due once every job exists (creation runs at 400-1,000/s here), so the figure is delivery.
    due = time.time() + 3.0 + n / 400
    created = run_native_load(_jobs_urls(cluster, "t"), count=n, concurrency=s.concurrency,
                              max_s=due - time.time(), body=f'{{"dueTime": "{rfc3339(due)}"}}')
    created_before_due = time.time() < due
    wait_until(lambda: time.time() >= due, timeout_s=max(0.0, due - time.time()) + 5,
               what="the jobs' due time", interval_s=0.01)
    # The harness's own polling shows as "harness"; the figure comes from arrival times, so a
    # slow poll of the (large) history costs nothing but a later end of the wait.
    sampler = cluster_sampler(cluster, harness=[os.getpid()]).start()
    delivered: Callable[[], int] = ((lambda: sink_counts(cluster)["count"]) if null_sink
                                    else (lambda: count_triggers(cluster.run.history)))
    wait_until(lambda: delivered() >= created.accepted, timeout_s=60 + n / 100,
               what=f"{created.accepted} triggers", interval_s=0.2 if null_sink else 1.0)
    cpu = sampler.stop()
    app_ms: dict[str, float | None] | None = None
    if null_sink:
        counts = sink_counts(cluster)
        first, last, per_replica = counts["first"], counts["last"], counts["per_replica"]
        got = counts["count"]
    else:
        triggers = load_history(cluster.run.history).triggers
        walls = sorted(t.wall for t in triggers)
        first, last, got = walls[0], walls[-1], len(walls)
        per_replica = [sum(1 for t in triggers if t.replica == r.index) for r in cluster.replicas]
        own = [t.app_ms for t in triggers if t.app_ms is not None]
        app_ms = {"p50": percentile(own, 50), "p99": percentile(own, 99)}
    span = last - first if got > 1 else 0.0
    return {"n": n, "created": created.accepted, "created_before_due": created_before_due,
            "triggers": got, "first_to_last_s": round(span, 3),
            "triggers_per_s": round(got / span, 1) if span else None,
            "first_after_due_ms": round((first - due) * 1000, 1), "per_replica": per_replica,
            "app_ms": app_ms, "cpu_pct": cpu, "limited_by": limiting_side(cpu, CORES)}


SINKS = ("null-sink", "recording-app")


def _sink_figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"triggers_per_s": spread([r["triggers_per_s"] for r in rows]),
            "first_to_last_s": spread([r["first_to_last_s"] for r in rows]),
            "app_p50_ms": spread([(r["app_ms"] or {}).get("p50") for r in rows]),
            "app_p99_ms": spread([(r["app_ms"] or {}).get("p99") for r in rows]),
            "lost": sum(r["created"] - r["triggers"] for r in rows if r["triggers"] < r["created"]),
            "limited_by": [r["limited_by"] for r in rows], "trials": rows}


def bench_triggering(runtime: DaprRuntime, s: BenchSettings, say: Say) -> dict[str, Any]:
    """Each trial delivers to the null sink and then to the recording app, one after the other,
    so both see the same machine and their ratio is the recording's cost."""
    out: dict[str, Any] = {"replicas": 3, "sizes": {}}
    for n in s.trigger_counts:
        rows: dict[str, list[dict[str, Any]]] = {sink: [] for sink in SINKS}
        for trial in range(s.trials):
            for sink in SINKS:
                with bench_cluster(runtime, f"bench-trigger-{sink}-{n}-{trial}",
                                   null_sink=sink == "null-sink") as cluster:
                    rows[sink].append(deliver_due_jobs(cluster, n, s, null_sink=sink == "null-sink"))
                say(f"triggering {sink} n={n} trial {trial + 1}: {rows[sink][-1]['triggers_per_s']} "
                    f"triggers/s, limited by {rows[sink][-1]['limited_by']}")
        by_sink: dict[str, Any] = {sink: _sink_figures(rows[sink]) for sink in SINKS}
        null, app = (by_sink[k]["triggers_per_s"] for k in SINKS)
        by_sink["recording_ratio"] = round(app["median"] / null["median"], 3) if null and app else None
        say(f"triggering n={n}: recording app / null sink = {by_sink['recording_ratio']}")
        out["sizes"][str(n)] = by_sink
    return out


# -- recorder headroom ----------------------------------------------------------------------------
def bench_recorder(runtime: DaprRuntime, s: BenchSettings, say: Say) -> dict[str, Any]:
    """The recording apps of a 3-replica cluster, driven directly (not through daprd)."""
    rows = []
    for trial in range(s.trials):
        with bench_cluster(runtime, f"bench-recorder-{trial}") as cluster:
            before = count_triggers(cluster.run.history)
            urls = [f"http://127.0.0.1:{r.app_port}/job/r{{i}}" for r in cluster.replicas]
            sampler = cluster_sampler(cluster).start()
            load = run_native_load(urls, count=10**8, concurrency=s.concurrency,
                                   max_s=s.recorder_seconds, body='{"i": 1}')
            cpu = sampler.stop(extra={"loadgen": load.cpu_s})
            recorded = count_triggers(cluster.run.history) - before
            own = [t.app_ms for t in load_history(cluster.run.history).triggers
                   if t.app_ms is not None]
        rows.append({**load.to_dict(), "recorded": recorded, "lost_records": load.accepted - recorded,
                     "app_ms": {"p50": percentile(own, 50), "p99": percentile(own, 99)},
                     "cpu_pct": cpu, "limited_by": limiting_side(cpu, CORES)})
        say(f"recorder trial {trial + 1}: {rows[-1]['accepted_per_s']} req/s, "
            f"{rows[-1]['lost_records']} records lost, limited by {rows[-1]['limited_by']}")
    return {"apps": 3, "client": "native-http", **summarise_load(rows),
            "app_p50_ms": spread([r["app_ms"]["p50"] for r in rows]),
            "app_p99_ms": spread([r["app_ms"]["p99"] for r in rows]),
            "lost_records": sum(r["lost_records"] for r in rows)}
