"""Command line: `python -m harness COMMAND` (or the `dapr-harness` console script).

Only the standard library is imported at module level: `setup` must run on a fresh machine
before the harness's dependencies are installed.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.paths import REPO_ROOT, RESULTS_DIR, RUNS_DIR, SCENARIOS_DIR

__all__ = ["main"]

HEADLINE_SCENARIO = "comparison"
EPILOG = """\
examples:
  python -m harness demo                      set up, run the headline comparison
  python -m harness test -k comparison        set up, run the tests whose name matches
  python -m harness run replica-sweep         run a scenario file's scenarios
  python -m harness run fault-kill-daprd --repeat 5
  python -m harness report && python -m harness adr
  python -m harness compare 0012 0031         two runs, e.g. two Dapr versions

environment:
  DAPR_RUNTIME_PATH   use DIR/.dapr/bin (daprd, scheduler, placement 1.18.3) instead of building
  DAPR_HARNESS_CACHE  where the Dapr build is cached (default ~/.cache/dapr-schedule-harness)
  DAPR_HARNESS_RUNS   where run directories go (default results/runs)
"""


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def cmd_setup(args: argparse.Namespace) -> int:
    from harness.cluster.bootstrap import ensure_python_packages

    ensure_python_packages()
    from harness.cluster.build import ensure_runtime
    from harness.cluster.docker_probe import docker_scheduler_status

    ensure_runtime()
    from harness.bench.native import ensure_benchtool

    print(f"[setup] benchtool (null sink, native load generator): {ensure_benchtool()}", flush=True)
    print(f"[setup] {docker_scheduler_status()}", flush=True)
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    cmd_setup(args)
    command = [sys.executable, "-m", "pytest", *args.pytest_args]
    return subprocess.run(command, cwd=REPO_ROOT, check=False).returncode


def resolve_scenarios(names: Sequence[str]) -> list[Any]:
    """Scenario files, file stems or scenario names (a sweep's name selects all its values)."""
    from harness.scenario.model import load_scenario, load_scenarios

    known = load_scenarios(SCENARIOS_DIR)
    chosen = []
    for name in names:
        path = Path(name)
        if path.suffix in (".yaml", ".yml") and path.exists():
            chosen += load_scenario(path)
            continue
        matches = [s for s in known if name in (s.name, s.source.stem, s.name.split("[")[0])]
        if not matches:
            listing = ", ".join(sorted({s.name for s in known}))
            raise UsageError(f"unknown scenario {name!r}; known: {listing}")
        chosen += matches
    return chosen


def _run_and_print(scenarios: Sequence[Any], repeat: int) -> int:
    from harness.cluster.docker_probe import docker_scheduler_status
    from harness.reports.comparison import mechanism_table
    from harness.runner import run_scenario
    from harness.cluster.runtime import locate_runtime

    runtime = locate_runtime()
    _say(docker_scheduler_status())
    results = [run_scenario(s, runtime, progress=_say) for s in scenarios for _ in range(repeat)]
    summaries = [r.summary for r in results]
    print()
    print(f"Dapr {runtime.version}; runs under {RUNS_DIR}")
    print(mechanism_table(summaries))
    print()
    for summary in summaries:
        t = summary["timings"]
        print(f"{summary['run_id']}: startup {t['startup_s']:.1f} s, window {t['window_s']:.1f} s, "
              f"teardown {t['teardown_s']:.1f} s, total {summary['duration_s']:.1f} s wall")
    failed = [r.summary["run_id"] for r in results if not r.passed]
    if failed:
        print(f"\n{len(failed)} run(s) did not meet their expectations: {', '.join(failed)}")
    return 1 if failed else 0


def cmd_run(args: argparse.Namespace) -> int:
    if args.repeat < 1:
        raise UsageError(f"--repeat must be >= 1, got {args.repeat}")
    return _run_and_print(resolve_scenarios(args.scenarios), args.repeat)


def cmd_demo(args: argparse.Namespace) -> int:
    cmd_setup(args)
    return _run_and_print(resolve_scenarios([HEADLINE_SCENARIO]), 1)


def cmd_report(args: argparse.Namespace) -> int:
    from harness.reports.compare import find_summary
    from harness.reports.comparison import latest_per_scenario, load_summaries, update_readme, write_reports

    runs_dir, out = Path(args.runs_dir), Path(args.out)
    chosen = [find_summary(runs_dir, out / "evidence", r)["run_id"] for r in args.run or []]
    for path in write_reports(runs_dir, out, run_ids=chosen or None):
        print(path)
    summaries = load_summaries(runs_dir)
    if chosen:
        summaries = [s for s in summaries if s["run_id"] in chosen]
    headline = [s for s in latest_per_scenario(summaries) if s["scenario"] == HEADLINE_SCENARIO]
    if headline and out == RESULTS_DIR:
        update_readme(REPO_ROOT / "README.md", headline[0])
        print(REPO_ROOT / "README.md")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from harness.bench.runner import BENCHMARKS, BenchSettings, run_benchmarks
    from harness.cluster.runtime import locate_runtime
    from harness.reports.bench import write_bench_report

    trials = args.trials if args.trials is not None else (1 if args.quick else 3)
    if trials < 1:
        raise UsageError(f"--trials must be >= 1, got {trials}")
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        raise UsageError(f"unknown benchmark {unknown[0]!r}; known: {', '.join(BENCHMARKS)}")
    settings = (BenchSettings.quick(trials, cold_setup=args.cold) if args.quick
                else BenchSettings(trials=trials, cold_setup=args.cold))
    out = Path(args.out)
    run_benchmarks(locate_runtime(), args.names or list(BENCHMARKS), settings,
                   out / "bench.json", _say, note=args.note)
    for path in write_bench_report(out / "bench.json", out):
        print(path)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.reports.compare import compare_runs, find_summary

    evidence = RESULTS_DIR / "evidence"
    a, b = (find_summary(RUNS_DIR, evidence, r) for r in (args.run_a, args.run_b))
    print(compare_runs(a, b))
    return 0


def cmd_adr(args: argparse.Namespace) -> int:
    from harness.reports.adr import write_adr
    from harness.reports.comparison import write_reports

    write_reports(RUNS_DIR, RESULTS_DIR)  # the evidence copies the record links to
    print(write_adr(RUNS_DIR, RESULTS_DIR))
    return 0


def cmd_claims(args: argparse.Namespace) -> int:
    from harness.reports.claims import write_claims

    for path in write_claims(Path(args.runs_dir), Path(args.out), SCENARIOS_DIR):
        print(path)
    return 0


def cmd_faults(args: argparse.Namespace) -> int:
    from harness.reports.faults import write_faults_report

    if args.trials < 1:
        raise UsageError(f"--trials must be >= 1, got {args.trials}")
    for path in write_faults_report(Path(args.runs_dir), Path(args.out), trials=args.trials):
        print(path)
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    from harness.cluster.reaper import reap

    ended = reap(args.run_ids or None)
    for proc in ended:
        print(f"ended pid {proc.pid} of run {proc.run_id}: {proc.cmdline}")
    print(f"{len(ended)} process(es) ended")
    return 0


def _add_runs_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs-dir", default=str(RUNS_DIR),
                        help=f"where the run directories are (default {RUNS_DIR})")


