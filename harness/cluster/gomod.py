"""Go module plumbing for the builds: run `go`, find the pinned modules the proxy refuses, adapt.

A module a version pins may be refused by the Go module proxy here (403, "not available").
Refusals are detected, not listed by hand: a refusal named in `go build`'s error is adapted and
the build retried (go.mod lists modules the built packages never load, so asking the proxy for
every requirement would adapt modules the build does not need). A refused module gets a known adaptation when one names it (e.g. leave
the pulsar component out), else the nearest served patch release of the same minor version
(`go mod edit -replace`). A replacement whose checksum the checksum database lacks gets the
verified lines of another dapr release's go.sum, never an unverified download.
"""

from __future__ import annotations

from harness.errors import UserError
import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ADAPTATIONS",
    "CLI_ADAPTATIONS",
    "Adaptation",
    "BuildError",
    "Progress",
    "adapt_and_build",
    "borrow_sums",
    "download_module",
    "go",
    "missing_sum",
    "module_served",
    "nearest_served",
    "patch_candidates",
    "refusals_in",
]

MAX_ROUNDS = 6  # build attempts, each after adapting what the previous one found refused
PATCH_LOOKAHEAD = 4  # newer patch releases tried for a refused pin, before older ones
SUM_DONOR = "github.com/dapr/dapr@v1.18.3"  # a dapr release whose go.sum verifies many pins
_REFUSED_RE = re.compile(r"([\w.\-/~]+)@(v[\w.\-+]+): reading \S+: 403")
_NO_SUM_RE = re.compile(r"verifying ([\w.\-/~]+)@(v[\w.\-+]+?)(?:/go\.mod)?: .*404")


class BuildError(UserError, RuntimeError):
    """The build cannot go on; the message says which step and what to do."""


class Progress:
    """Prints each step with the time elapsed since setup began."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def say(self, message: str) -> None:
        print(f"[setup {time.monotonic() - self.start:6.1f}s] {message}", flush=True)


def _run_go(args: Sequence[str], cwd: Path | None,
            env: Mapping[str, str] | None) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("go")
    if binary is None:
        raise BuildError("Go is not on PATH; install Go >= 1.26 to build Dapr from its modules")
    return subprocess.run([binary, *args], cwd=cwd, env=None if env is None else dict(env),
                          capture_output=True, text=True, check=False)


def go(args: Sequence[str], cwd: Path | None = None, env: Mapping[str, str] | None = None) -> str:
    proc = _run_go(args, cwd, env)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise BuildError(f"`go {' '.join(args)}` failed:\n{tail}")
    return proc.stdout


def _json_stream(text: str) -> list[dict[str, object]]:
    """`go mod download -json` prints one JSON object after another."""
    decoder, objects, at = json.JSONDecoder(), [], 0
    while (at := _skip_space(text, at)) < len(text):
        obj, at = decoder.raw_decode(text, at)
        objects.append(obj)
    return objects


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at


def _download(modules: Sequence[str], cwd: Path | None = None) -> dict[str, str | None]:
    """module@version -> None if served, else go's error (in ``cwd``, its go.sum applies)."""
    if not modules:
        return {}
    proc = _run_go(["mod", "download", "-json", *modules], cwd, None)
    found: dict[str, str | None] = {}
    for obj in _json_stream(proc.stdout):
        error = obj.get("Error")
        found[f"{obj.get('Path')}@{obj.get('Version')}"] = str(error) if error else None
    return found


def module_served(module_at_version: str, cwd: Path | None = None) -> bool:
    return _download([module_at_version], cwd).get(module_at_version, "missing") is None


def download_module(module_at_version: str) -> Path:
    info = json.loads(go(["mod", "download", "-json", module_at_version]) or "{}")
    if "Dir" not in info:
        raise BuildError(f"module {module_at_version} is not served: {info.get('Error')}")
    return Path(info["Dir"])


def patch_candidates(version: str) -> list[str]:
    """Patch releases of the same minor near ``version``: newer first, then older."""
    match = re.match(r"^v(\d+)\.(\d+)\.(\d+)(-.*)?$", version)
    if not match:
        return []
    major, minor, patch, pre = match.groups()
    patch_n = int(patch)
    newer = [patch_n] if pre else []  # v1.15.0-rc.2 -> v1.15.0 first
    newer += range(patch_n + 1, patch_n + 1 + PATCH_LOOKAHEAD)
    return [f"v{major}.{minor}.{p}" for p in [*newer, *range(patch_n - 1, -1, -1)]]


def nearest_served(module: str, version: str, cwd: Path) -> str | None:
    for candidate in patch_candidates(version):
        if module_served(f"{module}@{candidate}", cwd):
            return candidate
    return None


