"""The harness's dockerd configuration: everything under its own dirs, ports on loopback."""

from __future__ import annotations

from pathlib import Path

from harness.cluster.docker_engine import daemon_config, engine_paths


def test_engine_keeps_everything_under_its_own_root(tmp_path: Path) -> None:
    paths = engine_paths(tmp_path)
    config = daemon_config(paths)
    for key in ("data-root", "exec-root", "pidfile"):
        assert Path(str(config[key])).is_relative_to(tmp_path / "k8s"), key
    assert config["hosts"] == [f"unix://{tmp_path / 'k8s' / 'run' / 'docker.sock'}"]


def test_engine_publishes_ports_on_loopback_only(tmp_path: Path) -> None:
    config = daemon_config(engine_paths(tmp_path))
    assert config["ip"] == "127.0.0.1"
    assert not any(str(h).startswith("tcp://") for h in config["hosts"])  # type: ignore[union-attr]


def test_socket_path_fits_a_unix_socket() -> None:
    assert len(str(engine_paths()["socket"])) < 108


def test_engine_leaves_the_hosts_firewall_and_forwarding_alone(tmp_path: Path) -> None:
    config = daemon_config(engine_paths(tmp_path))
    assert config["iptables"] is False and config["ip-forward"] is False
