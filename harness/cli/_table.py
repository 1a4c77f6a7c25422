"""The command line as data: each command a name, its help, a frozen dataclass of typed
arguments and the function that takes them. ``argparse`` is built from the table; the parsed
namespace becomes the command's dataclass, checked (ranges) before the command runs.

Only the standard library is imported here: `setup` must run on a fresh machine.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import UserError

__all__ = ["Command", "UsageError", "arg", "build_parser", "typed_args"]


class UsageError(UserError):
    """Bad input on the command line: printed as one line, exit status 2."""


def arg(*flags: str, help: str, default: Any = dataclasses.MISSING, minimum: int | None = None,
        **argparse_options: Any) -> Any:
    """A dataclass field that is also a command-line argument: ``flags`` (none: positional),
    its help, its default, an optional ``minimum`` checked after parsing, and any other
    ``add_argument`` option (``nargs``, ``choices``, ``type``, ``metavar``, ``action``)."""
    metadata = {"flags": flags, "help": help, "minimum": minimum, "options": argparse_options}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    args: type  # a frozen dataclass whose fields are ``arg(...)``
    run: Callable[[Any], int]
    description: str = ""
    epilog: str = ""


def _add_field(parser: argparse.ArgumentParser, f: dataclasses.Field[Any]) -> None:
    meta = f.metadata
    options = dict(meta["options"])
    if f.default is not dataclasses.MISSING:
        options.setdefault("default", f.default)
    elif f.default_factory is not dataclasses.MISSING:
        options.setdefault("default", f.default_factory())
    if meta["flags"]:
        parser.add_argument(*meta["flags"], dest=f.name, help=meta["help"], **options)
    else:
        parser.add_argument(f.name, help=meta["help"], **options)


def build_parser(commands: Sequence[Command], **parser_options: Any) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(formatter_class=argparse.RawDescriptionHelpFormatter,
                                     **parser_options)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in commands:
        one = sub.add_parser(command.name, help=command.help,
                             description=command.description or command.help,
                             epilog=command.epilog or None,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        for f in dataclasses.fields(command.args):
            _add_field(one, f)
        one.set_defaults(command_entry=command)
    return parser


def typed_args(command: Command, namespace: argparse.Namespace) -> Any:
    """The command's dataclass from a parsed namespace, every ``minimum`` checked."""
    values = {f.name: getattr(namespace, f.name) for f in dataclasses.fields(command.args)}
    for f in dataclasses.fields(command.args):
        least, value = f.metadata["minimum"], values[f.name]
        if least is not None and value is not None and value < least:
            shown = f.metadata["flags"][0] if f.metadata["flags"] else f.name
            raise UsageError(f"{shown} must be >= {least}, got {value}")
    return command.args(**values)
