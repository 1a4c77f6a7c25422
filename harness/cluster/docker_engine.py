"""The harness's own Docker engine, the ground kind's Kubernetes node runs on.

`k8s up` installs Debian's docker.io (with debootstrap and the CNI plugins the node image is made
from) and starts a dockerd of its own: data root under the cache, sockets and pid file under the
cache's k8s/run directory, published ports bound to 127.0.0.1, containers on its own bridge. It
never touches a system dockerd or /var/lib/docker. `k8s down` stops it by its pid.

Found on this machine (cgroup v1, kernel 6.18): dockerd 20.10.24 runs with overlay2, the
cgroupfs driver and iptables (nf_tables backend); it warns only that blkio weights are
unsupported, and a container on its bridge answers from the host.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from harness.errors import UserError
from harness.paths import cache_dir

__all__ = ["BRIDGE_CIDR", "K8S_APT_PACKAGES", "EngineError", "daemon_config", "docker_host", "engine_paths",
           "engine_running", "start_engine", "stop_engine"]

# binary (or absolute path) -> Debian package; installed by `k8s up`, not by setup.
K8S_APT_PACKAGES = {
    "dockerd": "docker.io",
    "debootstrap": "debootstrap",
    "/usr/lib/cni/bridge": "containernetworking-plugins",
}
BRIDGE_CIDR = "172.31.250.1/24"  # the engine's own docker0 address, away from common LANs
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


class EngineError(UserError):
    """dockerd did not start or stop; the message names its log."""


def engine_paths(root: Path | None = None) -> dict[str, Path]:
    """Where the engine keeps its state (persistent) and its run files (removed by down)."""
    base = (root or cache_dir()) / "k8s"
    run = base / "run"
    return {"data": base / "docker-data", "run": run, "exec": run / "exec",
            "socket": run / "docker.sock", "pid": run / "dockerd.pid",
            "log": run / "dockerd.log", "config": run / "daemon.json"}


def daemon_config(paths: dict[str, Path]) -> dict[str, object]:
    """dockerd's configuration: its own roots and socket, ports on loopback only."""
    return {
        "data-root": str(paths["data"]),
        "exec-root": str(paths["exec"]),
        "pidfile": str(paths["pid"]),
        "hosts": [f"unix://{paths['socket']}"],
        "ip": "127.0.0.1",
        "bip": BRIDGE_CIDR,
        "storage-driver": "overlay2",
        "log-level": "warn",
        # Nothing on the host's firewall or sysctls: left to itself dockerd writes nat and
        # filter tables (and turns on forwarding) that outlive it. The bridge and the
        # loopback-published ports (docker-proxy) work without them; nothing leaves this host.
        "iptables": False,
        "ip-forward": False,
    }


def docker_host(paths: dict[str, Path]) -> str:
    return f"unix://{paths['socket']}"


def _ping(paths: dict[str, Path]) -> bool:
    import docker
    from docker.errors import DockerException

    try:
        client = docker.DockerClient(base_url=docker_host(paths), timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except DockerException:
        return False


def _pid(paths: dict[str, Path]) -> int | None:
    try:
        pid = int(paths["pid"].read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def engine_running(paths: dict[str, Path]) -> bool:
    return _pid(paths) is not None and _ping(paths)


def _log_tail(paths: dict[str, Path]) -> str:
    try:
        return "\n".join(paths["log"].read_text().splitlines()[-8:])
    except OSError:
        return "(no log)"


def start_engine(paths: dict[str, Path] | None = None) -> dict[str, Path]:
    """Start the harness's dockerd unless it already answers; returns its paths."""
    paths = paths or engine_paths()
    if engine_running(paths):
        return paths
    for key in ("data", "exec"):
        paths[key].mkdir(parents=True, exist_ok=True)
    paths["config"].write_text(json.dumps(daemon_config(paths), indent=2))
    with paths["log"].open("ab") as log:
        proc = subprocess.Popen(["nice", "-n", "19", "dockerd", "--config-file",
                                 str(paths["config"])], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EngineError(f"dockerd exited with status {proc.returncode}; "
                              f"{paths['log']}:\n{_log_tail(paths)}")
        if _ping(paths):
            return paths
        time.sleep(0.3)
    proc.terminate()
    raise EngineError(f"dockerd did not answer on {paths['socket']} within {START_TIMEOUT:.0f} s;"
                      f" {paths['log']}:\n{_log_tail(paths)}")


def stop_engine(paths: dict[str, Path] | None = None) -> bool:
    """Stop the harness's dockerd by its pid (it stops its containerd); True if one ran."""
    paths = paths or engine_paths()
    pid = _pid(paths)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline and _pid(paths) is not None:
        time.sleep(0.2)
    if _pid(paths) is not None:
        os.kill(pid, signal.SIGKILL)
    _remove_own_bridge()
    return True


def _remove_own_bridge() -> None:
    """dockerd leaves docker0 behind; remove it only if it carries the engine's address."""
    shown = subprocess.run(["ip", "-j", "addr", "show", "dev", "docker0"], capture_output=True,
                           text=True, check=False)
    if shown.returncode != 0:
        return
    address, prefix = BRIDGE_CIDR.split("/")
    ours = any(a.get("local") == address and str(a.get("prefixlen")) == prefix
               for link in json.loads(shown.stdout or "[]") for a in link.get("addr_info", []))
    if ours:
        subprocess.run(["ip", "link", "delete", "docker0"], check=False)
