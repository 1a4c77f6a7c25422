"""The app replicas of a run (Dapr's data plane): the sample app and its daprd sidecar.

A replica is started by one of three launchers:

- ``daprd``: the app and daprd directly, with the flags `dapr run` passes (what dapr's own
  integration framework does); the fallback when no dapr CLI exists;
- ``dapr-run``: one real `dapr run --app-id ... -- <app>` per replica;
- ``dapr-run-f``: one real `dapr run -f <run>/dapr.yaml` for all replicas (the cluster owns it).

Under the CLI launchers daprd and the app are found among the CLI's children, so faults hit
them. Replicas belong to an app group: the HTTP sample app, or the gRPC app of job-sdk tasks.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from harness.cluster.health import (
    LOOPBACK,
    READY_TIMEOUT_S,
    arg_value,
    exited,
    fitted_argv,
    http_status,
    port_open,
)
from harness.cluster.metrics import scrape
from harness.cluster.ports import PortReservation
from harness.cluster.process import AdoptedProcess, CliProcess, ManagedProcess
from harness.cluster.runtime import DaprRuntime
from harness.cluster.wait import wait_until
from harness.paths import REPO_ROOT
from harness.record.rundir import RunDir
from harness.scenario.mechanisms import APP_IDS, LAUNCHERS


__all__ = ["GRPC_GROUP", "HTTP_GROUP", "LAUNCHERS", "AppGroup", "ClusterOptions", "Replica",
           "ReplicaOptions"]



@dataclass(frozen=True)
class AppGroup:
    """The replicas of one app-id. ``http``: the FastAPI sample app (jobs, bindings, actors,
    workflows); ``grpc``: the SDK app for job-sdk tasks (daprd's --app-protocol grpc), with
    its own resources dir so that it loads none of the HTTP app's components."""

    app_id: str
    protocol: Literal["http", "grpc"]

    def app_argv(self, port: int) -> list[str]:
        if self.protocol == "grpc":
            return [sys.executable, "-m", "harness.apps.grpc_app"]
        return [
            sys.executable, "-m", "uvicorn", "harness.apps.app:app", "--host", LOOPBACK,
            "--port", str(port), "--log-level", "warning", "--no-access-log",
            "--timeout-graceful-shutdown", "2",
            # uvicorn's C parser and event loop, named so that a missing one fails the start
            # instead of falling back to h11 and asyncio (several times slower per trigger)
            "--http", "httptools", "--loop", "uvloop",
        ]


HTTP_GROUP = AppGroup(APP_IDS["http"], "http")
GRPC_GROUP = AppGroup(APP_IDS["grpc"], "grpc")


@dataclass(frozen=True)
class ClusterOptions:
    """What a run's cluster is made of, as small values (the runner builds it from a scenario)."""

    replicas: int  # of the HTTP app
    grpc_replicas: int = 0  # of the gRPC app (job-sdk tasks)
    schedulers: int = 1  # Scheduler members (one embedded etcd cluster)
    binding_routes: Mapping[str, str] = field(default_factory=dict)  # app route -> binding name
    app_handlers: tuple[Mapping[str, object], ...] = ()  # the scenario's handler rules
    tasks: tuple[Mapping[str, object], ...] = ()  # the scenario's tasks
    api_token: str | None = None  # APP_API_TOKEN: daprd and the app
    dapr_api_token: str | None = None  # DAPR_API_TOKEN of every daprd
    log_level: str = "info"
    redis: bool = False  # start the run's Redis (state and lock stores)
    launcher: str = "daprd"  # one of LAUNCHERS
    cli: Path | None = None  # the dapr CLI, for the dapr-run launchers
    # Another app in place of the recording sample app (argv for a port), e.g. the
    # benchmarks' null sink; it must answer GET /healthz with 200.
    app_command: Callable[[int], list[str]] | None = None

    def __post_init__(self) -> None:
        if self.replicas < 0 or self.grpc_replicas < 0 or self.replicas + self.grpc_replicas < 1:
            raise ValueError(f"need at least one replica, got {self.replicas} + "
                             f"{self.grpc_replicas} (gRPC)")
        if self.launcher not in LAUNCHERS:
            raise ValueError(f"launcher must be one of {', '.join(LAUNCHERS)}, "
                             f"got {self.launcher!r}")
        if self.launcher != "daprd" and self.cli is None:
            raise ValueError(f"launcher {self.launcher} needs the dapr CLI (none given)")
        if self.launcher != "daprd" and self.grpc_replicas:
            raise ValueError(f"launcher {self.launcher} starts the HTTP app only; job-sdk tasks "
                             "(the gRPC app) run under the daprd launcher")


@dataclass(frozen=True)
class ReplicaOptions:
    """What one replica is started with: the cluster's options and the addresses of the
    services it connects to. A replica reads nothing back off the cluster."""

    cluster: ClusterOptions
    runtime: DaprRuntime
    run: RunDir
    placement_address: str
    scheduler_addresses: str  # daprd's --scheduler-host-address
    resources: Path  # the group's resources dir
    # `dapr run -f`: the one CLI that owns every replica's processes
    multi_app: CliProcess | None = None


class Replica:
    """One replica of the app: the sample app process and its daprd sidecar, under a launcher."""

    def __init__(self, index: int, options: ReplicaOptions, group: AppGroup = HTTP_GROUP) -> None:
        self.index = index
        self.group = group
        self.options = options
        cluster = options.cluster
        run = options.run
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
            "HARNESS_APP_HANDLERS": json.dumps(list(cluster.app_handlers)),
            "HARNESS_TASKS": json.dumps(list(cluster.tasks)),
            "APP_ID": self.app_id, "APP_PORT": str(self.app_port),
            "DAPR_HTTP_PORT": str(self.http_port), "DAPR_GRPC_PORT": str(self.grpc_port),
            "PYTHONPATH": str(REPO_ROOT), **token_env,
        }
        self.app_argv = (cluster.app_command(self.app_port) if cluster.app_command
                         else group.app_argv(self.app_port))
        self.daprd_argv = fitted_argv(f"{name} daprd", self._daprd_argv(), self.flag_notes)
        self.dapr_run_argv = self._dapr_run_argv()
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
            self._adopt(daprd_env)

    def _adopt(self, daprd_env: dict[str, str]) -> None:
        """daprd and the app as children of a real `dapr run` (own, or the run's `dapr run -f`)."""
        owner: CliProcess | None
        run = self.options.run
        if self.options.cluster.launcher == "dapr-run":
            cli_argv = [str(self.options.cluster.cli), *self.dapr_run_argv[1:]]
            self.launcher = owner = CliProcess(
                f"{self.name}-dapr-run", cli_argv, run_id=run.run_id,
                log_path=run.log(f"{self.name}-dapr-run"), env={**self.app_env, **daprd_env},
                cwd=REPO_ROOT, ports=self.ports)
            restart: Callable[[], None] | None = self._relaunch
        else:
            owner, restart = self.options.multi_app, None
        assert owner is not None, "a dapr-run-f replica needs the run's multi-app CLI"
        port = str(self.http_port)
        self.daprd = AdoptedProcess(
            f"{self.name}-daprd", owner, restart=restart,
            match=lambda argv: Path(argv[0]).name == "daprd"
            and arg_value(argv, "dapr-http-port") == port)
        app_port = str(self.app_port)
        self.app = AdoptedProcess(
            f"{self.name}-app", owner, restart=restart,
            match=lambda argv: "harness.apps.app:app" in argv and arg_value(argv, "port") == app_port)

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

    def _daprd_argv(self) -> list[str]:
        o = self.options
        return [
            str(o.runtime.binary("daprd")), f"--app-id={self.app_id}",
            f"--app-port={self.app_port}", f"--app-protocol={self.group.protocol}",
            f"--app-channel-address={LOOPBACK}", f"--dapr-http-port={self.http_port}",
            f"--dapr-grpc-port={self.grpc_port}", f"--dapr-internal-grpc-port={self.internal_port}",
            f"--dapr-internal-grpc-listen-address={LOOPBACK}", f"--dapr-listen-addresses={LOOPBACK}",
            f"--metrics-port={self.metrics_port}", f"--metrics-listen-address={LOOPBACK}",
            f"--placement-host-address={o.placement_address}",
            f"--scheduler-host-address={o.scheduler_addresses}",
            f"--resources-path={o.resources}",
            f"--config={o.runtime.config}",
            f"--log-level={o.cluster.log_level}", "--mode=standalone",
        ]

    def _dapr_run_argv(self) -> list[str]:
        """The same replica under `dapr run` (what the dapr-run launcher executes)."""
        o = self.options
        return [
            "dapr", "run", f"--runtime-path={o.runtime.root.parent}",
            f"--app-id={self.app_id}", f"--app-port={self.app_port}",
            f"--app-protocol={self.group.protocol}",
            f"--app-channel-address={LOOPBACK}", f"--dapr-http-port={self.http_port}",
            f"--dapr-grpc-port={self.grpc_port}", f"--dapr-internal-grpc-port={self.internal_port}",
            f"--dapr-listen-addresses={LOOPBACK}", f"--metrics-port={self.metrics_port}",
            f"--placement-host-address={o.placement_address}",
            f"--scheduler-host-address={o.scheduler_addresses}",
            f"--resources-path={o.resources}",
            f"--config={o.runtime.config}",
            f"--log-level={o.cluster.log_level}", "--", *self.app_argv,
        ]

    @property
    def processes(self) -> list[ManagedProcess]:
        """What the harness itself started for this replica (and stops): the app and daprd,
        or the replica's `dapr run` (empty under `dapr run -f`, which the cluster owns)."""
        if self.options.cluster.launcher == "daprd":
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
        elif self.options.cluster.launcher == "daprd":
            self.app.start()
            self.daprd.start()

    def _app_healthy(self) -> bool:
        if self.group.protocol == "grpc":  # the SDK app has no HTTP endpoint: it listens
            return port_open(self.app_port)
        return http_status(f"http://{LOOPBACK}:{self.app_port}/healthz", self.app_headers) == 200

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        daprd_url = f"http://{LOOPBACK}:{self.http_port}/v1.0/healthz"
        wait_until(self._app_healthy, timeout_s=timeout_s,
                   what=f"{self.app.name} healthy", abort=lambda: exited(self.app))
        wait_until(lambda: http_status(daprd_url) == 204, timeout_s=timeout_s,
                   what=f"{self.daprd.name} healthy (/v1.0/healthz 204)",
                   abort=lambda: exited(self.daprd))

    def metrics(self) -> dict[str, float]:
        return scrape(self.metrics_port)

    @property
    def dapr_url(self) -> str:
        return f"http://{LOOPBACK}:{self.http_port}"
