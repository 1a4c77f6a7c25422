"""The control plane of a run: placement, the scheduler (embedded etcd) and N app replicas.

Each process reserves its loopback ports when it is created and releases them just before it
is exec'd; each is a ManagedProcess (own process group, tagged with the run id). A replica is
the sample app plus its daprd sidecar, started by one of three launchers:

- ``daprd``: the app and daprd directly, with the flags `dapr run` passes (what dapr's own
  integration framework does); the fallback when no dapr CLI exists;
- ``dapr-run``: one real `dapr run --app-id ... -- <app>` per replica;
- ``dapr-run-f``: one real `dapr run -f <run>/dapr.yaml` for all replicas.

Under the CLI launchers daprd and the app are found among the CLI's children, so faults hit
them. Every argv is fitted to the flags the binary of that Dapr version lists (flags.py).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
import yaml

from harness.run.history import HistoryWriter
from harness.cluster.metrics import metric_total, scrape
from harness.paths import REPO_ROOT
from harness.cluster.ports import PortReservation
from harness.cluster.flags import binary_flags, fit_argv
from harness.cluster.preflight import PortTaken
from harness.cluster.process import AdoptedProcess, CliProcess, ManagedProcess, stop_all
from harness.cluster.redis import redis_service
from harness.cluster.runtime import DaprRuntime
from harness.cluster.versions import SIDECAR_METRIC_SINCE, version_key
from harness.cluster.wait import DeadlineExceeded, wait_until
from harness.run.components import install_redis_components
from harness.run.rundir import RunDir

__all__ = ["GRPC_GROUP", "HTTP_GROUP", "LAUNCHERS", "PORT_ATTEMPTS", "AppGroup", "Cluster",
           "DaprService", "Replica", "arg_value", "placement_service", "scheduler_cluster",
           "scheduler_service", "started_cluster"]

READY_TIMEOUT_S = 30.0
PORT_ATTEMPTS = 3
# How daprd, placement and scheduler (Go's net.Listen) and uvicorn report a port in use.
_PORT_IN_USE = "address already in use"
LOOPBACK = "127.0.0.1"
# daprd's --scheduler-job-streams default: each sidecar opens this many streams to a scheduler,
# and the scheduler's sidecars_connected gauge counts streams, not sidecars. A daprd without
# that flag (before 1.16, cmd/daprd/options/options.go) opens one.
JOB_STREAMS_PER_SIDECAR = 3
# daprd logs these (pkg/runtime/scheduler) as its stream to the scheduler comes and goes.
STREAM_UP, STREAM_DOWN = "Scheduler stream connected", "Scheduler stream disconnected"
LAUNCHERS = ("daprd", "dapr-run", "dapr-run-f")


def arg_value(argv: Sequence[str], flag: str) -> str | None:
    """The value of ``--flag=v`` or ``--flag v`` in an argv (the CLI passes the second form)."""
    for i, arg in enumerate(argv):
        if arg == f"--{flag}" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(f"--{flag}="):
            return arg.split("=", 1)[1]
    return None


def _fitted(name: str, argv: list[str], notes: list[str]) -> list[str]:
    """argv without the flags this version's binary lacks; a note says which were left out."""
    kept, dropped = fit_argv(argv, binary_flags(Path(argv[0])))
    if dropped:
        notes.append(f"{name}: left out {', '.join('--' + d for d in dropped)} "
                     "(not in this version's --help)")
    return kept


def _http_status(url: str, headers: Mapping[str, str] | None = None) -> int:
    return httpx.get(url, headers=headers, timeout=1.0).status_code


def _exited(proc: ManagedProcess) -> str | None:
    if proc.alive():
        return None
    return f"{proc.name} exited with code {proc.exit_code()}; see {proc.log_path}"


