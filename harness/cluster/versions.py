"""The Dapr versions the harness knows: the default, the ones it can build, and what differs."""

from __future__ import annotations

import re

__all__ = [
    "CONTROL_PLANE_BINARIES",
    "DAPR_CLI_MODULE",
    "DAPR_CLI_VERSION",
    "DAPR_MODULE",
    "DAPR_RUNTIME_VERSION",
    "DEFAULT_DAPR_VERSION",
    "MIN_DAPR_VERSION",
    "SERVED_DAPR_VERSIONS",
    "SIDECAR_METRIC_SINCE",
    "STABLE_JOBS_API_SINCE",
    "STABLE_WORKFLOW_API_SINCE",
    "jobs_api_for",
    "sdk_jobs_alpha",
    "workflow_api_for",
    "normalize_version",
    "version_key",
]

DEFAULT_DAPR_VERSION = "1.18.3"  # daprd, scheduler, placement (dapr/dapr tag) when none is asked
DAPR_RUNTIME_VERSION = DEFAULT_DAPR_VERSION  # the name older code imports
DAPR_CLI_VERSION = "1.18.0"  # dapr/cli tag
DAPR_MODULE = "github.com/dapr/dapr"
DAPR_CLI_MODULE = "github.com/dapr/cli"
CONTROL_PLANE_BINARIES = ("daprd", "scheduler", "placement")
# The releases of github.com/dapr/dapr the Go module proxy serves here (measured 2026-11-29);
# `setup --dapr-version` takes any other x.y.z too and says so if the proxy refuses it.
SERVED_DAPR_VERSIONS = ("1.14.0", "1.15.0", "1.16.0", "1.17.0", "1.18.0", "1.18.2", "1.18.3")
# The first release with the Scheduler service and the Jobs API (dapr/dapr v1.14.0 cmd/scheduler).
MIN_DAPR_VERSION = "1.14.0"
# pkg/scheduler/monitoring/metrics.go (scheduler/sidecars_connected) first exists in 1.15.0;
# a 1.14 scheduler reports no connected sidecars, so daprd's own log says when it connected.
SIDECAR_METRIC_SINCE = "1.15.0"
# pkg/api/http/jobs.go registers /v1.0/jobs from 1.18 on; before, only /v1.0-alpha1/jobs.
STABLE_JOBS_API_SINCE = "1.18.0"
# pkg/api/http/workflow.go serves /v1.0/workflows from 1.15 on; 1.14 has v1.0-alpha1 and beta1.
STABLE_WORKFLOW_API_SINCE = "1.15.0"

_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")


def normalize_version(text: str) -> str:
    """``1.16.0`` from ``1.16.0`` or ``v1.16.0``; ValueError naming what is allowed otherwise."""
    match = _VERSION_RE.match(text.strip())
    if not match:
        raise ValueError(f"Dapr version {text!r} is not x.y.z (e.g. 1.16.0)")
    return ".".join(match.groups())


def version_key(version: str) -> tuple[int, int, int]:
    """Sortable form of an x.y.z version."""
    major, minor, patch = (int(p) for p in normalize_version(version).split("."))
    return major, minor, patch


def jobs_api_for(version: str) -> str:
    """The Jobs API path segment a version serves: ``v1.0`` from 1.18 on, else ``v1.0-alpha1``."""
    return "v1.0" if version_key(version) >= version_key(STABLE_JOBS_API_SINCE) else "v1.0-alpha1"


def workflow_api_for(version: str) -> str:
    """The workflow API path segment a version serves: ``v1.0`` from 1.15 on, else
    ``v1.0-beta1``."""
    stable = version_key(version) >= version_key(STABLE_WORKFLOW_API_SINCE)
    return "v1.0" if stable else "v1.0-beta1"


def sdk_jobs_alpha(version: str) -> bool:
    """Whether the Python SDK must call ScheduleJobAlpha1: before 1.18 daprd has no stable
    ScheduleJob RPC and proxies the unknown method as a service invocation, which fails."""
    return version_key(version) < version_key(STABLE_JOBS_API_SINCE)
