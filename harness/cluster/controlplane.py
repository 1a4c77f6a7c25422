"""The control plane of a run: placement, the scheduler (embedded etcd) and N app replicas.

Each process reserves its loopback ports when it is created and releases them just before it
is exec'd; each is a ManagedProcess (own process group, tagged with the run id). A replica is
the sample app plus its daprd sidecar, started with the flags `dapr run` passes (the dapr CLI
cannot be built here); commands.sh in the run dir has the equivalent `dapr run` lines.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence

import httpx
import yaml

from harness.run.history import HistoryWriter
from harness.cluster.metrics import metric_total, scrape
from harness.paths import REPO_ROOT
from harness.cluster.ports import PortReservation
from harness.cluster.process import ManagedProcess, stop_all
from harness.run.rundir import RunDir
from harness.cluster.runtime import DaprRuntime
from harness.cluster.wait import wait_until

__all__ = ["Cluster", "DaprService", "Replica", "placement_service", "scheduler_cluster",
           "scheduler_service"]

READY_TIMEOUT_S = 30.0
LOOPBACK = "127.0.0.1"
# daprd's --scheduler-job-streams default: each sidecar opens this many streams to a scheduler,
# and the scheduler's sidecars_connected gauge counts streams, not sidecars.
JOB_STREAMS_PER_SIDECAR = 3


def _http_status(url: str) -> int:
    return httpx.get(url, timeout=1.0).status_code


def _exited(proc: ManagedProcess) -> str | None:
    if proc.alive():
        return None
    return f"{proc.name} exited with code {proc.exit_code()}; see {proc.log_path}"


class DaprService:
    """A control-plane process (placement or scheduler) with a healthz and a metrics port."""

    def __init__(self, process: ManagedProcess, *, port: int, healthz_port: int,
                 metrics_port: int, other_ports: Sequence[int] = ()) -> None:
        self.process = process
        self.port = port
        self.healthz_port = healthz_port
        self.metrics_port = metrics_port
        self.other_ports = list(other_ports)  # e.g. the scheduler's embedded etcd ports

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def start(self) -> None:
        self.process.start()

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        url = f"http://{LOOPBACK}:{self.healthz_port}/healthz"
        wait_until(lambda: _http_status(url) == 200, timeout_s=timeout_s,
                   what=f"{self.process.name} healthy", abort=lambda: _exited(self.process))

    def metrics(self) -> dict[str, float]:
        return scrape(self.metrics_port)

    def restart(self) -> None:
        """Start again on the same ports and data dir (after a stop or a kill)."""
        self.process.stop(grace_s=5.0)
        self.process.start()
        self.wait_ready()

    def owned_ports(self) -> list[int]:
        return [self.port, self.healthz_port, self.metrics_port, *self.other_ports]


def placement_service(runtime: DaprRuntime, run: RunDir, log_level: str = "info") -> DaprService:
    ports = PortReservation(4)
    port, healthz, metrics, raft = ports.ports
    argv = [
        runtime.binary("placement"), f"--port={port}", f"--listen-address={LOOPBACK}",
        f"--healthz-port={healthz}", f"--healthz-listen-address={LOOPBACK}",
        f"--metrics-port={metrics}", f"--metrics-listen-address={LOOPBACK}",
        f"--initial-cluster=dapr-placement-0={LOOPBACK}:{raft}",
        "--tls-enabled=false", f"--log-level={log_level}",
    ]
    run.note_command(argv, comment="placement")
    process = ManagedProcess("placement", argv, run_id=run.run_id, log_path=run.log("placement"),
                             ports=ports)
    return DaprService(process, port=port, healthz_port=healthz, metrics_port=metrics)


def scheduler_service(runtime: DaprRuntime, run: RunDir, log_level: str = "info",
                      member: str = "dapr-scheduler-server-0") -> DaprService:
    ports = PortReservation(5)
    return _scheduler(runtime, run, log_level, member, ports, None, "scheduler")


def scheduler_cluster(runtime: DaprRuntime, run: RunDir, members: int = 1,
                      log_level: str = "info") -> list[DaprService]:
    """``members`` schedulers forming one embedded etcd cluster (1 = the single scheduler).

    Member i has id ``dapr-scheduler-server-{i}``, its own ports and data dir, and an
    ``--etcd-initial-cluster`` that lists every member with its peer port, so all of them must
    be started before any can be healthy (etcd needs a quorum).
    """
    if members < 1:
        raise ValueError(f"members must be >= 1, got {members}")
    if members == 1:
        return [scheduler_service(runtime, run, log_level)]
    ids = [f"dapr-scheduler-server-{i}" for i in range(members)]
    reservations = [PortReservation(5) for _ in ids]
    initial = ",".join(f"{member}=http://{LOOPBACK}:{ports.ports[4]}"
                       for member, ports in zip(ids, reservations, strict=True))
    return [_scheduler(runtime, run, log_level, member, ports, initial, f"scheduler-{i}")
            for i, (member, ports) in enumerate(zip(ids, reservations, strict=True))]


def _scheduler(runtime: DaprRuntime, run: RunDir, log_level: str, member: str,
               ports: PortReservation, initial_cluster: str | None, name: str) -> DaprService:
    port, healthz, metrics, etcd_client, etcd_peer = ports.ports
    initial_cluster = initial_cluster or f"{member}=http://{LOOPBACK}:{etcd_peer}"
    data_dir = run.etcd_data(member)
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)  # etcd refuses a data dir others can read
    argv = [
        runtime.binary("scheduler"), f"--id={member}", f"--port={port}",
        f"--listen-address={LOOPBACK}", f"--healthz-port={healthz}",
        f"--healthz-listen-address={LOOPBACK}", f"--metrics-port={metrics}",
        f"--metrics-listen-address={LOOPBACK}", "--etcd-embed=true",
        f"--etcd-data-dir={data_dir}", f"--etcd-client-port={etcd_client}",
        f"--etcd-client-listen-address={LOOPBACK}",
        f"--etcd-initial-cluster={initial_cluster}",
        f"--override-broadcast-host-port={LOOPBACK}:{port}", "--tls-enabled=false",
        f"--log-level={log_level}",
    ]
    run.note_command(argv, comment=f"{name} (embedded etcd, member {member})")
    process = ManagedProcess(name, argv, run_id=run.run_id, log_path=run.log(name), ports=ports)
    service = DaprService(process, port=port, healthz_port=healthz, metrics_port=metrics,
                          other_ports=[etcd_client, etcd_peer])
    return service


class Replica:
    """One replica of the app: the sample app process and its daprd sidecar."""

    def __init__(self, index: int, *, cluster: Cluster) -> None:
        self.index = index
        run = cluster.run
        self.ports = PortReservation(5)
        self.app_port, self.http_port, self.grpc_port, self.internal_port, self.metrics_port = (
            self.ports.ports
        )
        name = f"replica-{index}"
        token_env = {"APP_API_TOKEN": cluster.api_token} if cluster.api_token else {}
        app_env = {
            "HARNESS_HISTORY": str(run.history), "HARNESS_REPLICA": str(index),
            "HARNESS_BINDINGS": json.dumps(cluster.binding_routes),
            "HARNESS_APP_HANDLERS": json.dumps(cluster.app_handlers),
            "APP_ID": cluster.app_id, "APP_PORT": str(self.app_port),
            "DAPR_HTTP_PORT": str(self.http_port), "DAPR_GRPC_PORT": str(self.grpc_port),
            **token_env,
        }
        app_argv = [
            sys.executable, "-m", "uvicorn", "harness.run.app:app", "--host", LOOPBACK,
            "--port", str(self.app_port), "--log-level", "warning", "--no-access-log",
            "--timeout-graceful-shutdown", "2",
        ] if cluster.app_command is None else cluster.app_command(self.app_port)
        self.app = ManagedProcess(f"{name}-app", app_argv, run_id=run.run_id,
                                  log_path=run.log(f"{name}-app"), env=app_env, cwd=REPO_ROOT,
                                  ports=self.ports)
        daprd_argv = self._daprd_argv(cluster)
        self.daprd = ManagedProcess(f"{name}-daprd", daprd_argv, run_id=run.run_id,
                                    log_path=run.log(f"{name}-daprd"), env=token_env)
        run.note_command(app_argv, app_env, comment=f"{name}: app")
        run.note_command(daprd_argv, token_env, comment=f"{name}: daprd")
        run.note_command(self._dapr_run_equivalent(cluster, app_argv), token_env,
                         comment=f"{name}: the same replica under the dapr CLI")
        self.app_argv, self.app_env = app_argv, app_env

    def _daprd_argv(self, cluster: Cluster) -> list[str]:
        return [
            str(cluster.runtime.binary("daprd")), f"--app-id={cluster.app_id}",
            f"--app-port={self.app_port}", "--app-protocol=http",
            f"--app-channel-address={LOOPBACK}", f"--dapr-http-port={self.http_port}",
            f"--dapr-grpc-port={self.grpc_port}", f"--dapr-internal-grpc-port={self.internal_port}",
            f"--dapr-internal-grpc-listen-address={LOOPBACK}", f"--dapr-listen-addresses={LOOPBACK}",
            f"--metrics-port={self.metrics_port}", f"--metrics-listen-address={LOOPBACK}",
            f"--placement-host-address={cluster.placement.address}",
            f"--scheduler-host-address={cluster.scheduler_addresses}",
            f"--resources-path={cluster.run.resources}", f"--config={cluster.runtime.config}",
            f"--log-level={cluster.log_level}", "--mode=standalone",
        ]

    def _dapr_run_equivalent(self, cluster: Cluster, app_argv: list[str]) -> list[str]:
        return [
            "dapr", "run", f"--runtime-path={cluster.runtime.root.parent}",
            f"--app-id={cluster.app_id}", f"--app-port={self.app_port}",
            f"--dapr-http-port={self.http_port}", f"--dapr-grpc-port={self.grpc_port}",
            f"--dapr-internal-grpc-port={self.internal_port}", f"--metrics-port={self.metrics_port}",
            f"--placement-host-address={cluster.placement.address}",
            f"--scheduler-host-address={cluster.scheduler_addresses}",
            f"--resources-path={cluster.run.resources}", f"--config={cluster.runtime.config}",
            "--", *app_argv,
        ]

    @property
    def processes(self) -> list[ManagedProcess]:
        return [self.app, self.daprd]

    def owned_ports(self) -> list[int]:
        return list(self.ports.ports)

    def start(self) -> None:
        self.app.start()
        self.daprd.start()

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        app_url = f"http://{LOOPBACK}:{self.app_port}/healthz"
        daprd_url = f"http://{LOOPBACK}:{self.http_port}/v1.0/healthz"
        wait_until(lambda: _http_status(app_url) == 200, timeout_s=timeout_s,
                   what=f"{self.app.name} healthy", abort=lambda: _exited(self.app))
        wait_until(lambda: _http_status(daprd_url) == 204, timeout_s=timeout_s,
                   what=f"{self.daprd.name} healthy (/v1.0/healthz 204)",
                   abort=lambda: _exited(self.daprd))

    def metrics(self) -> dict[str, float]:
        return scrape(self.metrics_port)

    @property
    def dapr_url(self) -> str:
        return f"http://{LOOPBACK}:{self.http_port}"


class Cluster:
    """Placement + scheduler + N replicas of one app-id, for one run; a context manager."""

    def __init__(
        self,
        runtime: DaprRuntime,
        run: RunDir,
        *,
        replicas: int,
        app_id: str = "taskapi",
        binding_routes: Mapping[str, str] | None = None,
        app_handlers: Sequence[dict[str, object]] = (),
        api_token: str | None = None,
        log_level: str = "info",
        schedulers: int = 1,
        app_command: Callable[[int], list[str]] | None = None,
    ) -> None:
        if replicas < 1:
            raise ValueError(f"replicas must be >= 1, got {replicas}")
        self.runtime, self.run = runtime, run
        self.app_id, self.api_token, self.log_level = app_id, api_token, log_level
        self.binding_routes = dict(binding_routes or {})  # app route -> binding name
        self.app_handlers = list(app_handlers)
        # Another app in place of the recording sample app (argv for a port), e.g. the
        # benchmarks' null sink; it must answer GET /healthz with 200.
        self.app_command = app_command
        self.history = HistoryWriter(run.history)
        self.placement = placement_service(runtime, run, log_level)
        self.schedulers = scheduler_cluster(runtime, run, schedulers, log_level)
        self.scheduler = self.schedulers[0]
        self.replicas: list[Replica] = [Replica(i, cluster=self) for i in range(replicas)]
        self._retired: list[Replica] = []
        self.write_multi_app_file()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        started = time.monotonic()
        self.placement.start()
        for scheduler in self.schedulers:
            scheduler.start()
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
                           app_pid=replica.app.pid)

    def _wait_replica(self, replica: Replica, timeout_s: float) -> None:
        replica.wait_ready(timeout_s)
        self.history.event("replica_ready", replica=replica.index)

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
        """Every running scheduler member reports ``count`` sidecars' streams."""
        live = [i for i, s in enumerate(self.schedulers) if s.process.alive()]
        want = count * JOB_STREAMS_PER_SIDECAR
        return bool(live) and all(self.sidecar_streams(i) == want for i in live)

    def wait_sidecars_connected(self, count: int, timeout_s: float = READY_TIMEOUT_S) -> None:
        """The schedulers' own count of connected sidecars, so no trigger goes to a gap."""
        members = "scheduler" if len(self.schedulers) == 1 else "every running scheduler member"
        wait_until(
            lambda: self.sidecars_connected(count),
            timeout_s=timeout_s, what=f"{members} reporting {count} sidecars connected",
            abort=self._no_scheduler_left,
        )

    def _no_scheduler_left(self) -> str | None:
        reasons = [_exited(s.process) for s in self.schedulers]
        return None if any(r is None for r in reasons) else "; ".join(str(r) for r in reasons)

    def stop(self, grace_s: float = 5.0) -> None:
        """Reverse start order: replicas (apps after their sidecars), scheduler, placement."""
        try:
            stop_all([p for r in reversed(self.replicas) for p in reversed(r.processes)], grace_s)
            stop_all([*(s.process for s in self.schedulers), self.placement.process], grace_s)
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
        replica = Replica(len(self.all_replicas), cluster=self)
        self.replicas.append(replica)
        self._start_replica(replica)
        self._wait_replica(replica, timeout_s)
        return replica

    def remove_replica(self, index: int, grace_s: float = 5.0) -> None:
        replica = self.replica(index)
        stop_all([replica.daprd, replica.app], grace_s)
        self.replicas.remove(replica)
        self._retired.append(replica)
        self.history.event("replica_stopped", replica=index)

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
        return procs + [p for r in self.all_replicas for p in r.processes]

    def owned_ports(self) -> list[int]:
        ports = self.placement.owned_ports()
        for scheduler in self.schedulers:
            ports += scheduler.owned_ports()
        return ports + [p for r in self.all_replicas for p in r.owned_ports()]

    def write_multi_app_file(self) -> None:
        """dapr.yaml: the same replicas as a `dapr run -f dapr.yaml` multi-app run file.

        Each replica gets its own appDirPath, since the CLI names per-app log files by app-id
        and second, and replicas started together would share one."""
        apps = [{
            "appID": self.app_id, "appDirPath": str(self.run.root / "apps" / f"replica-{r.index}"),
            "appPort": r.app_port, "appProtocol": "http", "daprHTTPPort": r.http_port,
            "daprGRPCPort": r.grpc_port, "daprInternalGRPCPort": r.internal_port,
            "metricsPort": r.metrics_port, "placementHostAddress": self.placement.address,
            "schedulerHostAddress": self.scheduler_addresses, "logLevel": self.log_level,
            "command": r.app_argv, "env": {**r.app_env, "PYTHONPATH": str(REPO_ROOT)},
        } for r in self.replicas]
        document = {
            "version": 1,
            "common": {"resourcesPath": str(self.run.resources),
                       "configFilePath": str(self.runtime.config)},
            "apps": apps,
        }
        header = ("# Multi-app run file for the dapr CLI: start placement and the scheduler as in\n"
                  "# commands.sh, then: dapr run -f dapr.yaml --runtime-path "
                  f"{self.runtime.root.parent}\n")
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

    @property
    def dapr_url(self) -> str:
        """A sidecar to send Jobs API calls to (any replica's: jobs belong to the app-id)."""
        return self.replicas[0].dapr_url
