"""The command line: a table of commands over typed arguments; user errors are one line."""

from __future__ import annotations

import dataclasses

import pytest

from harness.cli import COMMANDS, UsageError, build_parser, main, typed_args
from harness.errors import UserError


def test_every_command_has_typed_arguments_and_help() -> None:
    for command in COMMANDS:
        assert dataclasses.is_dataclass(command.args), command.name
        assert command.help, command.name
        for f in dataclasses.fields(command.args):
            assert f.metadata["help"], f"{command.name} {f.name}"


def test_parsed_arguments_become_the_commands_dataclass() -> None:
    parser = build_parser(COMMANDS)
    namespace = parser.parse_args(["run", "comparison", "--repeat", "3"])
    args = typed_args(namespace.command_entry, namespace)
    assert (args.scenarios, args.repeat, args.launcher) == (["comparison"], 3, None)


def test_a_minimum_is_checked_with_one_line() -> None:
    parser = build_parser(COMMANDS)
    namespace = parser.parse_args(["faults", "--trials", "0"])
    with pytest.raises(UsageError, match=r"^--trials must be >= 1, got 0$"):
        typed_args(namespace.command_entry, namespace)


def test_a_user_error_prints_one_line_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "no-such-scenario"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown scenario 'no-such-scenario'") and err.count("\n") == 1


def test_errors_the_user_can_fix_are_user_errors() -> None:
    from harness.cluster.gomod import BuildError
    from harness.cluster.preflight import EnvironmentProblem, PortTaken
    from harness.cluster.redis import RedisMissingError
    from harness.cluster.runtime import DaprMissingError
    from harness.reports.compare import UnknownRun
    from harness.scenario.model import ScenarioError
    from harness.summary import NoRuns

    for error in (BuildError, EnvironmentProblem, PortTaken, RedisMissingError,
                  DaprMissingError, UnknownRun, ScenarioError, NoRuns, UsageError):
        assert issubclass(error, UserError), error.__name__


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(args: object) -> int:
        raise KeyError("a bug")

    monkeypatch.setattr("harness.cli._commands.resolve_scenarios", broken)
    with pytest.raises(KeyError):
        main(["run", "comparison"])
