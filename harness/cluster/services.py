"""The control-plane services of a run: placement and the scheduler members (embedded etcd).

Each is a ManagedProcess (own process group, tagged with the run) whose loopback ports are
reserved when it is created and released just before it is exec'd; every argv is fitted to the
flags the binary of that Dapr version lists (flags.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.cluster.flags import binary_flags
from harness.cluster.health import LOOPBACK, READY_TIMEOUT_S, exited, fitted_argv, http_status
from harness.cluster.metrics import scrape
from harness.cluster.ports import PortReservation
from harness.cluster.process import ManagedProcess
from harness.cluster.runtime import DaprRuntime
from harness.cluster.wait import wait_until
from harness.record.rundir import RunDir

__all__ = ["DaprService", "placement_service", "scheduler_cluster", "scheduler_service"]


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
        wait_until(lambda: http_status(url) == 200, timeout_s=timeout_s,
                   what=f"{self.process.name} healthy", abort=lambda: exited(self.process))

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
    argv = fitted_argv("placement", argv, notes)
    run.note_command(argv, comment="placement")
    process = ManagedProcess("placement", argv, run_id=run.run_id, log_path=run.log("placement"),
                             ports=ports)
    return DaprService(process, port=port, healthz_port=healthz, metrics_port=metrics,
                       flag_notes=notes)


def scheduler_service(runtime: DaprRuntime, run: RunDir, log_level: str = "info",
                      member: str = "dapr-scheduler-server-0", group: int | None = None) -> DaprService:
    ports = PortReservation(5)
    return _scheduler(runtime, run, log_level, member, ports, None, "scheduler", group=group)


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
                      log_level: str = "info",
                      groups: Sequence[int] | None = None) -> list[DaprService]:
    """``members`` schedulers forming one embedded etcd cluster (1 = the single scheduler).

    Member i has id ``dapr-scheduler-server-{i}``, its own ports and data dir, and an
    ``--etcd-initial-cluster`` that lists every member with its peer port, so all of them must
    be started before any can be healthy (etcd needs a quorum). ``groups``: a group id per
    member to run it under (so the kernel can cut one member off from another: netcut.py).
    """
    if members < 1:
        raise ValueError(f"members must be >= 1, got {members}")
    gids: list[int | None] = list(groups) if groups is not None else [None] * members
    if len(gids) != members:
        raise ValueError(f"one group per member: {members} members, {len(gids)} groups")
    if members == 1:
        return [scheduler_service(runtime, run, log_level, group=gids[0])]
    ids = [f"dapr-scheduler-server-{i}" for i in range(members)]
    reservations = [PortReservation(5) for _ in ids]
    initial = ",".join(f"{member}=http://{LOOPBACK}:{ports.ports[4]}"
                       for member, ports in zip(ids, reservations, strict=True))
    clients = ",".join(f"{member}={ports.ports[3]}"
                       for member, ports in zip(ids, reservations, strict=True))
    return [_scheduler(runtime, run, log_level, member, ports, initial, f"scheduler-{i}",
                       clients, members, gids[i])
            for i, (member, ports) in enumerate(zip(ids, reservations, strict=True))]


def _scheduler(runtime: DaprRuntime, run: RunDir, log_level: str, member: str,
               ports: PortReservation, initial_cluster: str | None, name: str,
               client_ports: str | None = None, members: int = 1,
               group: int | None = None) -> DaprService:
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
    argv = fitted_argv(name, argv, notes)
    run.note_command(argv, comment=f"{name} (embedded etcd, member {member})")
    process = ManagedProcess(name, argv, run_id=run.run_id, log_path=run.log(name), ports=ports,
                             group=group)
    service = DaprService(process, port=port, healthz_port=healthz, metrics_port=metrics,
                          other_ports=[etcd_client, etcd_peer], flag_notes=notes)
    return service
