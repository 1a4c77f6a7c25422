"""Command line: `python -m harness COMMAND` (or the `dapr-harness` console script).

Only the standard library is imported at module level: `setup` must run on a fresh machine
before the harness's dependencies are installed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence

from .paths import REPO_ROOT

__all__ = ["main"]


def cmd_setup(args: argparse.Namespace) -> int:
    from .bootstrap import ensure_python_packages

    ensure_python_packages()
    from .dapr_build import ensure_runtime

    ensure_runtime()
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    """Set up, then run the whole test suite (unit tests and scenarios on real Dapr)."""
    if cmd_setup(args) != 0:
        return 1
    return subprocess.run([sys.executable, "-m", "pytest", *args.pytest_args], cwd=REPO_ROOT).returncode


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness",
        description="Evidence on real Dapr: Jobs API vs cron binding across app replicas.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    setup = sub.add_parser("setup", help="install Python packages and build/locate Dapr 1.18.3")
    setup.set_defaults(func=cmd_setup)
    test = sub.add_parser("test", help="setup, then run pytest (unit tests and scenarios)")
    test.add_argument("pytest_args", nargs=argparse.REMAINDER, help="passed to pytest")
    test.set_defaults(func=cmd_test)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
