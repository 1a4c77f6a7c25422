"""Install the harness's Python dependencies before anything imports them.

Runs on a fresh machine with only the standard library, so it imports nothing else.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys

from harness.paths import REPO_ROOT

# Import names of what pyproject.toml requires; any missing one means `pip install -e .`.
REQUIRED_IMPORTS = (
    "pytest", "httpx", "fastapi", "uvicorn", "yaml", "docker", "tabulate", "psutil",
    "matplotlib", "pydantic", "croniter", "prometheus_client", "pytest_timeout",
    "dapr.clients", "dapr.ext.grpc", "dapr.ext.workflow",
)
# Debian packages the runs need: the real Redis that the reminder, workflow, binding-lock and
# binding-claim mechanisms use (harness/cluster/redis.py). binary -> package.
APT_PACKAGES = {"redis-server": "redis-server"}


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a dotted name whose parent package is missing
        return False


def missing_imports() -> list[str]:
    return [name for name in REQUIRED_IMPORTS if not _importable(name)]


def ensure_apt_packages() -> None:
    """apt-get install what is missing (quick when everything is present)."""
    missing = sorted({pkg for binary, pkg in APT_PACKAGES.items() if shutil.which(binary) is None})
    if not missing:
        return
    apt = shutil.which("apt-get")
    if apt is None:
        raise SystemExit(f"[setup] {', '.join(missing)} missing and no apt-get here; install "
                         "them with the system's package manager")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"[setup] installing Debian packages: {', '.join(missing)}", flush=True)
    for cmd in ([*sudo, apt, "update", "-qq"],
                [*sudo, apt, "install", "-y", "-qq", "--no-install-recommends", *missing]):
        if subprocess.run(cmd, env=env, check=False).returncode != 0:
            raise SystemExit(f"[setup] `{' '.join(cmd)}` failed; see its message above")


def ensure_python_packages() -> None:
    missing = missing_imports()
    if not missing:
        return
    print(f"[setup] installing Python packages (missing: {', '.join(missing)})", flush=True)
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "-e", str(REPO_ROOT)]
    if subprocess.run(cmd, check=False).returncode != 0:
        raise SystemExit(f"[setup] `{' '.join(cmd)}` failed; see pip's message above")
