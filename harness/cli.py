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

from harness.paths import LOAD_SCENARIOS_DIR, REPO_ROOT, RESULTS_DIR, RUNS_DIR, SCENARIOS_DIR
from harness.scenario.mechanisms import LAUNCHERS

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
  DAPR_RUNTIME_PATH   use DIR/.dapr/bin (daprd, scheduler, placement, any version >= 1.14)
  DAPR_CLI_SOURCE     setup builds the dapr CLI from this archive or checkout of dapr/cli
  DAPR_HARNESS_LAUNCHER  default launcher: daprd, dapr-run or dapr-run-f
  DAPR_HARNESS_CACHE  where the Dapr build is cached (default ~/.cache/dapr-schedule-harness)
  DAPR_HARNESS_RUNS   where run directories go (default results/runs)
"""


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def cmd_setup(args: argparse.Namespace) -> int:
    from harness.cluster.bootstrap import ensure_apt_packages, ensure_python_packages

    ensure_python_packages()
    ensure_apt_packages()
    from harness.cluster.build import ensure_cli, ensure_runtime
    from harness.cluster.docker_probe import docker_scheduler_status
    from harness.cluster.gomod import Progress

    for version in getattr(args, "dapr_version", None) or [None]:
        ensure_runtime(version)
    ensure_cli(Progress())
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
    from harness.scenario.loading import load_scenario, load_scenarios

    known = load_scenarios(SCENARIOS_DIR) + load_scenarios(LOAD_SCENARIOS_DIR)
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


def _run_and_print(scenarios: Sequence[Any], repeat: int, *, compact: bool = False,
                   runs_dir: Path | None = None, launcher: str | None = None,
                   dapr_version: str | None = None) -> int:
    from harness.cluster.docker_probe import docker_scheduler_status
    from harness.cluster.runtime import locate_runtime
    from harness.reports.comparison import headline_table, mechanism_table
    from harness.runner import run_scenario

    with_faults = [s.name for s in scenarios if s.faults]
    if launcher == "dapr-run-f" and with_faults:
        raise UsageError(f"--launcher dapr-run-f starts every replica at once, so no fault can "
                         f"stop or start one: {', '.join(with_faults)} (use daprd or dapr-run)")
    runtime = locate_runtime(dapr_version)
    _say(docker_scheduler_status())
    results = [run_scenario(s, runtime, progress=_say, runs_dir=runs_dir, launcher=launcher,
                            dapr_version=dapr_version)
               for s in scenarios for _ in range(repeat)]
    summaries = [r.summary for r in results]
    print()
    versions = sorted({s.dapr.version for s in summaries})
    launchers = sorted({s.dapr.launcher for s in summaries})
    print(f"Dapr {', '.join(versions)} (launcher {', '.join(launchers)}); runs under "
          f"{runs_dir or RUNS_DIR}")
    if compact:
        for summary in summaries:
            print(headline_table(summary, evidence_link=False), end="\n\n")
    else:
        print(mechanism_table(summaries))
    print()
    for summary in summaries:
        t = summary.timings
        print(f"{summary.run_id}: startup {t['startup_s']:.1f} s, window {t['window_s']:.1f} s, "
              f"teardown {t['teardown_s']:.1f} s, total {summary.duration_s:.1f} s wall")
    failed = [r.summary.run_id for r in results if not r.passed]
    if failed:
        print(f"\n{len(failed)} run(s) did not meet their expectations: {', '.join(failed)}")
    return 1 if failed else 0


def cmd_run(args: argparse.Namespace) -> int:
    if args.repeat < 1:
        raise UsageError(f"--repeat must be >= 1, got {args.repeat}")
    return _run_and_print(resolve_scenarios(args.scenarios), args.repeat,
                          launcher=args.launcher, dapr_version=args.dapr_version)


def cmd_matrix(args: argparse.Namespace) -> int:
    from harness.matrix import DEFAULT_FAULTS, run_matrix
    from harness.reports.claims import load_claim_scenarios
    from harness.reports.versions import write_versions_report

    out, runs_dir = Path(args.out), Path(args.runs_dir)
    if not args.report_only:
        names = args.scenarios or [HEADLINE_SCENARIO, *sorted(
            {s.source.stem for s in load_claim_scenarios(SCENARIOS_DIR)}), *DEFAULT_FAULTS]
        print(run_matrix(resolve_scenarios(names), args.versions, out=out, say=_say,
                         launcher=args.launcher, runs_dir=runs_dir))
    print(write_versions_report(out, runs_dir, SCENARIOS_DIR))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    cmd_setup(args)
    return _run_and_print(resolve_scenarios([HEADLINE_SCENARIO]), 1, compact=True)


def cmd_report(args: argparse.Namespace) -> int:
    from harness.reports.compare import find_summary
    from harness.reports.comparison import update_readme, write_reports
    from harness.summary import latest_runs, load_summaries

    runs_dir, out = Path(args.runs_dir), Path(args.out)
    chosen = [find_summary(runs_dir, out / "evidence", r).run_id for r in args.run or []]
    for path in write_reports(runs_dir, out, run_ids=chosen or None, allow_dirty=args.allow_dirty):
        print(path)
    summaries = [s for s in load_summaries(runs_dir) if not chosen or s.run_id in chosen]
    headline = latest_runs(summaries, HEADLINE_SCENARIO, clean_only=not args.allow_dirty)
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


def cmd_reliability(args: argparse.Namespace) -> int:
    from harness.bench.reliability import ReliabilitySettings, run_reliability
    from harness.cluster.runtime import locate_runtime
    from harness.reports.reliability import write_reliability_report

    if min(args.trials, args.bursts) < 1:
        raise UsageError(f"--trials and --bursts must be >= 1, got {args.trials}, {args.bursts}")
    out = Path(args.out)
    source = out / "reliability.json"
    if not args.render_only:
        run_reliability(locate_runtime(), ReliabilitySettings(
            runner_trials=args.trials, burst_trials=args.bursts), source, _say)
    for path in write_reliability_report(source, out):
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

    runs_dir = Path(args.runs_dir)
    write_reports(runs_dir, RESULTS_DIR, allow_dirty=args.allow_dirty)  # evidence it links to
    print(write_adr(runs_dir, RESULTS_DIR, allow_dirty=args.allow_dirty, trials=args.trials))
    return 0


def cmd_claims(args: argparse.Namespace) -> int:
    from harness.reports.claims import write_claims

    for path in write_claims(Path(args.runs_dir), Path(args.out), SCENARIOS_DIR,
                             allow_dirty=args.allow_dirty):
        print(path)
    return 0


def cmd_faults(args: argparse.Namespace) -> int:
    from harness.reports.faults import write_faults_report

    if args.trials < 1:
        raise UsageError(f"--trials must be >= 1, got {args.trials}")
    for path in write_faults_report(Path(args.runs_dir), Path(args.out), trials=args.trials,
                                    allow_dirty=args.allow_dirty):
        print(path)
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    from harness.reports.load import write_load_report

    for path in write_load_report(Path(args.runs_dir), Path(args.out), allow_dirty=args.allow_dirty):
        print(path)
    return 0


def cmd_evidence(args: argparse.Namespace) -> int:
    """Every scenario from a clean tree (fault scenarios K times), then every report."""
    from harness.runner import provenance

    if args.trials < 1:
        raise UsageError(f"--trials must be >= 1, got {args.trials}")
    source = provenance()
    if source.dirty and not args.allow_dirty:
        raise UsageError("the tree has uncommitted changes: evidence must come from a commit "
                         "(commit first, or pass --allow-dirty for a dry run)")
    scenarios = resolve_scenarios([p.stem for p in sorted(SCENARIOS_DIR.glob("*.yaml"))])
    repeats = {s.name: (max(args.trials, args.member_trials) if "member" in s.name else args.trials)
               if s.kind == "fault" else 1 for s in scenarios}
    # A runs directory of this commit's own, so no older run is cited beside these.
    runs_dir = RUNS_DIR / f"evidence-{source.commit}{'-dirty' if source.dirty else ''}"
    _say(f"evidence at {source.commit}: {sum(repeats.values())} runs of {len(scenarios)} "
         f"scenarios into {runs_dir}")
    code = 0
    for scenario in scenarios:
        code |= _run_and_print([scenario], repeats[scenario.name], runs_dir=runs_dir)
    for render in (cmd_report, cmd_claims, cmd_faults, cmd_adr):
        render(argparse.Namespace(runs_dir=str(runs_dir), out=str(RESULTS_DIR), run=None,
                                  allow_dirty=args.allow_dirty, trials=max(repeats.values())))
    return code | cmd_recheck(argparse.Namespace(runs=[]))


def cmd_recheck(args: argparse.Namespace) -> int:
    from harness.recheck import recheck_evidence

    differences = unchecked = 0
    for outcome in recheck_evidence(RESULTS_DIR / "evidence", args.runs):
        print(outcome.line())
        differences += len(outcome.differences)
        unchecked += outcome.error is not None
    print(f"{differences} difference(s), {unchecked} run(s) that could not be rechecked")
    return 1 if differences or unchecked else 0


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


def _add_launch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--launcher", choices=LAUNCHERS,
                        help="how replicas are started: daprd directly (default), one real "
                        "`dapr run` per replica, or one `dapr run -f dapr.yaml` for all; "
                        "overrides a scenario's `launcher:`")
    parser.add_argument("--dapr-version", type=_version_arg, metavar="X.Y.Z",
                        help="run on this Dapr version (set up with `setup --dapr-version`); "
                        "overrides a scenario's `dapr_version:`")


def _add_out(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=str(RESULTS_DIR), help=f"output dir (default {RESULTS_DIR})")


def _add_allow_dirty(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-dirty", action="store_true",
                        help="also cite runs of a tree with uncommitted changes (marked dirty)")


def _version_arg(text: str) -> str:
    from harness.cluster.versions import normalize_version

    try:
        return normalize_version(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness",
        description="Evidence on real Dapr: Jobs API vs cron binding across app replicas.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    setup = sub.add_parser("setup", help="install Python packages; build or locate Dapr and "
                           "the dapr CLI",
                           description="Idempotent: installs the Python dependencies, then uses "
                           "an installed Dapr >= 1.14 (DAPR_RUNTIME_PATH, .dapr/, daprd on PATH, "
                           "~/.dapr) or builds daprd, scheduler and placement (1.18.3, or each "
                           "--dapr-version) from Go modules (cached outside the clone); builds "
                           "the dapr CLI from DAPR_CLI_SOURCE when no dapr is on PATH.")
    setup.add_argument("--dapr-version", action="append", metavar="X.Y.Z", type=_version_arg,
                       help="build (or find) this Dapr version instead of the default "
                       "(repeatable); each goes into its own cache entry and "
                       ".dapr-versions/X.Y.Z/.dapr")
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
    _add_launch_options(run)
    run.set_defaults(func=cmd_run)
    matrix = sub.add_parser(
        "matrix", help="the same scenarios on several Dapr versions: results/versions.md",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Builds (or finds) each Dapr version, runs the scenarios once on each, and "
        "writes results/versions.json (which run is which) and results/versions.md: every "
        "comparison and fault row and every claim by version, cells that differ from the newest "
        "version marked, each cell linked to its run, versions that did not build and why. "
        "A cold build of one extra version takes several minutes on 2 cores. Runs of earlier "
        "invocations are kept, so versions can be added one at a time.",
        epilog="default scenarios: comparison, every claim scenario, fault-kill-daprd, "
        "fault-kill-scheduler\n"
        "example: python -m harness matrix --versions 1.14.0 1.16.0 1.18.3 comparison")
    matrix.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                        help="scenario files, stems or names (default: see below)")
    matrix.add_argument("--versions", nargs="+", type=_version_arg, metavar="X.Y.Z",
                        default=["1.14.0", "1.16.0", "1.18.3"],
                        help="Dapr versions (default 1.14.0 1.16.0 1.18.3; the proxy here "
                        "serves 1.14.0 1.15.0 1.16.0 1.17.0 1.18.0 1.18.2 1.18.3)")
    matrix.add_argument("--launcher", choices=LAUNCHERS,
                        help="how replicas are started (default: daprd)")
    matrix.add_argument("--report-only", action="store_true",
                        help="only render results/versions.md from results/versions.json")
    _add_runs_dir(matrix)
    _add_out(matrix)
    matrix.set_defaults(func=cmd_matrix)
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
    _add_allow_dirty(report)
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
    reliability = sub.add_parser(
        "reliability", help="fault the harness itself; write results/reliability.md",
        description="Kills the runner (SIGKILL, SIGINT, SIGTERM) mid-window, SIGKILLs the app "
        "during a 20,000-trigger burst, feeds malformed scenario files by category and tries "
        "bad environments; writes results/reliability.json and results/reliability.md with "
        "what each left running, held or lost. About 5 minutes.")
    reliability.add_argument("--trials", type=int, default=3, metavar="K",
                             help="runner kills per signal (default 3)")
    reliability.add_argument("--bursts", type=int, default=3, metavar="K",
                             help="app kills during a burst (default 3)")
    reliability.add_argument("--render-only", action="store_true",
                             help="only render reliability.md from reliability.json")
    _add_out(reliability)
    reliability.set_defaults(func=cmd_reliability)
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
    adr.add_argument("--trials", type=int, default=2, metavar="K",
                     help="latest runs per fault scenario the record sums (default 2)")
    _add_runs_dir(adr)
    _add_allow_dirty(adr)
    adr.set_defaults(func=cmd_adr)
    claims = sub.add_parser("claims", help="write results/claims.md from the claim scenarios' runs",
                            description="One row per claim recorded in scenarios/*.yaml (claim: "
                            "or claims:), with the numbers of its scenario's latest run; copies "
                            "each cited summary to results/evidence/.")
    _add_runs_dir(claims)
    _add_out(claims)
    _add_allow_dirty(claims)
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
    _add_allow_dirty(faults)
    faults.set_defaults(func=cmd_faults)
    load = sub.add_parser("load", help="write results/load.md from the load scenarios' runs",
                          description="Every tick of every generated job or reminder judged, per "
                          "load set of the latest run of each load scenario (scenarios/load/; run "
                          "them with: python -m harness run load-jobs-1000); copies each cited "
                          "summary to results/evidence/.")
    _add_runs_dir(load)
    _add_out(load)
    _add_allow_dirty(load)
    load.set_defaults(func=cmd_load)
    evidence = sub.add_parser("evidence", help="run every scenario and regenerate every report",
                              description="From a clean tree: runs every scenario of scenarios/ "
                              "(each fault scenario K times, the scheduler-member one at least "
                              "--member-trials times), then report, claims, faults (latest K "
                              "runs) and adr, and rechecks every cited verdict. About 40 minutes "
                              "on 2 cores. Benchmarks, the version matrix and the reliability "
                              "report have their own commands (bench, matrix, reliability).")
    evidence.add_argument("--trials", type=int, default=2, metavar="K",
                          help="runs of each fault scenario (default 2)")
    evidence.add_argument("--member-trials", type=int, default=3, metavar="K",
                          help="runs of the scheduler-member fault (default 3)")
    _add_allow_dirty(evidence)
    evidence.set_defaults(func=cmd_evidence)
    recheck = sub.add_parser("recheck", help="recompute every cited verdict from its stored history",
                             description="For each run under results/evidence/ (or the runs "
                             "named), loads the stored history and scenario, runs today's "
                             "checkers and prints every figure or verdict that differs from the "
                             "stored summary. Needs no Dapr. Exit status 1 on any difference.")
    recheck.add_argument("runs", nargs="*", metavar="RUN_ID", help="run ids (default: all evidence)")
    recheck.set_defaults(func=cmd_recheck)
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
        _reap_leftovers()
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted; everything this run started has been stopped", file=sys.stderr)
        return 130
    except Exception as exc:  # user-facing errors: one line, no traceback
        if not _is_user_error(exc):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _reap_leftovers() -> None:
    """Every start ends what earlier runs whose runner died left running (by run tag)."""
    try:
        from harness.cluster.reaper import reap_orphans
    except ImportError:  # a fresh machine before `setup` has installed psutil: nothing to reap
        return
    reap_orphans(_say)


def _is_user_error(exc: Exception) -> bool:
    names = {"UsageError", "ScenarioError", "DaprMissingError", "BuildError", "UnknownRun",
             "EnvironmentProblem", "PortTaken"}
    return type(exc).__name__ in names or isinstance(exc, ValueError) and "no runs" in str(exc)
