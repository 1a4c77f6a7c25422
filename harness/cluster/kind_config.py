"""The kind cluster configuration `k8s up` will create its single node from.

This machine uses cgroup v1, which kubelets since 1.35 refuse unless their configuration says
`failCgroupV1: false`; the API server is published on 127.0.0.1 only.
"""

from __future__ import annotations

import yaml

__all__ = ["CLUSTER_NAME", "kind_config", "kubelet_patch"]

CLUSTER_NAME = "dapr-harness"


def kubelet_patch() -> str:
    """The kubeadm patch that lets the kubelet run on cgroup v1 (the cgroupfs driver dockerd
    uses here)."""
    return yaml.safe_dump({"apiVersion": "kubelet.config.k8s.io/v1beta1",
                           "kind": "KubeletConfiguration", "failCgroupV1": False,
                           "cgroupDriver": "cgroupfs"}, sort_keys=False)


def kind_config(node_image: str) -> str:
    """kind's Cluster document: one control-plane node from ``node_image``."""
    return yaml.safe_dump({
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "name": CLUSTER_NAME,
        "networking": {"apiServerAddress": "127.0.0.1"},
        "nodes": [{"role": "control-plane", "image": node_image,
                   "kubeadmConfigPatches": [kubelet_patch()]}],
    }, sort_keys=False)
