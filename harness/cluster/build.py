"""Build Dapr's daprd, scheduler and placement (any version) and the dapr CLI into a cache.

Release downloads and `dapr init` cannot work without internet, so the binaries are built from
the Go module proxy with the machine's own Go configuration. The build runs inside a copy of
dapr's own module so that its go.mod (with its replace lines) applies exactly. Where a module a
version pins is not served, an adaptation is applied, and only then (see harness/cluster/gomod.py);
each one is recorded in the cache entry's manifest.json and in every run's summary.

A build is written into a temporary directory beside its cache entry and renamed into place
once complete, so an interrupted build (Ctrl-C, a crash, a full disk) never leaves a cache entry
that looks finished; leftovers of a killed build are removed by the next build of that entry.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import shutil
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.cluster.gomod import (
    ADAPTATIONS,
    CLI_ADAPTATIONS,
    BuildError,
    Progress,
    adapt_and_build,
    download_module,
    go,
)
from harness.cluster.runtime import (
    DaprMissingError,
    DaprRuntime,
    check_runtime_dir,
    ensure_layout,
    locate_runtime,
    project_runtime_dir,
)
from harness.cluster.versions import (
    CONTROL_PLANE_BINARIES,
    DAPR_CLI_VERSION,
    DAPR_MODULE,
    DEFAULT_DAPR_VERSION,
    normalize_version,
)
from harness.paths import LOCAL_CLI, cache_dir

__all__ = [
    "ADAPTATIONS",
    "BUILD_TAGS",
    "DAPRD_BUILD_TAG",
    "LOCK_REDIS_TAG",
    "BuildError",
    "build_cli",
    "build_dapr",
    "build_slot",
    "build_tags",
    "cached_build",
    "ensure_cli",
    "ensure_runtime",
    "find_cli",
    "stale_project_build",
]

MIN_FREE_BYTES = 6 * 1024**3  # module cache + build cache of a cold daprd build
# The build tags of daprd (cmd/daprd/components/zz_notag.go panics without one). A parameter
# of the recipe: changing it builds into a fresh cache entry. The pinned version gets
# `allcomponents` because lock.redis (the distributed lock API, for binding-lock) is an alpha
# component that `stablecomponents` leaves out (cmd/daprd/components/lock_redis.go). The other
# versions run the version matrix, the mechanisms scenario (binding-lock) included, but their
# `allcomponents` sets pull modules that no longer build with this Go (1.16.0's kitex binding
# needs github.com/choleraehyq/pid, whose assembly Go 1.26 refuses): they build the stable set
# plus lock.redis, whose file's build constraint is widened with the LOCK_REDIS_TAG tag.
DAPRD_BUILD_TAG = "allcomponents"
LOCK_REDIS_TAG = "lockredis"
OTHER_VERSIONS_BUILD_TAG = f"stablecomponents,{LOCK_REDIS_TAG}"
BUILD_TAGS = {"daprd": DAPRD_BUILD_TAG}
_LOCK_REDIS_FILE = "cmd/daprd/components/lock_redis.go"
_LOCK_REDIS_EDIT = (f"lock.redis added to the stablecomponents build ({_LOCK_REDIS_FILE}: "
                    f"//go:build allcomponents || {LOCK_REDIS_TAG})")


def build_tags(version: str) -> dict[str, str]:
    """The Go build tags of each binary of ``version``."""
    if version == DEFAULT_DAPR_VERSION:
        return BUILD_TAGS
    return {"daprd": OTHER_VERSIONS_BUILD_TAG}


def _widen_lock_redis(src: Path) -> str:
    """Register lock.redis under LOCK_REDIS_TAG too; the record of the edit."""
    path = src / _LOCK_REDIS_FILE
    text = path.read_text()
    if not text.startswith("//go:build allcomponents\n"):
        raise BuildError(f"{path}: expected it to start with //go:build allcomponents")
    path.write_text(text.replace("//go:build allcomponents\n",
                                 f"//go:build allcomponents || {LOCK_REDIS_TAG}\n", 1))
    return _LOCK_REDIS_EDIT


CLI_SOURCE_ENV = "DAPR_CLI_SOURCE"


def ldflags(version: str) -> str:
    """The version stamps dapr's Makefile sets; an unstamped daprd says `edge` (the CLI then
    drops the scheduler address in multi-app runs)."""
    return (
        "-s -w "
        f"-X github.com/dapr/dapr/pkg/buildinfo.version={version} "
        f"-X github.com/dapr/kit/logger.DaprVersion={version}"
    )


def cli_ldflags(version: str) -> str:
    """The CLI's own version stamps (dapr/cli Makefile)."""
    return (f"-s -w -X main.version={version} -X main.apiVersion=1.0 "
            f"-X github.com/dapr/cli/pkg/standalone.gitversion=v{version}")


