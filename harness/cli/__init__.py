"""Command line: `python -m harness COMMAND` (or the `dapr-harness` console script).

``COMMANDS`` is the table: a name, its help, its typed arguments and what it runs
(``_commands``); the parser is built from it (``_table``). A ``UserError`` (a bad scenario file,
a missing tool, no runs to report) is printed as one line with exit status 2; anything else is a
bug and keeps its traceback. Only the standard library is imported at module level: `setup` must
run on a fresh machine before the harness's dependencies are installed.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence

import harness.cli._commands as c
from harness.cli._table import Command, UsageError, build_parser, typed_args
from harness.errors import UserError

__all__ = ["COMMANDS", "UsageError", "build_parser", "main", "typed_args"]

EPILOG = """\
examples:
  python -m harness demo                      set up, run the headline comparison
  python -m harness test -k comparison        set up, run the tests whose name matches
  python -m harness run replica-sweep         run a scenario file's scenarios
  python -m harness run fault-kill-daprd --repeat 5
  python -m harness report && python -m harness adr
  python -m harness compare 0012 0031         two runs, e.g. two Dapr versions

environment:
  DAPR_RUNTIME_PATH   use DIR/.dapr/bin (daprd, scheduler, placement, any version >= 1.14)
  DAPR_CLI_SOURCE     setup builds the dapr CLI from this archive or checkout of dapr/cli
  DAPR_HARNESS_LAUNCHER  default launcher: daprd, dapr-run or dapr-run-f
  DAPR_HARNESS_CACHE  where the Dapr build is cached (default ~/.cache/dapr-schedule-harness)
  DAPR_HARNESS_RUNS   where run directories go (default results/runs)
