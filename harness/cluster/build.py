"""Build Dapr's daprd, scheduler and placement from Go modules into a cache, then install them.

Release downloads and `dapr init` cannot work without internet, so the binaries are built from
the Go module proxy with the machine's own Go configuration. The build runs inside a copy of
dapr's own module so that its go.mod (with its replace lines) applies exactly. Where a module
that dapr pins is not served, a documented adaptation is applied, and only then: see ADAPTATIONS.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.paths import LOCAL_RUNTIME_DIR, cache_dir
from harness.cluster.runtime import DaprMissingError, DaprRuntime, check_runtime_dir, ensure_layout
from harness.cluster.versions import (
    CONTROL_PLANE_BINARIES,
    DAPR_CLI_MODULE,
    DAPR_CLI_VERSION,
    DAPR_MODULE,
    DAPR_RUNTIME_VERSION,
)

__all__ = ["ADAPTATIONS", "BuildError", "build_dapr", "ensure_runtime", "stale_project_build"]

MIN_FREE_BYTES = 6 * 1024**3  # module cache + build cache of a cold daprd build
LDFLAGS = (
    "-s -w "
    f"-X github.com/dapr/dapr/pkg/buildinfo.version={DAPR_RUNTIME_VERSION} "
    f"-X github.com/dapr/kit/logger.DaprVersion={DAPR_RUNTIME_VERSION}"
)
# daprd's component set. `allcomponents` because lock.redis (the distributed lock API) is an
# alpha component that `stablecomponents` leaves out (cmd/daprd/components/lock_redis.go).
DAPRD_BUILD_TAG = "allcomponents"
BUILD_TAGS = {"daprd": DAPRD_BUILD_TAG}


class BuildError(RuntimeError):
    """The build cannot go on; the message says which step and what to do."""


@dataclass(frozen=True)
class Adaptation:
    """A change to dapr's source tree, applied only when one of ``needs`` is not served."""

    name: str
    why: str
    needs: tuple[str, ...]  # module@version
    apply: Callable[[Path], None]


def _replace_durabletask(src: Path) -> None:
    _go(["mod", "edit", "-replace",
         "github.com/dapr/durabletask-go=github.com/dapr/durabletask-go@v0.12.1"], cwd=src)


def _drop_pulsar(src: Path) -> None:
    for path in (src / "cmd/daprd/components").glob("pubsub_pulsar*.go"):
        path.unlink()


ADAPTATIONS = (
    Adaptation(
        name="durabletask-go v0.12.4 -> v0.12.1",
        why="workflow engine dependency: jobs, bindings and reminders do not use it; the "
            "workflow mechanism runs on it",
        needs=("github.com/dapr/durabletask-go@v0.12.4",),
        apply=_replace_durabletask,
    ),
    Adaptation(
        name="pulsar pub/sub component left out of daprd",
        why="its avro and pulsar-client forks are pinned; no scenario uses pulsar",
        needs=(
            "github.com/iskorotkov/avro/v2@v2.33.1",
            "github.com/twmb/pulsar-client-go@v0.20.1-0.20260624144353-90eefc81f70a",
        ),
        apply=_drop_pulsar,
    ),
)


