"""The Kubernetes module's go.mod rewrite: staging replaces found, their served release named."""

from __future__ import annotations

import pytest

from harness.cluster.k8s_build import staging_modules, staging_version

GO_MOD = """module k8s.io/kubernetes
replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
\tgithub.com/other/mod => github.com/other/mod v1.2.3
)
"""


def test_only_staging_replaces_are_found() -> None:
    assert staging_modules(GO_MOD) == ["k8s.io/api", "k8s.io/client-go"]


def test_staging_release_matches_the_kubernetes_release() -> None:
    assert staging_version("v1.37.2") == "v0.37.2"


def test_a_version_not_of_kubernetes_1_is_refused() -> None:
    with pytest.raises(ValueError, match="v2.0.0: expected v1.MINOR.PATCH"):
        staging_version("v2.0.0")


def test_binaries_are_stamped_with_their_release() -> None:
    from harness.cluster.k8s_build import kube_ldflags

    flags = kube_ldflags("v1.37.2")
    assert "-X k8s.io/component-base/version.gitVersion=v1.37.2" in flags
    assert "-X k8s.io/component-base/version.gitMinor=37" in flags
