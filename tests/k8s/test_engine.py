"""The harness's dockerd, as `k8s up` leaves it: its own socket and data root, overlay2, no TCP."""

from __future__ import annotations

import docker
import psutil
import pytest

from harness.cluster.docker_engine import docker_host, engine_paths, engine_running

pytestmark = pytest.mark.k8s


def test_engine_answers_on_its_own_socket_with_its_own_data_root() -> None:
    paths = engine_paths()
    assert engine_running(paths), "run `python3 -m harness k8s up` first"
    client = docker.DockerClient(base_url=docker_host(paths), timeout=5)
    try:
        info = client.info()
    finally:
        client.close()
    assert info["DockerRootDir"] == str(paths["data"])
    assert info["Driver"] == "overlay2"


def test_engine_listens_on_no_tcp_port() -> None:
    pid = int(engine_paths()["pid"].read_text())
    listening = [c for c in psutil.Process(pid).net_connections("inet")
                 if c.status == psutil.CONN_LISTEN]
    assert listening == []
