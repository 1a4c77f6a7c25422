"""Install the harness's Python dependencies before anything imports them.

Runs on a fresh machine with only the standard library, so it imports nothing else.
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import tomllib

from harness.paths import REPO_ROOT

__all__ = ["ensure_python_packages", "missing_imports", "required_distributions"]


def required_distributions() -> list[str]:
    """The distribution names pyproject.toml requires (its one list of dependencies)."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0] for spec in project["dependencies"]]


def missing_imports() -> list[str]:
    """Required distributions that are not installed; any means `pip install -e .`."""
    missing = []
    for name in required_distributions():
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    return missing


def ensure_python_packages() -> None:
    missing = missing_imports()
    if not missing:
        return
    print(f"[setup] installing Python packages (missing: {', '.join(missing)})", flush=True)
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "-e", str(REPO_ROOT)]
    if subprocess.run(cmd, check=False).returncode != 0:
        raise SystemExit(f"[setup] `{' '.join(cmd)}` failed; see pip's message above")