class Progress:
    """Prints each step with the time elapsed since setup began."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def say(self, message: str) -> None:
        print(f"[setup {time.monotonic() - self.start:6.1f}s] {message}", flush=True)


def _go(args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    go = shutil.which("go")
    if go is None:
        raise BuildError("Go is not on PATH; install Go >= 1.26 to build Dapr from its modules")
    proc = subprocess.run(
        [go, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise BuildError(f"`go {' '.join(args)}` failed:\n{tail}")
    return proc.stdout


def module_served(module_at_version: str) -> bool:
    try:
        _go(["mod", "download", "-json", module_at_version])
    except BuildError:
        return False
    return True


def download_module(module_at_version: str) -> Path:
    info = json.loads(_go(["mod", "download", "-json", module_at_version]))
    if "Dir" not in info:
        raise BuildError(f"module {module_at_version} is not served: {info.get('Error')}")
    return Path(info["Dir"])


def recipe_key() -> str:
    """Identifies what a build produces; a changed recipe builds into a fresh cache slot."""
    recipe = json.dumps([LDFLAGS, BUILD_TAGS, [a.name for a in ADAPTATIONS]])
    return hashlib.sha256(recipe.encode()).hexdigest()[:10]


def build_slot() -> Path:
    return cache_dir() / f"dapr-{DAPR_RUNTIME_VERSION}-{recipe_key()}"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Two setups at once (a user and CI) must not build into the same slot together."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _check_disk(where: Path) -> None:
    where.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(where).free
    if free < MIN_FREE_BYTES:
        raise BuildError(
            f"only {free / 1024**3:.1f} GiB free at {where}; a cold Dapr build needs "
            f"{MIN_FREE_BYTES / 1024**3:.0f} GiB (Go module and build caches)"
        )


def _prepare_source(slot: Path, progress: Progress) -> tuple[Path, list[str]]:
    progress.say(f"downloading {DAPR_MODULE}@v{DAPR_RUNTIME_VERSION}")
    pristine = download_module(f"{DAPR_MODULE}@v{DAPR_RUNTIME_VERSION}")
    src = slot / "src"
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(pristine, src)
    for path in [src, *src.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)  # module cache files are read-only
    applied = []
    for adaptation in ADAPTATIONS:
        if all(module_served(m) for m in adaptation.needs):
            continue
        progress.say(f"not served: {', '.join(adaptation.needs)}; applying: {adaptation.name}")
        adaptation.apply(src)
        applied.append(f"{adaptation.name} ({adaptation.why})")
    return src, applied


def _build_binaries(src: Path, out: Path, progress: Progress) -> None:
    env = {**os.environ, "CGO_ENABLED": "0"}
    for name in CONTROL_PLANE_BINARIES:
        progress.say(f"building {name} (first build: several minutes)")
        tags = ["-tags", BUILD_TAGS[name]] if name in BUILD_TAGS else []
        _go(["build", "-mod=mod", "-trimpath", *tags, "-ldflags", LDFLAGS,
             "-o", str(out / name), f"./cmd/{name}"], cwd=src, env=env)


def build_dapr(progress: Progress) -> Path:
    """Build into the cache slot unless it is complete; returns the slot's bin dir."""
    slot = build_slot()
    manifest = slot / "manifest.json"
    with _locked(slot.parent / f"{slot.name}.lock"):
        if manifest.exists():
            progress.say(f"taking the cached build {slot}")
            return slot / "bin"
        _check_disk(slot)
        src, applied = _prepare_source(slot, progress)
        bin_dir = slot / "bin"
        bin_dir.mkdir(exist_ok=True)
        _build_binaries(src, bin_dir, progress)
        manifest.write_text(json.dumps({
            "version": DAPR_RUNTIME_VERSION,
            "adaptations": applied,
            "tags": BUILD_TAGS,
            "go": _go(["version"]).strip(),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": platform.machine(),
        }, indent=2))
        shutil.rmtree(src, ignore_errors=True)
        return bin_dir


def _install(bin_dir: Path, runtime_dir: Path) -> None:
    """Hard-link (or copy) the cached binaries into the project-local runtime dir."""
    target = runtime_dir / "bin"
    target.mkdir(parents=True, exist_ok=True)
    for name in [*CONTROL_PLANE_BINARIES, "dapr"]:
        source, dest = bin_dir / name, target / name
        if not source.exists():
            continue
        dest.unlink(missing_ok=True)
        try:
            os.link(source, dest)
        except OSError:
            shutil.copy2(source, dest)
    shutil.copy2(bin_dir.parent / "manifest.json", runtime_dir / "build-manifest.json")
    ensure_layout(runtime_dir)


def _cli_note(progress: Progress) -> None:
    """The dapr CLI is optional: replicas are started with daprd directly, as `dapr run` does."""
    if shutil.which("dapr"):
        return
    if not module_served(f"{DAPR_CLI_MODULE}@v{DAPR_CLI_VERSION}"):
        progress.say(
            f"dapr CLI v{DAPR_CLI_VERSION} is not served by the Go module proxy here; the harness "
            "starts daprd with the flags `dapr run` would pass and writes the equivalent "
            "`dapr run` commands into each run's commands.sh"
        )


def stale_project_build(runtime: DaprRuntime) -> bool:
    """The project's own .dapr from an older recipe (e.g. daprd without lock.redis)."""
    manifest = runtime.root / "build-manifest.json"
    if runtime.root != LOCAL_RUNTIME_DIR or not manifest.exists():
        return False
    return json.loads(manifest.read_text()).get("tags") != BUILD_TAGS


def ensure_runtime() -> DaprRuntime:
    """A usable pinned Dapr: an existing one if found, else built (or taken from the cache)."""
    progress = Progress()
    from harness.cluster.runtime import locate_runtime

    try:
        runtime = locate_runtime()
        if stale_project_build(runtime):
            raise DaprMissingError(f"{runtime.root} was built with other tags than {BUILD_TAGS}")
        progress.say(f"using Dapr {runtime.version} from {runtime.source}: {runtime.root}")
        return runtime
    except DaprMissingError:
        if os.environ.get("DAPR_RUNTIME_PATH"):
            raise
        progress.say(f"no Dapr {DAPR_RUNTIME_VERSION} install found; installing the project's own")
    bin_dir = build_dapr(progress)
    _install(bin_dir, LOCAL_RUNTIME_DIR)
    _cli_note(progress)
    runtime = check_runtime_dir(LOCAL_RUNTIME_DIR, "project build")
    progress.say(f"Dapr {runtime.version} ready in {runtime.root}")
    return runtime