def borrow_sums(src: Path, module: str, version: str) -> str:
    """Append ``module version``'s go.sum lines from SUM_DONOR's go.sum; the donor's name."""
    donor_sum = download_module(SUM_DONOR) / "go.sum"
    prefixes = (f"{module} {version} ", f"{module} {version}/go.mod ")
    lines = [ln for ln in donor_sum.read_text().splitlines() if ln.startswith(prefixes)]
    if len(lines) < 2:
        raise BuildError(f"{module}@{version}: the checksum database lacks it and "
                         f"{SUM_DONOR}'s go.sum has no verified lines for it")
    with (src / "go.sum").open("a") as fh:
        fh.write("\n".join(lines) + "\n")
    return SUM_DONOR


@dataclass(frozen=True)
class Adaptation:
    """A change to a source tree, applied only when one of ``needs`` is refused."""

    name: str
    why: str
    needs: tuple[str, ...]  # module@version
    apply: Callable[[Path], None]


def _replace(module: str, version: str, sums_from_donor: bool = False) -> Callable[[Path], None]:
    def apply(src: Path) -> None:
        go(["mod", "edit", "-replace", f"{module}={module}@{version}"], cwd=src)
        if sums_from_donor:
            borrow_sums(src, module, version)
    return apply


def _drop_pulsar(src: Path) -> None:
    for path in (src / "cmd/daprd/components").glob("pubsub_pulsar*.go"):
        path.unlink()


ADAPTATIONS = (
    Adaptation(
        name="durabletask-go v0.12.4 -> v0.12.1",
        why="workflow engine dependency: jobs, bindings and reminders do not use it; the "
            "workflow mechanism runs on it",
        needs=("github.com/dapr/durabletask-go@v0.12.4",),
        apply=_replace("github.com/dapr/durabletask-go", "v0.12.1"),
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

# dapr/cli v1.18.0 (the recipe of the vendored archive's README).
CLI_ADAPTATIONS = (
    Adaptation(
        name="go-etcd-cron v0.12.5 -> v0.12.7 (checksums from dapr v1.18.3's go.sum)",
        why="the version daprd 1.18.3 itself uses; the checksum database answers 404 for it",
        needs=("github.com/diagridio/go-etcd-cron@v0.12.5",),
        apply=_replace("github.com/diagridio/go-etcd-cron", "v0.12.7", sums_from_donor=True),
    ),
    Adaptation(
        name="go-sdk v1.15.0-rc.2 -> v1.14.2",
        why="used by the CLI's workflow commands only",
        needs=("github.com/dapr/go-sdk@v1.15.0-rc.2",),
        apply=_replace("github.com/dapr/go-sdk", "v1.14.2"),
    ),
)


def _adapt(src: Path, refused: str, required: str, known: Sequence[Adaptation],
           progress: Progress) -> str:
    """Adapt one refused module; the record of what was done."""
    for adaptation in known:
        if refused in adaptation.needs:
            progress.say(f"not served: {refused}; applying: {adaptation.name}")
            adaptation.apply(src)
            return f"{adaptation.name} ({adaptation.why})"
    module, version = refused.rsplit("@", 1)
    served = nearest_served(module, version, src)
    if served is None:
        raise BuildError(f"{refused} is refused by the Go module proxy and no patch release of "
                         "the same minor version near it is served; no adaptation known")
    go(["mod", "edit", "-replace", f"{required}={module}@{served}"], cwd=src)
    note = f"{module} {version} -> {served} (nearest served patch release; {version} refused)"
    progress.say(f"not served: {refused}; applying: {note}")
    return note


def missing_sum(message: str) -> tuple[str, str] | None:
    """(module, version) whose checksum the checksum database lacks (404), per go's error."""
    match = _NO_SUM_RE.search(message)
    return (match.group(1), match.group(2)) if match else None


def refusals_in(message: str, done: set[str]) -> list[str]:
    """The module@version pins go's error says the proxy refused (403), not in ``done``."""
    return [f"{m}@{v}" for m, v in _REFUSED_RE.findall(message) if f"{m}@{v}" not in done]


def adapt_and_build(src: Path, commands: Sequence[tuple[str, list[str]]],
                    known: Sequence[Adaptation], env: Mapping[str, str],
                    progress: Progress) -> list[str]:
    """Run the ``go build`` commands in ``src``, adapting refused modules first and whenever a
    build names a new one; returns the adaptations applied."""
    applied: list[str] = []
    done: set[str] = set()
    pending: dict[str, str] = {}
    for _ in range(MAX_ROUNDS):
        for refused, required in pending.items():
            covered = [a for a in known if refused in a.needs and a.name in " ".join(applied)]
            done.add(refused)
            if not covered:
                applied.append(_adapt(src, refused, required, known, progress))
        try:
            for name, args in commands:
                progress.say(f"building {name} (first build: several minutes)")
                go(args, cwd=src, env=env)
            return applied
        except BuildError as exc:
            message = str(exc)
            if missing := missing_sum(message):
                module, version = missing
                applied.append(f"checksums of {module}@{version} from "
                               f"{borrow_sums(src, module, version)}'s go.sum")
                pending = {}
                continue
            fresh = refusals_in(message, done)
            if not fresh:
                raise
            pending = {m: m.rsplit("@", 1)[0] for m in fresh}
    raise BuildError(f"build still failing after {MAX_ROUNDS} rounds of adaptations: {applied}")
