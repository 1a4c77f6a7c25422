"""Finding the Dapr binaries a run uses: any install of Dapr >= 1.14, used as it is.

An install is a `.dapr` directory (bin/daprd, bin/scheduler, bin/placement, components/,
config.yaml), the layout `dapr init --slim` makes. Its version is read from `daprd --version`
and stamped on every run; a version older than the first with a Scheduler is refused.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UserError
from harness.paths import LOCAL_RUNTIME_DIR, REPO_ROOT
from harness.cluster.versions import (
    CONTROL_PLANE_BINARIES,
    DEFAULT_DAPR_VERSION,
    MIN_DAPR_VERSION,
    normalize_version,
    version_key,
)

__all__ = [
    "DaprMissingError",
    "DaprRuntime",
    "locate_runtime",
    "logged_version",
    "project_runtime_dir",
    "runtime_dir_candidates",
    "usable_version",
]

# Project builds of versions other than the default: .dapr-versions/<version>/.dapr
VERSIONS_DIR = REPO_ROOT / ".dapr-versions"

_STARTING_RE = re.compile(r"Starting Dapr [\w ]+? -- version (\S+)")

CONFIG_YAML = """\
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: daprConfig
spec: {}
"""


class DaprMissingError(UserError, RuntimeError):
    """No usable Dapr install. The message says where we looked and what to run."""


@dataclass(frozen=True)
class DaprRuntime:
    root: Path  # a `.dapr` directory: bin/, components/, config.yaml
    version: str
    source: str  # how it was found, for the record

    def binary(self, name: str) -> Path:
        return self.root / "bin" / name

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"


def binary_version(path: Path) -> str | None:
    """What ``daprd --version`` prints; None for binaries that have no --version flag."""
    try:
        out = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=20, check=False
        )
    except OSError:
        return None
    text = out.stdout.strip()
    return text if out.returncode == 0 and text else None


def project_runtime_dir(version: str | None = None) -> Path:
    """Where setup installs the project's own build of ``version`` (default: the default)."""
    version = normalize_version(version or DEFAULT_DAPR_VERSION)
    if version == DEFAULT_DAPR_VERSION:
        return LOCAL_RUNTIME_DIR
    return VERSIONS_DIR / version / ".dapr"


def runtime_dir_candidates(version: str | None = None) -> list[tuple[Path, str, bool]]:
    """(dir, source, explicit) in the order they are tried. An explicit one must be usable.

    With no ``version`` asked, DAPR_RUNTIME_PATH is explicit: it is used whatever its version.
    With a version asked, the project's build of that version comes first."""
    found: list[tuple[Path, str, bool]] = []
    if explicit := os.environ.get("DAPR_RUNTIME_PATH"):
        found.append((Path(explicit) / ".dapr", "DAPR_RUNTIME_PATH", version is None))
    found.insert(0 if version else len(found),
                 (project_runtime_dir(version), "project build", False))
    if daprd := shutil.which("daprd"):
        found.append((Path(daprd).resolve().parent.parent, "daprd on PATH", False))
    found.append((Path.home() / ".dapr", "~/.dapr (dapr init)", False))
    return found


def usable_version(reported: str | None) -> str | None:
    """The x.y.z a daprd reported if the harness can drive it (>= 1.14), else None."""
    try:
        version = normalize_version(reported or "")
    except ValueError:  # "edge" (built without version ldflags) or nothing at all
        return None
    return version if version_key(version) >= version_key(MIN_DAPR_VERSION) else None


def check_runtime_dir(root: Path, source: str, want: str | None = None) -> DaprRuntime:
    """The runtime in ``root`` if it has every binary, at ``want`` if given (else any >= 1.14)."""
    missing = [n for n in CONTROL_PLANE_BINARIES if not (root / "bin" / n).is_file()]
    if missing:
        raise DaprMissingError(f"{source}: {root}/bin lacks {', '.join(missing)}")
    reported = binary_version(root / "bin" / "daprd")
    version = usable_version(reported)
    if version is None:
        raise DaprMissingError(
            f"{source}: {root}/bin/daprd reports version {reported or 'unknown'}; the harness "
            f"needs a released Dapr >= {MIN_DAPR_VERSION} (the first with the Scheduler)"
        )
    if want is not None and version != normalize_version(want):
        raise DaprMissingError(f"{source}: {root}/bin/daprd is {version}, not {want}")
    ensure_layout(root)
    return DaprRuntime(root=root, version=version, source=source)


def ensure_layout(root: Path) -> None:
    """What `dapr init --slim` leaves beside the binaries: a components dir and a config."""
    (root / "components").mkdir(parents=True, exist_ok=True)
    config = root / "config.yaml"
    if not config.exists():
        config.write_text(CONFIG_YAML)


def locate_runtime(version: str | None = None) -> DaprRuntime:
    """The first usable runtime (of ``version`` if given); an unusable explicit one is an error."""
    refusals: list[str] = []
    for root, source, explicit in runtime_dir_candidates(version):
        try:
            return check_runtime_dir(root, source, want=version)
        except DaprMissingError as exc:
            if explicit:
                raise
            refusals.append(str(exc))
    setup = "python -m harness setup" + (f" --dapr-version {version}" if version else "")
    raise DaprMissingError(
        f"no Dapr {version or f'>= {MIN_DAPR_VERSION}'} found: {'; '.join(refusals)}. Run "
        f"`{setup}` to build it, or set DAPR_RUNTIME_PATH to a directory whose .dapr/bin holds "
        "daprd, scheduler and placement"
    )


def logged_version(log_path: Path) -> str | None:
    """The version a scheduler or placement logged at start (they have no --version flag)."""
    try:
        with log_path.open(errors="replace") as fh:
            for line in fh:
                if match := _STARTING_RE.search(line):
                    return match.group(1)
    except OSError:
        return None
    return None