class DaprService:
    """A control-plane process (placement or scheduler) with a healthz and a metrics port."""

    def __init__(self, process: ManagedProcess, *, port: int, healthz_port: int,
                 metrics_port: int, other_ports: Sequence[int] = (),
                 flag_notes: Sequence[str] = ()) -> None:
        self.process = process
        self.flag_notes = list(flag_notes)  # how its argv was fitted to its version
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
    notes: list[str] = []
    argv = [
        str(runtime.binary("placement")), f"--port={port}", f"--listen-address={LOOPBACK}",
        f"--healthz-port={healthz}", f"--healthz-listen-address={LOOPBACK}",
        f"--metrics-port={metrics}", f"--metrics-listen-address={LOOPBACK}",
        f"--initial-cluster=dapr-placement-0={LOOPBACK}:{raft}",
        "--tls-enabled=false", f"--log-level={log_level}",
    ]
    argv = _fitted("placement", argv, notes)
    run.note_command(argv, comment="placement")
    process = ManagedProcess("placement", argv, run_id=run.run_id, log_path=run.log("placement"),
                             ports=ports)
    return DaprService(process, port=port, healthz_port=healthz, metrics_port=metrics,
                       flag_notes=notes)


def scheduler_service(runtime: DaprRuntime, run: RunDir, log_level: str = "info",
                      member: str = "dapr-scheduler-server-0") -> DaprService:
    ports = PortReservation(5)
    return _scheduler(runtime, run, log_level, member, ports, None, "scheduler")


def _etcd_flags(binary: Path, member: str, initial_cluster: str, client_ports: str,
                etcd_client: int, members: int, notes: list[str]) -> list[str]:
    """The embedded etcd's flags, in the names this scheduler version knows."""
    flags = binary_flags(binary)
    if not flags or "etcd-initial-cluster" in flags:
        return ["--etcd-embed=true", f"--etcd-client-port={etcd_client}",
                f"--etcd-client-listen-address={LOOPBACK}",
                f"--etcd-initial-cluster={initial_cluster}"]
    # dapr 1.14 cmd/scheduler/options/options.go: --initial-cluster, per-member client ports
    # (--etcd-client-ports id=port,...) and --replica-count; etcd is always embedded.
    notes.append(f"{member}: 1.14-style etcd flags --initial-cluster, --etcd-client-ports, "
                 "--replica-count (no --etcd-initial-cluster in this version's --help)")
    return [f"--initial-cluster={initial_cluster}", f"--etcd-client-ports={client_ports}",
            f"--replica-count={members}"]


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
    clients = ",".join(f"{member}={ports.ports[3]}"
                       for member, ports in zip(ids, reservations, strict=True))
    return [_scheduler(runtime, run, log_level, member, ports, initial, f"scheduler-{i}",
                       clients, members)
            for i, (member, ports) in enumerate(zip(ids, reservations, strict=True))]


def _scheduler(runtime: DaprRuntime, run: RunDir, log_level: str, member: str,
               ports: PortReservation, initial_cluster: str | None, name: str,
               client_ports: str | None = None, members: int = 1) -> DaprService:
    port, healthz, metrics, etcd_client, etcd_peer = ports.ports
    initial_cluster = initial_cluster or f"{member}=http://{LOOPBACK}:{etcd_peer}"
    client_ports = client_ports or f"{member}={etcd_client}"
    notes: list[str] = []
    binary = runtime.binary("scheduler")
    data_dir = run.etcd_data(member)
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)  # etcd refuses a data dir others can read
    argv = [
        str(binary), f"--id={member}", f"--port={port}",
        f"--listen-address={LOOPBACK}", f"--healthz-port={healthz}",
        f"--healthz-listen-address={LOOPBACK}", f"--metrics-port={metrics}",
        f"--metrics-listen-address={LOOPBACK}", f"--etcd-data-dir={data_dir}",
        *_etcd_flags(binary, member, initial_cluster, client_ports, etcd_client, members, notes),
        f"--override-broadcast-host-port={LOOPBACK}:{port}", "--tls-enabled=false",
        f"--log-level={log_level}",
    ]
    argv = _fitted(name, argv, notes)
    run.note_command(argv, comment=f"{name} (embedded etcd, member {member})")
    process = ManagedProcess(name, argv, run_id=run.run_id, log_path=run.log(name), ports=ports)
    service = DaprService(process, port=port, healthz_port=healthz, metrics_port=metrics,
                          other_ports=[etcd_client, etcd_peer], flag_notes=notes)
    return service


