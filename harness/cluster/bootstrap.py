"""Install the harness's Python dependencies before anything imports them.

Runs on a fresh machine with only the standard library, so it imports nothing else.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

from harness.paths import REPO_ROOT

# Import names of what pyproject.toml requires; any missing one means `pip install -e .`.
REQUIRED_IMPORTS = (
    "pytest", "httpx", "fastapi", "uvicorn", "yaml", "docker", "tabulate", "psutil",
    "matplotlib", "pydantic", "croniter", "prometheus_client", "pytest_timeout", "dapr",
)


def missing_imports() -> list[str]:
    return [name for name in REQUIRED_IMPORTS if importlib.util.find_spec(name) is None]


def ensure_python_packages() -> None:
    missing = missing_imports()
    if not missing:
        return
    print(f"[setup] installing Python packages (missing: {', '.join(missing)})", flush=True)
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "-e", str(REPO_ROOT)]
    if subprocess.run(cmd, check=False).returncode != 0:
        raise SystemExit(f"[setup] `{' '.join(cmd)}` failed; see pip's message above")
