"""The control plane of a run: Redis (when a mechanism needs it), placement, the scheduler
members and the app replicas, started in that order and stopped in reverse; a context manager.

The services are in services.py, the replicas (and their launchers) in replicas.py.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import yaml

from harness.cluster.flags import binary_flags
from harness.cluster.health import LOOPBACK, READY_TIMEOUT_S, exited
from harness.cluster.metrics import metric_total
from harness.cluster.preflight import PortTaken
from harness.cluster.process import CliProcess, ManagedProcess, stop_all
from harness.cluster.redis import redis_service
from harness.cluster.replicas import (
    GRPC_GROUP,
    HTTP_GROUP,
    AppGroup,
    ClusterOptions,
    Replica,
    ReplicaOptions,
)
from harness.cluster.runtime import DaprRuntime
from harness.cluster.services import placement_service, scheduler_cluster
from harness.cluster.versions import SIDECAR_METRIC_SINCE, version_key
from harness.cluster.wait import DeadlineExceeded, wait_until
from harness.paths import REPO_ROOT
from harness.cluster.components import install_redis_components
from harness.record.history import HistoryWriter
from harness.record.rundir import RunDir

__all__ = ["JOB_STREAMS_PER_SIDECAR", "PORT_ATTEMPTS", "Cluster", "started_cluster"]

PORT_ATTEMPTS = 3
# How daprd, placement and scheduler (Go's net.Listen) and uvicorn report a port in use.
_PORT_IN_USE = "address already in use"
# daprd's --scheduler-job-streams default: each sidecar opens this many streams to a scheduler,
# and the scheduler's sidecars_connected gauge counts streams, not sidecars. A daprd without
# that flag (before 1.16, cmd/daprd/options/options.go) opens one.
JOB_STREAMS_PER_SIDECAR = 3
# daprd logs these (pkg/runtime/scheduler) as its stream to the scheduler comes and goes.
STREAM_UP, STREAM_DOWN = "Scheduler stream connected", "Scheduler stream disconnected"


class Cluster:
    """Placement + scheduler + N replicas of one app-id, for one run; a context manager."""

    def __init__(self, runtime: DaprRuntime, run: RunDir, options: ClusterOptions | None = None,
                 **fields: Any) -> None:
        """``options``, or its fields as keywords (``Cluster(runtime, run, replicas=2)``)."""
        self.options = options = options if options is not None else ClusterOptions(**fields)
        self.runtime, self.run = runtime, run
        self.launcher, self.cli = options.launcher, options.cli
        self.api_token, self.log_level = options.api_token, options.log_level
        self.app_handlers = list(options.app_handlers)  # the nemesis restores these
        self.history = HistoryWriter(run.history)
        self.redis = redis_service(run) if options.redis else None
        if self.redis is not None:
            install_redis_components(run.resources, self.redis.address)
        self.placement = placement_service(runtime, run, options.log_level)
        self.schedulers = scheduler_cluster(runtime, run, options.schedulers, options.log_level)
        self.scheduler = self.schedulers[0]
        # `dapr run -f`: one CLI for every replica; DAPR_RUNTIME_PATH, since in multi-app mode
        # the CLI ignores --runtime-path when it looks for daprd (tried with CLI v1.18.0).
        self.multi_app: CliProcess | None = None
        if options.launcher == "dapr-run-f":
            self.multi_app = CliProcess(
                "dapr-run-f", [str(options.cli), "run", "-f", str(run.root / "dapr.yaml")],
                run_id=run.run_id, log_path=run.log("dapr-run-f"), cwd=REPO_ROOT,
                env={"DAPR_RUNTIME_PATH": str(runtime.root.parent)})
        self.replicas: list[Replica] = [self._replica(i) for i in range(options.replicas)]
        self.replicas += [self._replica(options.replicas + i, GRPC_GROUP)
                          for i in range(options.grpc_replicas)]
        self._retired: list[Replica] = []
        self.write_multi_app_file()

    def _replica(self, index: int, group: AppGroup = HTTP_GROUP) -> Replica:
        return Replica(index, ReplicaOptions(
            self.options, self.runtime, self.run, self.placement.address,
            self.scheduler_addresses, self.resources_for(group), self.multi_app), group)
    # -- lifecycle ---------------------------------------------------------------------------
    def resources_for(self, group: AppGroup) -> Path:
        """The resources dir of a group's sidecars (the gRPC app's is empty)."""
        if group.protocol == "http":
            return self.run.resources
        path = self.run.root / f"resources-{group.app_id}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _start_redis(self, timeout_s: float) -> None:
        """Before any daprd: a state or lock store that cannot connect fails daprd's start."""
        if self.redis is None:
            return
        self.redis.start()
        self.history.event("redis_started", port=self.redis.port, pid=self.redis.process.pid)
        self.redis.wait_ready(timeout_s)
        self.history.event("redis_ready", port=self.redis.port)

    def start(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        started = time.monotonic()
        self._start_redis(timeout_s)
        self.placement.start()
        for scheduler in self.schedulers:
            scheduler.start()
        if self.multi_app is not None:
            for replica in self.replicas:
                replica.ports.release()
            self.multi_app.start()
        for replica in self.replicas:
            self._start_replica(replica)
        self.placement.wait_ready(timeout_s)
        for scheduler in self.schedulers:
            scheduler.wait_ready(timeout_s)
        for replica in self.replicas:
            self._wait_replica(replica, timeout_s)
        self.wait_sidecars_connected(len(self.replicas), timeout_s)
        self.write_process_table()
        self.history.event("cluster_ready", replicas=len(self.replicas),
                           seconds=round(time.monotonic() - started, 3))

    def _start_replica(self, replica: Replica) -> None:
        replica.start()
        self.history.event("replica_started", replica=replica.index, pid=replica.daprd.pid,
                           app_pid=replica.app.pid, app_id=replica.app_id)

    def _wait_replica(self, replica: Replica, timeout_s: float) -> None:
        replica.wait_ready(timeout_s)
        self.history.event("replica_ready", replica=replica.index, app_id=replica.app_id)

    def etcd_db_mib(self) -> float:
        """The embedded etcd's database files of every member (MiB)."""
        dbs = list((self.run.root / "etcd").rglob("member/snap/db"))
        return round(sum(p.stat().st_size for p in dbs) / 2**20, 2)

    def footprint(self) -> dict[str, float | int]:
        """What still runs and what the schedulers hold: scheduler members and sidecars alive,
        the largest member's RSS (MiB) and the etcd database (MiB)."""
        alive = [s.process for s in self.schedulers if s.process.alive()]
        rss = []
        for process in alive:
            try:
                rss.append(psutil.Process(process.pid).memory_info().rss / 2**20)
            except psutil.Error:  # ended between the check and the read: not alive after all
                alive.remove(process)
        return {"schedulers": len(self.schedulers), "schedulers_alive": len(alive),
                "daprd": len(self.replicas),
                "daprd_alive": sum(1 for r in self.replicas if r.daprd.alive()),
                "scheduler_rss_mib": round(max(rss, default=0.0), 1),
                "etcd_db_mib": self.etcd_db_mib()}

    def sidecar_streams(self, member: int = 0) -> int:
        """``dapr_scheduler_sidecars_connected`` of one scheduler member.

        It counts streams, not sidecars, and every daprd opens JOB_STREAMS_PER_SIDECAR streams
        to *every* member: with 3 replicas each member reports 9, whether there are 1 or 3
        members (observed on 1.18.3). A member restarted after a kill -9 reports 0 until it
        holds its leadership lease again: the killed process's lease (TTL 20 s) lives on, so
        that takes about 20 s, and the jobs it owns are not triggered meanwhile.
        """
        metrics = self.schedulers[member].metrics()
        return int(metric_total(metrics, "dapr_scheduler_sidecars_connected"))

    def sidecars_connected(self, count: int) -> bool:
        """Every running scheduler member reports ``count`` sidecars' streams (before 1.15,
        which has no such metric: every replica's daprd logged its stream as connected)."""
        live = [i for i, s in enumerate(self.schedulers) if s.process.alive()]
        if version_key(self.runtime.version) < version_key(SIDECAR_METRIC_SINCE):
            return bool(live) and self._streams_logged() >= count
        streams = JOB_STREAMS_PER_SIDECAR if "scheduler-job-streams" in binary_flags(
            self.runtime.binary("daprd")) else 1
        want = count * streams
        return bool(live) and all(self.sidecar_streams(i) == want for i in live)

    def _streams_logged(self) -> int:
        """Replicas whose daprd, since it last started, logged its stream up more than down."""
        total = 0
        for path, offset in {(r.daprd.log_path, r.daprd.log_offset) for r in self.replicas}:
            with path.open("rb") as fh:
                fh.seek(offset)
                text = fh.read().decode(errors="replace")
            total += max(0, text.count(STREAM_UP) - text.count(STREAM_DOWN))
        alive = all(r.daprd.alive() for r in self.replicas)
        return total if alive else 0

    def wait_sidecars_connected(self, count: int, timeout_s: float = READY_TIMEOUT_S) -> None:
        """The schedulers' own count of connected sidecars, so no trigger goes to a gap."""
        members = "scheduler" if len(self.schedulers) == 1 else "every running scheduler member"
        wait_until(
            lambda: self.sidecars_connected(count),
            timeout_s=timeout_s, what=f"{members} reporting {count} sidecars connected",
            abort=self._no_scheduler_left,
        )

    def _no_scheduler_left(self) -> str | None:
        reasons = [exited(s.process) for s in self.schedulers]
        return None if any(r is None for r in reasons) else "; ".join(str(r) for r in reasons)

    def stop(self, grace_s: float = 5.0) -> None:
        """Reverse start order: replicas (apps after their sidecars), scheduler, placement."""
        try:
            stop_all([p for r in reversed(self.replicas) for p in reversed(r.processes)], grace_s)
            if self.multi_app is not None:
                self.multi_app.stop(grace_s)
            stop_all([*(s.process for s in self.schedulers), self.placement.process,
                      *([self.redis.process] if self.redis else [])], grace_s)
        finally:
            for process in self.processes():  # reservations of processes never started
                if process.ports is not None:
                    process.ports.release()
            # etcd preallocates a 64 MB WAL per run; the history holds what the run showed.
            shutil.rmtree(self.run.root / "etcd", ignore_errors=True)
            self.history.event("cluster_stopped")
            self.history.close()

    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- topology changes (the nemesis uses these) ------------------------------------------
    def add_replica(self, timeout_s: float = READY_TIMEOUT_S) -> Replica:
        self._per_replica_launch("adding a replica")
        replica = self._replica(len(self.all_replicas))
        self.replicas.append(replica)
        self._start_replica(replica)
        self._wait_replica(replica, timeout_s)
        return replica

    def remove_replica(self, index: int, grace_s: float = 5.0) -> None:
        self._per_replica_launch("removing a replica")
        replica = self.replica(index)
        stop_all(replica.processes, grace_s)
        self.replicas.remove(replica)
        self._retired.append(replica)
        self.history.event("replica_stopped", replica=index)

    def _per_replica_launch(self, what: str) -> None:
        if self.multi_app is not None:
            raise ValueError(f"{what} needs a launcher per replica; `dapr run -f` starts them "
                             "all at once (use launcher dapr-run or daprd)")

    def flag_notes(self) -> list[str]:
        """How the argvs were fitted to this Dapr version (one replica stands for all)."""
        notes = [*self.placement.flag_notes]
        for scheduler in self.schedulers:
            notes += scheduler.flag_notes
        return notes + (self.all_replicas[0].flag_notes if self.all_replicas else [])

    def replica(self, index: int) -> Replica:
        for replica in self.replicas:
            if replica.index == index:
                return replica
        raise KeyError(f"no running replica {index}")

    @property
    def all_replicas(self) -> list[Replica]:
        return self.replicas + self._retired

    # -- inspection ---------------------------------------------------------------------------
    def processes(self) -> list[ManagedProcess]:
        procs = [self.placement.process, *(s.process for s in self.schedulers)]
        procs += [self.redis.process] if self.redis else []
        procs += [self.multi_app] if self.multi_app is not None else []
        return procs + [p for r in self.all_replicas for p in r.processes]

    def owned_ports(self) -> list[int]:
        ports = self.placement.owned_ports() + (self.redis.owned_ports() if self.redis else [])
        for scheduler in self.schedulers:
            ports += scheduler.owned_ports()
        return ports + [p for r in self.all_replicas for p in r.owned_ports()]

    def write_multi_app_file(self) -> None:
        """dapr.yaml: the same replicas as a `dapr run -f dapr.yaml` multi-app run file.

        Each replica gets its own appDirPath (created: the CLI rejects a missing one), since
        the CLI names per-app log files by app-id and second, and replicas started together
        would share one. Logs go to the console, i.e. the CLI's own log."""
        apps = []
        for r in self.replicas:
            app_dir = self.run.root / "apps" / r.name
            app_dir.mkdir(parents=True, exist_ok=True)
            apps.append({
                "appID": r.app_id, "appDirPath": str(app_dir),
                "appPort": r.app_port, "appProtocol": r.group.protocol, "daprHTTPPort": r.http_port,
                "resourcesPath": str(self.resources_for(r.group)),
                "daprGRPCPort": r.grpc_port, "daprInternalGRPCPort": r.internal_port,
                "metricsPort": r.metrics_port, "placementHostAddress": self.placement.address,
                "schedulerHostAddress": self.scheduler_addresses, "logLevel": self.log_level,
                "appLogDestination": "console", "daprdLogDestination": "console",
                "command": r.app_argv, "env": r.app_env,
            })
        document = {
            "version": 1,
            "common": {"resourcesPaths": [str(self.run.resources)],
                       "configFilePath": str(self.runtime.config),
                       "runtimePath": str(self.runtime.root.parent)},
            "apps": apps,
        }
        header = ("# Multi-app run file for the dapr CLI: start placement and the scheduler as in\n"
                  "# commands.sh, then (in multi-app mode the CLI ignores --runtime-path):\n"
                  f"# DAPR_RUNTIME_PATH={self.runtime.root.parent} dapr run -f dapr.yaml\n")
        (self.run.root / "dapr.yaml").write_text(header + yaml.safe_dump(document, sort_keys=False))

    def write_process_table(self) -> None:
        """processes.json: pids and ports of the run, for `clean` and for the leak tests."""
        table = {
            "run_id": self.run.run_id, "owner": os.getpid(),
            "processes": {p.name: p.pid for p in self.processes() if p.alive()},
            "ports": self.owned_ports(),
        }
        (self.run.root / "processes.json").write_text(json.dumps(table, indent=2))

    @property
    def scheduler_addresses(self) -> str:
        """daprd's ``--scheduler-host-address``: every scheduler member, comma-separated."""
        return ",".join(s.address for s in self.schedulers)

    def group_replicas(self, group: AppGroup) -> list[Replica]:
        return [r for r in self.replicas if r.group == group]

    @property
    def dapr_url(self) -> str:
        """A sidecar to send Jobs API calls to (any HTTP replica's: jobs belong to the app-id
        of the sidecar that created them)."""
        return (self.group_replicas(HTTP_GROUP) or self.replicas)[0].dapr_url

    @property
    def sdk_sidecar(self) -> tuple[str, str] | None:
        """(gRPC host:port, HTTP URL) of a gRPC-app sidecar, where job-sdk jobs are created;
        None without gRPC replicas."""
        found = self.group_replicas(GRPC_GROUP)
        if not found:
            return None
        return f"{LOOPBACK}:{found[0].grpc_port}", found[0].dapr_url


def _log_sizes(cluster: Cluster) -> dict[Path, int]:
    return {p.log_path: p.log_path.stat().st_size if p.log_path.exists() else 0
            for p in cluster.processes()}


def _port_conflicts(cluster: Cluster, sizes: Mapping[Path, int]) -> list[str]:
    """Processes whose log, since ``sizes`` were taken, says their port was in use."""
    taken = []
    for process in cluster.processes():
        if not process.log_path.exists():
            continue
        with process.log_path.open("rb") as fh:
            fh.seek(sizes.get(process.log_path, 0))
            if _PORT_IN_USE in fh.read().decode("utf-8", errors="replace").lower():
                taken.append(process.name)
    return taken


@contextmanager
def started_cluster(make: Callable[[], Cluster], attempts: int = PORT_ATTEMPTS) -> Iterator[Cluster]:
    """A started cluster, stopped on exit. A port another program took between our reservation
    and the exec (a process exits with "address already in use") is retried with a fresh
    cluster, that is fresh ports, up to ``attempts`` times; then PortTaken says so."""
    for attempt in range(1, attempts + 1):
        cluster = make()
        sizes = _log_sizes(cluster)
        try:
            cluster.__enter__()
        except DeadlineExceeded:
            taken = _port_conflicts(cluster, sizes)
            if not taken:
                raise
            with HistoryWriter(cluster.run.history) as history:  # the cluster's own is closed
                history.event("cluster_retry", attempt=attempt, port_taken_by=taken)
            if attempt == attempts:
                raise PortTaken(f"a reserved port was taken by another program before "
                                f"{', '.join(taken)} could bind it, {attempts} times with fresh "
                                "ports; see the logs in " + str(cluster.run.logs)) from None
            continue
        try:
            yield cluster
        finally:
            cluster.__exit__(None, None, None)
        return
