"""Build kind and the Kubernetes binaries of its node image from Go modules, into the cache.

kind builds from its module as is. k8s.io/kubernetes is served as a module without its
staging/ tree (nested modules are left out of a module's zip), so its go.mod's
`k8s.io/X => ./staging/src/k8s.io/X` lines point nowhere; the build runs in the read-only
module directory with a copy of go.mod (-modfile) whose staging replaces are dropped and whose
k8s.io/X requirements name the served release that matches (v0.37.2 for v1.37.2).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from harness.cluster.build import cached_build
from harness.cluster.gomod import Progress, download_module, go
from harness.paths import cache_dir

__all__ = ["KIND_MODULE", "KIND_VERSION", "KUBE_BINARIES", "KUBE_MODULE", "KUBE_VERSION",
           "build_kind", "build_kube", "kube_ldflags", "staging_modules", "staging_version"]

KIND_MODULE, KIND_VERSION = "sigs.k8s.io/kind", "v0.33.0"
KUBE_MODULE, KUBE_VERSION = "k8s.io/kubernetes", "v1.37.2"
KUBE_BINARIES = ("kubectl", "kubeadm", "kubelet", "kube-apiserver", "kube-controller-manager",
                 "kube-scheduler", "kube-proxy")
_STAGING_RE = re.compile(r"^\s*(k8s\.io/[\w.\-/]+)\s*=>\s*\./staging/", re.MULTILINE)


def staging_modules(go_mod: str) -> list[str]:
    """The modules go.mod replaces with a staging/ directory."""
    return _STAGING_RE.findall(go_mod)


def staging_version(kube_version: str) -> str:
    """k8s.io/X's release for Kubernetes vMAJOR.MINOR.PATCH: v0.MINOR.PATCH."""
    match = re.fullmatch(r"v1\.(\d+)\.(\d+)", kube_version)
    if not match:
        raise ValueError(f"{kube_version}: expected v1.MINOR.PATCH")
    return f"v0.{match.group(1)}.{match.group(2)}"


def kube_ldflags(kube_version: str) -> str:
    """The version stamps hack/lib/version.sh sets: unstamped binaries say v0.0.0, which
    kubeadm refuses as a control-plane version."""
    major, minor = kube_version.lstrip("v").split(".")[:2]
    stamps = {"gitVersion": kube_version, "gitMajor": major, "gitMinor": minor,
              "gitTreeState": "clean"}
    return " ".join(["-s -w", *(f"-X {package}.{key}={value}"
                                for package in ("k8s.io/component-base/version",
                                                "k8s.io/client-go/pkg/version")
                                for key, value in stamps.items())])


def _env() -> dict[str, str]:
    return {**os.environ, "CGO_ENABLED": "0", "GOWORK": "off"}


def build_kind(progress: Progress) -> Path:
    """The kind binary, built once into the cache."""
    def build(tmp: Path) -> dict[str, Any]:
        progress.say(f"building {KIND_MODULE}@{KIND_VERSION}")
        src = tmp / "src"
        shutil.copytree(download_module(f"{KIND_MODULE}@{KIND_VERSION}"), src)
        for path in [src, *src.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
        go(["build", "-mod=mod", "-trimpath", "-o", str(tmp / "bin" / "kind"), "."], cwd=src,
           env=_env())
        return {"kind": KIND_VERSION, "go": go(["version"]).strip()}

    return cached_build(cache_dir() / f"kind-{KIND_VERSION}", build, progress) / "bin" / "kind"


def build_kube(progress: Progress) -> Path:
    """The bin dir of KUBE_BINARIES, built once into the cache."""
    def build(tmp: Path) -> dict[str, Any]:
        module = download_module(f"{KUBE_MODULE}@{KUBE_VERSION}")
        (tmp / "src").mkdir()
        modfile = tmp / "src" / "go.mod"
        shutil.copyfile(module / "go.mod", modfile)
        shutil.copyfile(module / "go.sum", tmp / "src" / "go.sum")
        staged = staging_modules(modfile.read_text())
        edits = [f"-dropreplace={m}" for m in staged]
        edits += [f"-require={m}@{staging_version(KUBE_VERSION)}" for m in staged]
        go(["mod", "edit", f"-modfile={modfile}", *edits], cwd=module, env=_env())
        for name in KUBE_BINARIES:
            progress.say(f"building {name} {KUBE_VERSION} (several minutes)")
            go(["build", f"-modfile={modfile}", "-mod=mod", "-trimpath", "-ldflags", kube_ldflags(KUBE_VERSION),
                "-o", str(tmp / "bin" / name), f"./cmd/{name}"], cwd=module, env=_env())
        return {"kubernetes": KUBE_VERSION, "staging": staging_version(KUBE_VERSION),
                "go": go(["version"]).strip()}

    return cached_build(cache_dir() / f"kube-{KUBE_VERSION}", build, progress) / "bin"
