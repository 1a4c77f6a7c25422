"""How fast the mechanisms beside the Jobs API over HTTP accept new work (their row beside the Jobs API's creation rates).

Full speed with ``concurrency`` clients, ``registration_count`` each: actor reminders (one actor
id each, so placement spreads them), workflow starts, and jobs created through the Python SDK
(gRPC). 3 replicas of each app and the run's Redis.
"""

from __future__ import annotations

from typing import Any

from dapr.clients import Job

from harness.bench.common import BENCH_RUNS, BenchSettings, Say
from harness.bench.grpc_load import run_grpc_creations
from harness.bench.loadgen import run_load
from harness.bench.throughput import summarise_load
from harness.cluster.controlplane import Cluster
from harness.cluster.runtime import DaprRuntime
from harness.apps import actors, workflow_app
from harness.record.rundir import new_run_dir
from harness.scenario.model import TaskSpec

__all__ = ["bench_registration"]


def _tasks() -> list[dict[str, Any]]:
    """What the apps must host: the reminder actor type, a workflow worker, SDK job handlers."""
    return [TaskSpec(mechanism="reminder", name="bench-reminder", schedule="@every 1h").model_dump(),
            TaskSpec(mechanism="workflow", name="bench-workflow", schedule="@every 1h").model_dump()]


def bench_registration(runtime: DaprRuntime, s: BenchSettings, say: Say) -> dict[str, Any]:
    rows: dict[str, list[dict[str, Any]]] = {"reminder": [], "workflow": [], "job-sdk": []}
    n, c = s.registration_count, s.concurrency
    for trial in range(s.trials):
        run = new_run_dir(f"bench-registration-{trial}", base=BENCH_RUNS)
        with Cluster(runtime, run, replicas=3, grpc_replicas=3, redis=True, tasks=_tasks(),
                     log_level="warn") as cluster:
            url = cluster.dapr_url
            grpc_sidecar = cluster.replicas[-1]  # a replica of the gRPC app
            loads = {
                "reminder": lambda: run_load(
                    lambda i: ("POST", actors.reminder_url(url, "r", f"a{i}"),
                               actors.reminder_body("@every 1h", None)), count=n, concurrency=c),
                "workflow": lambda: run_load(
                    lambda i: ("POST", workflow_app.start_url(url, f"w{i}"),
                               workflow_app.workflow_input(f"w{i}", 3600.0, None)),
                    count=n, concurrency=c),
                "job-sdk": lambda: run_grpc_creations(
                    f"127.0.0.1:{grpc_sidecar.grpc_port}", grpc_sidecar.http_port,
                    lambda i: Job(name=f"s{i}", schedule="@every 1h"), count=n, concurrency=c),
            }
            for mechanism, load in loads.items():
                rows[mechanism].append(load().to_dict())
                say(f"registration {mechanism} trial {trial + 1}: "
                    f"{rows[mechanism][-1]['accepted_per_s']} accepted/s")
    return {mechanism: summarise_load(trials) for mechanism, trials in rows.items()}
