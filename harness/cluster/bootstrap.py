"""Install the harness's Python dependencies before anything imports them.

Runs on a fresh machine with only the standard library, so it imports nothing else.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib

from harness.paths import REPO_ROOT

__all__ = ["APT_PACKAGES", "ensure_apt_packages", "ensure_python_packages", "missing_imports",
           "required_distributions"]

# Debian packages the runs need: the real Redis that the reminder, workflow, binding-lock and
# binding-claim mechanisms use (harness/cluster/redis.py), and nft, which cuts Scheduler members
# apart in network-fault runs (harness/cluster/netcut.py). binary -> package.
APT_PACKAGES = {"redis-server": "redis-server", "nft": "nftables"}


def required_distributions() -> list[str]:
    """The requirements pyproject.toml lists (its one list of dependencies), as written."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return list(project["dependencies"])


def _satisfied(requirement: str) -> bool:
    name = re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]
    try:
        version = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    try:  # packaging comes with pip and pytest; without it, presence is all we can check
        from packaging.requirements import Requirement
    except ImportError:
        return True
    return Requirement(requirement).specifier.contains(version, prereleases=True)


def missing_imports() -> list[str]:
    """Requirements not installed at a version they allow; any means `pip install -e .`."""
    return [r for r in required_distributions() if not _satisfied(r)]


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
