"""kind's cluster document: cgroup v1 allowed, the API server on loopback, the local image."""

from __future__ import annotations

import yaml

from harness.cluster.kind_config import kind_config


def test_kubelet_is_told_to_run_on_cgroup_v1() -> None:
    config = yaml.safe_load(kind_config("harness/node:v1.37.2"))
    patch = yaml.safe_load(config["nodes"][0]["kubeadmConfigPatches"][0])
    assert patch["kind"] == "KubeletConfiguration"
    assert patch["failCgroupV1"] is False


def test_api_server_listens_on_loopback_and_node_uses_the_local_image() -> None:
    config = yaml.safe_load(kind_config("harness/node:v1.37.2"))
    assert config["networking"]["apiServerAddress"] == "127.0.0.1"
    assert [n["image"] for n in config["nodes"]] == ["harness/node:v1.37.2"]