def recipe_key(version: str = DEFAULT_DAPR_VERSION) -> str:
    """Identifies what a build produces; a changed recipe builds into a fresh cache slot."""
    recipe = json.dumps([ldflags(version), build_tags(version), [a.name for a in ADAPTATIONS]])
    return hashlib.sha256(recipe.encode()).hexdigest()[:10]


def build_slot(version: str = DEFAULT_DAPR_VERSION) -> Path:
    return cache_dir() / f"dapr-{version}-{recipe_key(version)}"


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


def _writable_copy(pristine: Path, src: Path) -> None:
    shutil.copytree(pristine, src)
    for path in [src, *src.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)  # module cache files are read-only


def cached_build(slot: Path, build: Callable[[Path], dict[str, Any]],
                 progress: Progress) -> Path:
    """The complete cache entry ``slot``, built by ``build(tmp)`` into a temp dir if missing.

    ``build`` fills ``tmp/bin`` and may use ``tmp/src``; it returns the manifest. Only a
    finished build is renamed to ``slot`` (rename is atomic on one filesystem)."""
    with _locked(slot.parent / f"{slot.name}.lock"):
        if (slot / "manifest.json").exists():
            progress.say(f"taking the cached build {slot}")
            return slot
        for stale in slot.parent.glob(f".{slot.name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)  # a killed build's leftovers
        _check_disk(slot.parent)
        tmp = slot.parent / f".{slot.name}.tmp-{os.getpid()}"
        started = time.monotonic()
        try:
            (tmp / "bin").mkdir(parents=True)
            manifest = build(tmp)
            manifest |= {
                "machine": platform.machine(),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "build_seconds": round(time.monotonic() - started, 1),
            }
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
            shutil.rmtree(tmp / "src", ignore_errors=True)
            if slot.exists():  # an entry without manifest: written by an older, non-atomic build
                shutil.rmtree(slot)
            os.rename(tmp, slot)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        progress.say(f"built {slot.name} in {time.monotonic() - started:.0f} s")
        return slot


def build_dapr(progress: Progress, version: str = DEFAULT_DAPR_VERSION) -> Path:
    """Build ``version`` into its cache slot unless it is complete; returns the slot's bin dir."""
    version = normalize_version(version)

    def build(tmp: Path) -> dict[str, Any]:
        progress.say(f"downloading {DAPR_MODULE}@v{version}")
        src = tmp / "src"
        _writable_copy(download_module(f"{DAPR_MODULE}@v{version}"), src)
        env = {**os.environ, "CGO_ENABLED": "0"}
        commands = []
        for name in CONTROL_PLANE_BINARIES:
            tags = ["-tags", build_tags(version)[name]] if name in build_tags(version) else []
            commands.append((name, ["build", "-mod=mod", "-trimpath", *tags, "-ldflags",
                                    ldflags(version), "-o", str(tmp / "bin" / name),
                                    f"./cmd/{name}"]))
        edits = ([_widen_lock_redis(src)] if LOCK_REDIS_TAG in build_tags(version)["daprd"]
                 else [])
        applied = edits + adapt_and_build(src, commands, ADAPTATIONS, env, progress)
        return {"version": version, "adaptations": applied, "tags": build_tags(version),
                "go": go(["version"]).strip()}

    return cached_build(build_slot(version), build, progress) / "bin"


def _cli_tree(source: Path, into: Path) -> tuple[Path, str]:
    """A writable copy of the CLI's source (an archive or a checkout) and its sha256 or path."""
    if source.is_dir():
        shutil.copytree(source, into, ignore=shutil.ignore_patterns(".git"))
        return into, str(source.resolve())
    with tarfile.open(source) as archive:
        archive.extractall(into, filter="data")
    roots = [p.parent for p in into.rglob("main.go") if (p.parent / "go.mod").exists()]
    if not roots:
        raise BuildError(f"{source}: no main.go beside a go.mod; is it the dapr/cli source?")
    return min(roots, key=lambda p: len(p.parts)), hashlib.sha256(source.read_bytes()).hexdigest()


def _cli_key(source: Path) -> str:
    ident = str(source.resolve()) if source.is_dir() else hashlib.sha256(
        source.read_bytes()).hexdigest()
    recipe = json.dumps([ident, cli_ldflags(DAPR_CLI_VERSION), [a.name for a in CLI_ADAPTATIONS]])
    return hashlib.sha256(recipe.encode()).hexdigest()[:10]


def build_cli(source: Path, progress: Progress) -> Path:
    """Build the dapr CLI from its source (archive or checkout) into the cache; the binary."""
    if not source.exists():
        raise BuildError(f"{CLI_SOURCE_ENV}={source}: no such file or directory")

    def build(tmp: Path) -> dict[str, Any]:
        progress.say(f"building the dapr CLI v{DAPR_CLI_VERSION} from {source}")
        src, ident = _cli_tree(source, tmp / "src")
        env = {**os.environ, "CGO_ENABLED": "0"}
        command = ("dapr", ["build", "-mod=mod", "-ldflags", cli_ldflags(DAPR_CLI_VERSION),
                            "-o", str(tmp / "bin" / "dapr"), "."])
        applied = adapt_and_build(src, [command], CLI_ADAPTATIONS, env, progress)
        return {"cli_version": DAPR_CLI_VERSION, "source": ident, "adaptations": applied,
                "go": go(["version"]).strip()}

    slot = cache_dir() / f"dapr-cli-{DAPR_CLI_VERSION}-{_cli_key(source)}"
    return cached_build(slot, build, progress) / "bin" / "dapr"


def find_cli() -> Path | None:
    """The dapr CLI a user has (on PATH, from Dapr's installer), else the project's build."""
    if on_path := shutil.which("dapr"):
        return Path(on_path)
    return LOCAL_CLI if LOCAL_CLI.is_file() else None


def _link(source: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.unlink(missing_ok=True)
    try:
        os.link(source, dest)
    except OSError:
        shutil.copy2(source, dest)


def _install(bin_dir: Path, runtime_dir: Path) -> None:
    """Hard-link (or copy) the cached binaries into a project-local runtime dir."""
    for name in CONTROL_PLANE_BINARIES:
        _link(bin_dir / name, runtime_dir / "bin" / name)
    shutil.copy2(bin_dir.parent / "manifest.json", runtime_dir / "build-manifest.json")
    ensure_layout(runtime_dir)


def ensure_cli(progress: Progress) -> Path | None:
    """The dapr CLI: on PATH, or built from DAPR_CLI_SOURCE; None (said in one line) if neither."""
    if on_path := shutil.which("dapr"):
        progress.say(f"using the dapr CLI on PATH: {on_path}")
        return Path(on_path)
    source = os.environ.get(CLI_SOURCE_ENV)
    if not source and LOCAL_CLI.is_file():
        progress.say(f"using the dapr CLI built earlier: {LOCAL_CLI}")
        return LOCAL_CLI
    if not source:
        progress.say(f"no dapr CLI on PATH and {CLI_SOURCE_ENV} not set: the CLI launchers "
                     "fall back to starting daprd directly (launcher daprd)")
        return None
    binary = build_cli(Path(source), progress)
    _link(binary, LOCAL_CLI)
    shutil.copy2(binary.parent.parent / "manifest.json", LOCAL_CLI.parent / "cli-manifest.json")
    progress.say(f"dapr CLI v{DAPR_CLI_VERSION} ready: {LOCAL_CLI}")
    return LOCAL_CLI


def stale_project_build(runtime: DaprRuntime) -> bool:
    """A project build (``.dapr`` or ``.dapr-versions``) from an older recipe, e.g. a daprd
    without lock.redis: rebuilt (or taken from the cache) rather than used."""
    manifest = runtime.root / "build-manifest.json"
    if runtime.source != "project build" or not manifest.exists():
        return False
    wanted = build_tags(runtime.version)
    return json.loads(manifest.read_text()).get("tags", wanted) != wanted


def ensure_runtime(version: str | None = None) -> DaprRuntime:
    """A usable Dapr (of ``version`` if given): an existing install if found, else built."""
    progress = Progress()
    try:
        runtime = locate_runtime(version)
        if stale_project_build(runtime):
            raise DaprMissingError(f"{runtime.root} was built with other tags than "
                                   f"{build_tags(runtime.version)}")
        progress.say(f"using Dapr {runtime.version} from {runtime.source}: {runtime.root}")
        return runtime
    except DaprMissingError:
        if os.environ.get("DAPR_RUNTIME_PATH") and version is None:
            raise
    version = normalize_version(version or DEFAULT_DAPR_VERSION)
    progress.say(f"no Dapr {version} install found; building the project's own")
    target = project_runtime_dir(version)
    _install(build_dapr(progress, version), target)
    runtime = check_runtime_dir(target, "project build", want=version)
    progress.say(f"Dapr {runtime.version} ready in {runtime.root}")
    return runtime