@dataclass(frozen=True)
class AppGroup:
    """The replicas of one app-id. ``http``: the FastAPI sample app (jobs, bindings, actors,
    workflows); ``grpc``: the SDK app for job-sdk tasks (daprd's --app-protocol grpc), with
    its own resources dir so that it loads none of the HTTP app's components."""

    app_id: str
    protocol: Literal["http", "grpc"]

    def app_argv(self, port: int) -> list[str]:
        if self.protocol == "grpc":
            return [sys.executable, "-m", "harness.run.grpc_app"]
        return [
            sys.executable, "-m", "uvicorn", "harness.run.app:app", "--host", LOOPBACK,
            "--port", str(port), "--log-level", "warning", "--no-access-log",
            "--timeout-graceful-shutdown", "2",
        ]


HTTP_GROUP = AppGroup("taskapi", "http")
GRPC_GROUP = AppGroup("taskapi-grpc", "grpc")


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((LOOPBACK, port)) == 0


class Replica:
    """One replica of the app: the sample app process and its daprd sidecar, under a launcher."""

    def __init__(self, index: int, *, cluster: Cluster, group: AppGroup = HTTP_GROUP) -> None:
        self.index = index
        self.group = group
        self.cluster = cluster
        run = cluster.run
        self.ports = PortReservation(5)
        self.app_port, self.http_port, self.grpc_port, self.internal_port, self.metrics_port = (
            self.ports.ports
        )
        self.name = name = f"replica-{index}"
        self.flag_notes: list[str] = []
        token_env = {"APP_API_TOKEN": cluster.api_token} if cluster.api_token else {}
        # What the harness itself sends the app: the app refuses every request without it.
        self.app_headers = {"dapr-api-token": cluster.api_token} if cluster.api_token else {}
        # DAPR_API_TOKEN guards daprd's own API (every route but GET /v1.0/healthz: dapr/dapr
        # pkg/http APITokenAuthMiddleware and isRouteExcludedFromAPITokenAuth).
        daprd_env = {**token_env, **({"DAPR_API_TOKEN": cluster.dapr_api_token}
                                     if cluster.dapr_api_token else {})}
        # PYTHONPATH: the app is found from any directory (commands.sh and dapr.yaml, by hand)
        self.app_env = {
            "HARNESS_HISTORY": str(run.history), "HARNESS_REPLICA": str(index),
            "HARNESS_BINDINGS": json.dumps(cluster.binding_routes),
            "HARNESS_APP_HANDLERS": json.dumps(cluster.app_handlers),
            "HARNESS_TASKS": json.dumps(cluster.tasks),
            "APP_ID": self.app_id, "APP_PORT": str(self.app_port),
            "DAPR_HTTP_PORT": str(self.http_port), "DAPR_GRPC_PORT": str(self.grpc_port),
            "PYTHONPATH": str(REPO_ROOT), **token_env,
        }
        self.app_argv = group.app_argv(self.app_port)
        self.daprd_argv = _fitted(f"{name} daprd", self._daprd_argv(cluster), self.flag_notes)
        self.dapr_run_argv = self._dapr_run_argv(cluster)
        run.note_command(self.app_argv, self.app_env, comment=f"{name}: app")
        run.note_command(self.daprd_argv, daprd_env, comment=f"{name}: daprd")
        run.note_command(self.dapr_run_argv, {**self.app_env, **daprd_env},
                         comment=f"{name}: the same replica under the dapr CLI")
        self.launcher: CliProcess | None = None
        self.app: ManagedProcess | AdoptedProcess
        self.daprd: ManagedProcess | AdoptedProcess
        if cluster.launcher == "daprd":
            self.app = ManagedProcess(f"{name}-app", self.app_argv, run_id=run.run_id,
                                      log_path=run.log(f"{name}-app"), env=self.app_env,
                                      cwd=REPO_ROOT, ports=self.ports)
            self.daprd = ManagedProcess(f"{name}-daprd", self.daprd_argv, run_id=run.run_id,
                                        log_path=run.log(f"{name}-daprd"), env=daprd_env)
        else:
            self._adopt(cluster, daprd_env)

    def _adopt(self, cluster: Cluster, daprd_env: dict[str, str]) -> None:
        """daprd and the app as children of a real `dapr run` (own, or the run's `dapr run -f`)."""
        if cluster.launcher == "dapr-run":
            cli_argv = [str(cluster.cli), *self.dapr_run_argv[1:]]
            self.launcher = owner = CliProcess(
                f"{self.name}-dapr-run", cli_argv, run_id=cluster.run.run_id,
                log_path=cluster.run.log(f"{self.name}-dapr-run"), env={**self.app_env, **daprd_env},
                cwd=REPO_ROOT, ports=self.ports)
            restart: Callable[[], None] | None = self._relaunch
        else:
            owner, restart = cluster.multi_app, None
        port = str(self.http_port)
        self.daprd = AdoptedProcess(
            f"{self.name}-daprd", owner, restart=restart,
            match=lambda argv: Path(argv[0]).name == "daprd"
            and arg_value(argv, "dapr-http-port") == port)
        app_port = str(self.app_port)
        self.app = AdoptedProcess(
            f"{self.name}-app", owner, restart=restart,
            match=lambda argv: "harness.run.app:app" in argv and arg_value(argv, "port") == app_port)

    def _relaunch(self) -> None:
        """A new `dapr run` for this replica, as a user would: end what is left of the old one
        (the CLI ends the sibling of a child that exited, but only once its own start-up, which
        retries metadata calls to the sidecar, is over), then run it again."""
        assert self.launcher is not None
        self.launcher.stop(grace_s=5.0)  # reaps it and ends any child it left
        for process in self.workers:
            if isinstance(process, AdoptedProcess):
                process.forget()
        self.launcher.start()

    @property
    def app_id(self) -> str:
        return self.group.app_id

    def _daprd_argv(self, cluster: Cluster) -> list[str]:
        return [
            str(cluster.runtime.binary("daprd")), f"--app-id={self.app_id}",
            f"--app-port={self.app_port}", f"--app-protocol={self.group.protocol}",
            f"--app-channel-address={LOOPBACK}", f"--dapr-http-port={self.http_port}",
            f"--dapr-grpc-port={self.grpc_port}", f"--dapr-internal-grpc-port={self.internal_port}",
            f"--dapr-internal-grpc-listen-address={LOOPBACK}", f"--dapr-listen-addresses={LOOPBACK}",
            f"--metrics-port={self.metrics_port}", f"--metrics-listen-address={LOOPBACK}",
            f"--placement-host-address={cluster.placement.address}",
            f"--scheduler-host-address={cluster.scheduler_addresses}",
            f"--resources-path={cluster.resources_for(self.group)}",
            f"--config={cluster.runtime.config}",
            f"--log-level={cluster.log_level}", "--mode=standalone",
        ]

    def _dapr_run_argv(self, cluster: Cluster) -> list[str]:
        """The same replica under `dapr run` (what the dapr-run launcher executes)."""
        return [
            "dapr", "run", f"--runtime-path={cluster.runtime.root.parent}",
            f"--app-id={self.app_id}", f"--app-port={self.app_port}",
            f"--app-protocol={self.group.protocol}",
            f"--app-channel-address={LOOPBACK}", f"--dapr-http-port={self.http_port}",
            f"--dapr-grpc-port={self.grpc_port}", f"--dapr-internal-grpc-port={self.internal_port}",
            f"--dapr-listen-addresses={LOOPBACK}", f"--metrics-port={self.metrics_port}",
            f"--placement-host-address={cluster.placement.address}",
            f"--scheduler-host-address={cluster.scheduler_addresses}",
            f"--resources-path={cluster.resources_for(self.group)}",
            f"--config={cluster.runtime.config}",
            f"--log-level={cluster.log_level}", "--", *self.app_argv,
        ]

    @property
    def processes(self) -> list[ManagedProcess]:
        """What the harness itself started for this replica (and stops): the app and daprd,
        or the replica's `dapr run` (empty under `dapr run -f`, which the cluster owns)."""
        if self.cluster.launcher == "daprd":
            return [p for p in (self.app, self.daprd) if isinstance(p, ManagedProcess)]
        return [self.launcher] if self.launcher is not None else []

    @property
    def workers(self) -> list[ManagedProcess | AdoptedProcess]:
        """The app and daprd themselves, whoever started them (faults act on these)."""
        return [self.app, self.daprd]

    def owned_ports(self) -> list[int]:
        return list(self.ports.ports)

    def start(self) -> None:
        if self.launcher is not None:
            self.launcher.start()
        elif self.cluster.launcher == "daprd":
            self.app.start()
            self.daprd.start()

    def _app_healthy(self) -> bool:
        if self.group.protocol == "grpc":  # the SDK app has no HTTP endpoint: it listens
            return _port_open(self.app_port)
        return _http_status(f"http://{LOOPBACK}:{self.app_port}/healthz", self.app_headers) == 200

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        daprd_url = f"http://{LOOPBACK}:{self.http_port}/v1.0/healthz"
        wait_until(self._app_healthy, timeout_s=timeout_s,
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
        dapr_api_token: str | None = None,
        grpc_replicas: int = 0,
        tasks: Sequence[dict[str, object]] = (),
        redis: bool = False,
        launcher: str = "daprd",
        cli: Path | None = None,
    ) -> None:
        if replicas < 0 or grpc_replicas < 0 or replicas + grpc_replicas < 1:
            raise ValueError(f"need at least one replica, got {replicas} + {grpc_replicas} (gRPC)")
        if launcher not in LAUNCHERS:
            raise ValueError(f"launcher must be one of {', '.join(LAUNCHERS)}, got {launcher!r}")
        if launcher != "daprd" and cli is None:
            raise ValueError(f"launcher {launcher} needs the dapr CLI (none given)")
        if launcher != "daprd" and grpc_replicas:
            raise ValueError(f"launcher {launcher} starts the HTTP app only; job-sdk tasks "
                             "(the gRPC app) run under the daprd launcher")
        self.launcher, self.cli = launcher, cli
        self.runtime, self.run = runtime, run
        self.app_id, self.api_token, self.log_level = app_id, api_token, log_level
        self.dapr_api_token = dapr_api_token
        self.binding_routes = dict(binding_routes or {})  # app route -> binding name
        self.app_handlers = list(app_handlers)
        self.tasks = list(tasks)  # the scenario's tasks (mechanism, name, schedule, data)
        self.history = HistoryWriter(run.history)
        self.redis = redis_service(run) if redis else None
        if self.redis is not None:
            install_redis_components(run.resources, self.redis.address)
        self.placement = placement_service(runtime, run, log_level)
        self.schedulers = scheduler_cluster(runtime, run, schedulers, log_level)
        self.scheduler = self.schedulers[0]
        # `dapr run -f`: one CLI for every replica; DAPR_RUNTIME_PATH, since in multi-app mode
        # the CLI ignores --runtime-path when it looks for daprd (tried with CLI v1.18.0).
        self.multi_app: CliProcess | None = None
        if launcher == "dapr-run-f":
            self.multi_app = CliProcess(
                "dapr-run-f", [str(cli), "run", "-f", str(run.root / "dapr.yaml")],
                run_id=run.run_id, log_path=run.log("dapr-run-f"), cwd=REPO_ROOT,
                env={"DAPR_RUNTIME_PATH": str(runtime.root.parent)})
        self.replicas: list[Replica] = [Replica(i, cluster=self) for i in range(replicas)]
        self.replicas += [Replica(replicas + i, cluster=self, group=GRPC_GROUP)
                          for i in range(grpc_replicas)]
        self._retired: list[Replica] = []
        self.write_multi_app_file()

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
        reasons = [_exited(s.process) for s in self.schedulers]
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
        replica = Replica(len(self.all_replicas), cluster=self)
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