"""

COMMANDS: tuple[Command, ...] = (
    Command("setup", "install Python packages; build or locate Dapr and the dapr CLI",
            c.SetupArgs, c.setup,
            "Idempotent: installs the Python dependencies, then uses an installed Dapr >= 1.14 "
            "(DAPR_RUNTIME_PATH, .dapr/, daprd on PATH, ~/.dapr) or builds daprd, scheduler and "
            "placement (1.18.3, or each --dapr-version) from Go modules (cached outside the "
            "clone); builds the dapr CLI from DAPR_CLI_SOURCE when no dapr is on PATH."),
    Command("test", "setup, then run pytest (unit tests and scenarios)", c.TestArgs, c.test),
    Command("demo", "setup, then run the headline comparison and print it", c.NoArgs, c.demo),
    Command("run", "run scenarios on real Dapr and print their tables", c.RunArgs, c.run,
            "Starts placement, a scheduler and the scenario's replicas, drives them on the "
            "scenario's timeline, prints progress (phase, triggers seen per mechanism, time "
            "left) and the checker's table. Each run writes "
            "results/runs/<number>-<date>-<time>-<name>-<id>/. Exit status 1 if any run missed "
            "its expectations."),
    Command("matrix", "the same scenarios on several Dapr versions: results/versions.md",
            c.MatrixArgs, c.matrix,
            "Builds (or finds) each Dapr version, runs the scenarios once on each, and writes "
            "results/versions.json (which run is which) and results/versions.md: every "
            "comparison, mechanism and fault row and every claim by version, cells that differ "
            "from the newest version marked, each cell linked to its run, versions that did not "
            "build and why. A cold build of one extra version takes several minutes on 2 cores. "
            "Runs of earlier invocations are kept, so versions can be added one at a time. With "
            "--field, the field reports too (see `field`), a version at a time.",
            "default scenarios: comparison, mechanisms, every claim scenario, fault-kill-daprd, "
            "fault-kill-scheduler\n"
            "everything, every version: python -m harness matrix --field\n"
            "example: python -m harness matrix --versions 1.14.0 1.16.0 1.18.3 comparison"),
    Command("field", "field reports: Dapr bugs from its trackers on every version",
            c.FieldArgs, c.field,
            "Runs each field scenario (scenarios/field/*.yaml) --trials times on every Dapr "
            "version its report applies to (built or found first), and writes results/field.json "
            "(which run is which) and results/field-reports.md: per report and version "
            "reproduced, not reproduced or n/a with the figures that decide it, where the "
            "harness and the report disagree, and which version to pin. Runs of earlier "
            "invocations are kept, so versions and reports can be added one at a time.",
            "example: python -m harness field jobs-http-no-data --versions 1.16.0 1.18.3"),
    Command("report", "write Markdown tables and plots from the runs", c.ReportArgs, c.report,
            "Writes results/comparison.md (latest run of each comparison scenario, or the runs "
            "named with --run), timelines and lateness plots under results/plots/, copies each "
            "cited summary to results/evidence/, and refreshes the README's headline table."),
    Command("bench", "benchmarks on real Dapr: figures beside Dapr's targets",
            c.BenchArgs, c.bench,
            "Creations/s (native, Python and gRPC clients), triggers/s to a null sink and to the "
            "recording app, the recorder's headroom, cron precision and @every drift over 600 "
            "ticks, and how cost grows with replicas, scheduler members, stored and recurring "
            "jobs; each figure with the CPU of every side. Writes results/bench.json and "
            "results/bench.md (and plots). All load stays on 127.0.0.1 and stops by itself. A "
            "full run takes about 45 minutes on 2 cores; --quick about 3."),
    Command("reliability", "fault the harness itself; write results/reliability.md",
            c.ReliabilityArgs, c.reliability,
            "Kills the runner (SIGKILL, SIGINT, SIGTERM) mid-window, SIGKILLs the app during a "
            "20,000-trigger burst, feeds malformed scenario files by category and tries bad "
            "environments; writes results/reliability.json and results/reliability.md with what "
            "each left running, held or lost. About 5 minutes."),
    Command("compare", "what changed between two runs", c.CompareArgs, c.compare,
            "Prints each run's context (scenario, Dapr version, commit, replicas, window) and "
            "every figure that differs."),
    Command("adr", "write the architecture-decision record from the latest runs",
            c.AdrArgs, c.adr,
            "Writes results/adr-jobs-api-or-cron-binding.md: the comparison, sweep, claims, "
            "faults and benchmarks that exist, each number linked to its run."),
    Command("claims", "write results/claims.md from the claim scenarios' runs",
            c.RenderArgs, c.claims,
            "One row per claim recorded in scenarios/*.yaml (claim: or claims:), with the "
            "numbers of its scenario's latest run; copies each cited summary to "
            "results/evidence/."),
    Command("faults", "write results/faults.md from the fault scenarios' runs",
            c.FaultsArgs, c.faults,
            "Lost, duplicated, late and replayed ticks per fault and mechanism, summed over the "
            "latest K runs of each fault scenario (run them with: python -m harness run "
            "fault-... --repeat K); copies each cited summary to results/evidence/."),
    Command("evidence", "run every scenario and regenerate every report",
            c.EvidenceArgs, c.evidence,
            "From a clean tree: runs every scenario of scenarios/ (each fault scenario K times, "
            "the scheduler-member one at least --member-trials times), then report, claims, "
            "faults (latest K runs) and adr, and rechecks every cited verdict. About 40 minutes "
            "on 2 cores. Benchmarks, the version matrix and the reliability report have their "
            "own commands (bench, matrix, reliability)."),
    Command("recheck", "recompute every cited verdict from its stored history",
            c.RecheckArgs, c.recheck,
            "For each run under results/evidence/ (or the runs named), loads the stored history "
            "and scenario, runs today's checkers and prints every figure or verdict that differs "
            "from the stored summary. Needs no Dapr. Exit status 1 on any difference."),
    Command("clean", "end processes a crashed run left behind (by run tag)",
            c.CleanArgs, c.clean),
)
_BY_NAME = {command.name: command for command in COMMANDS}


def _sigterm_as_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _reap_leftovers() -> None:
    """Every start ends what earlier runs whose runner died left running (by run tag)."""
    try:
        from harness.cluster.reaper import reap_orphans
    except ImportError:  # a fresh machine before `setup` has installed psutil: nothing to reap
        return
    reap_orphans(c.say)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["test"]:  # everything after `test` is pytest's, options included
        command, args = _BY_NAME["test"], c.TestArgs(pytest_args=argv[1:])
    else:
        parser = build_parser(COMMANDS, prog="python -m harness", epilog=EPILOG,
                              description="Evidence on real Dapr: Jobs API vs cron binding "
                              "across app replicas.")
        namespace = parser.parse_args(argv)
        command = namespace.command_entry
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)  # tear down on kill, too
    try:
        if argv[:1] != ["test"]:
            args = typed_args(command, namespace)
        _reap_leftovers()
        return int(command.run(args))
    except KeyboardInterrupt:
        print("interrupted; everything this run started has been stopped", file=sys.stderr)
        return 130
    except UserError as exc:
        print(f"error: {' '.join(str(exc).splitlines())}", file=sys.stderr)
        return 2