def _add_out(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=str(RESULTS_DIR), help=f"output dir (default {RESULTS_DIR})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness",
        description="Evidence on real Dapr: Jobs API vs cron binding across app replicas.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    setup = sub.add_parser("setup", help="install Python packages; build or locate Dapr 1.18.3",
                           description="Idempotent: installs the Python dependencies and builds "
                           "daprd, scheduler and placement 1.18.3 from Go modules into .dapr/ "
                           "(cached outside the clone), unless DAPR_RUNTIME_PATH or an existing "
                           "install of that version is found.")
    setup.set_defaults(func=cmd_setup)
    test = sub.add_parser("test", help="setup, then run pytest (unit tests and scenarios)")
    test.add_argument("pytest_args", nargs=argparse.REMAINDER, help="arguments passed to pytest")
    test.set_defaults(func=cmd_test)
    demo = sub.add_parser("demo", help="setup, then run the headline comparison and print it")
    demo.set_defaults(func=cmd_demo)
    run = sub.add_parser("run", help="run scenarios on real Dapr and print their tables",
                         description="Starts placement, a scheduler and the scenario's replicas, "
                         "drives them on the scenario's timeline, prints progress (phase, "
                         "triggers seen per mechanism, time left) and the checker's table. Each "
                         "run writes results/runs/<number>-<date>-<time>-<name>-<id>/. Exit "
                         "status 1 if any run missed its expectations.")
    run.add_argument("scenarios", nargs="+", metavar="SCENARIO",
                     help="a scenario file, a file stem (e.g. comparison) or a scenario name")
    run.add_argument("--repeat", type=int, default=1, metavar="K",
                     help="run each scenario K times (default 1)")
    run.set_defaults(func=cmd_run)
    report = sub.add_parser("report", help="write Markdown tables and plots from the runs",
                            description="Writes results/comparison.md (latest run of each "
                            "comparison scenario, or the runs named with --run), timelines and "
                            "lateness plots under results/plots/, copies each cited summary to "
                            "results/evidence/, and refreshes the README's headline table.")
    _add_runs_dir(report)
    report.add_argument("--run", action="append", metavar="RUN_ID",
                        help="report these runs (id or number; repeatable) instead of the latest "
                        "run of each scenario")
    _add_out(report)
    report.set_defaults(func=cmd_report)
    bench = sub.add_parser("bench", help="benchmarks on real Dapr: figures beside Dapr's targets",
                           description="Creations/s (native, Python and gRPC clients), triggers/s "
                           "to a null sink and to the recording app, the recorder's headroom, "
                           "cron precision and @every drift over 600 ticks, and how cost grows "
                           "with replicas, scheduler members, stored and recurring jobs; each "
                           "figure with the CPU of every side. Writes results/bench.json and "
                           "results/bench.md (and plots). All load stays on 127.0.0.1 and stops "
                           "by itself. A full run takes about 45 minutes on 2 cores; --quick "
                           "about 3.")
    bench.add_argument("names", nargs="*", metavar="NAME",
                       help="setup, scheduling, triggering, recorder, precision, replicas, "
                       "stored-jobs, recurring, cost (default: all)")
    bench.add_argument("--trials", type=int, default=None,
                       help="runs per figure (default 3; 1 with --quick)")
    bench.add_argument("--cold", action="store_true",
                       help="setup benchmark also builds Dapr from empty Go caches (minutes)")
    bench.add_argument("--note", metavar="TEXT",
                       help="printed under these benchmarks' stamps in bench.md (e.g. what else ran)")
    bench.add_argument("--quick", action="store_true",
                       help="the smoke-test profile: small sizes, figures printed, minutes")
    _add_out(bench)
    bench.set_defaults(func=cmd_bench)
    compare = sub.add_parser("compare", help="what changed between two runs",
                             description="Prints each run's context (scenario, Dapr version, "
                             "commit, replicas, window) and every figure that differs.")
    compare.add_argument("run_a", metavar="RUN_A", help="run id or number")
    compare.add_argument("run_b", metavar="RUN_B", help="run id or number")
    compare.set_defaults(func=cmd_compare)
    adr = sub.add_parser("adr", help="write the architecture-decision record from the latest runs",
                         description="Writes results/adr-jobs-api-or-cron-binding.md: the "
                         "comparison, sweep, claims, faults and benchmarks that exist, each "
                         "number linked to its run.")
    adr.set_defaults(func=cmd_adr)
    claims = sub.add_parser("claims", help="write results/claims.md from the claim scenarios' runs",
                            description="One row per claim recorded in scenarios/*.yaml (claim: "
                            "or claims:), with the numbers of its scenario's latest run; copies "
                            "each cited summary to results/evidence/.")
    _add_runs_dir(claims)
    _add_out(claims)
    claims.set_defaults(func=cmd_claims)
    faults = sub.add_parser("faults", help="write results/faults.md from the fault scenarios' runs",
                            description="Lost, duplicated, late and replayed ticks per fault and "
                            "mechanism, summed over the latest K runs of each fault scenario "
                            "(run them with: python -m harness run fault-... --repeat K); copies "
                            "each cited summary to results/evidence/.")
    faults.add_argument("--trials", type=int, default=2, metavar="K",
                        help="latest runs per fault scenario to sum (default 2)")
    _add_runs_dir(faults)
    _add_out(faults)
    faults.set_defaults(func=cmd_faults)
    clean = sub.add_parser("clean", help="end processes a crashed run left behind (by run tag)")
    clean.add_argument("run_ids", nargs="*", metavar="RUN_ID",
                       help="end every process of these runs (default: all whose harness is gone)")
    clean.set_defaults(func=cmd_clean)
    return parser


def _sigterm_as_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    # Everything after `test` belongs to pytest, options included (argparse would claim them).
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["test"]:
        args = argparse.Namespace(func=cmd_test, pytest_args=argv[1:])
    else:
        args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)  # tear down on kill, too
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted; everything this run started has been stopped", file=sys.stderr)
        return 130
    except Exception as exc:  # user-facing errors: one line, no traceback
        if not _is_user_error(exc):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _is_user_error(exc: Exception) -> bool:
    names = {"UsageError", "ScenarioError", "DaprMissingError", "BuildError", "UnknownRun"}
    return type(exc).__name__ in names or isinstance(exc, ValueError) and "no runs" in str(exc)
