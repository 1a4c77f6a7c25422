"""What each command does, over its typed arguments. Heavy imports happen inside the commands:
`setup` runs before the dependencies are installed."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.cli._table import UsageError, arg
from harness.paths import REPO_ROOT, RESULTS_DIR, RUNS_DIR, SCENARIOS_DIR
from harness.scenario.mechanisms import LAUNCHERS

__all__ = ["HEADLINE_SCENARIO", "resolve_scenarios", "run_and_print", "say"]

HEADLINE_SCENARIO = "comparison"
MATRIX_VERSIONS = ["1.14.0", "1.16.0", "1.18.3"]


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _version(text: str) -> str:
    import argparse

    from harness.cluster.versions import normalize_version

    try:
        return normalize_version(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


# -- shared argument declarations ---------------------------------------------------------------
def runs_dir_arg() -> Any:
    return arg("--runs-dir", default=str(RUNS_DIR), help=f"where the run directories are "
               f"(default {RUNS_DIR})")


def out_arg() -> Any:
    return arg("--out", default=str(RESULTS_DIR), help=f"output dir (default {RESULTS_DIR})")


def allow_dirty_arg() -> Any:
    return arg("--allow-dirty", default=False, action="store_true",
               help="also cite runs of a tree with uncommitted changes (marked dirty)")


def launcher_arg(help: str) -> Any:
    return arg("--launcher", default=None, choices=LAUNCHERS, help=help)


def trials_arg(default: int, help: str) -> Any:
    return arg("--trials", default=default, minimum=1, type=int, metavar="K", help=help)


# -- setup, test, demo --------------------------------------------------------------------------
@dataclass(frozen=True)
class SetupArgs:
    dapr_version: list[str] | None = arg(
        "--dapr-version", default=None, action="append", metavar="X.Y.Z", type=_version,
        help="build (or find) this Dapr version instead of the default (repeatable); each goes "
        "into its own cache entry and .dapr-versions/X.Y.Z/.dapr")


def setup(args: SetupArgs) -> int:
    from harness.cluster.bootstrap import ensure_apt_packages, ensure_python_packages

    ensure_python_packages()
    ensure_apt_packages()
    from harness.bench.native import ensure_benchtool
    from harness.cluster.build import ensure_cli, ensure_runtime
    from harness.cluster.docker_probe import docker_scheduler_status
    from harness.cluster.gomod import Progress

    for version in args.dapr_version or [None]:
        ensure_runtime(version)
    ensure_cli(Progress())
    print(f"[setup] benchtool (null sink, native load generator): {ensure_benchtool()}", flush=True)
    print(f"[setup] {docker_scheduler_status()}", flush=True)
    return 0


@dataclass(frozen=True)
class TestArgs:
    pytest_args: list[str] = arg(default=[], nargs="...", help="arguments passed to pytest")


def test(args: TestArgs) -> int:
    setup(SetupArgs())
    command = [sys.executable, "-m", "pytest", *args.pytest_args]
    return subprocess.run(command, cwd=REPO_ROOT, check=False).returncode


@dataclass(frozen=True)
class NoArgs:
    pass


def demo(args: NoArgs) -> int:
    setup(SetupArgs())
    return run_and_print(resolve_scenarios([HEADLINE_SCENARIO]), 1)


# -- running scenarios ---------------------------------------------------------------------------
def resolve_scenarios(names: Sequence[str]) -> list[Any]:
    """Scenario files, file stems or scenario names (a sweep's name selects all its values)."""
    from harness.scenario.loading import load_scenario, load_scenarios

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


def run_and_print(scenarios: Sequence[Any], repeat: int, *,
                  runs_dir: Path | None = None, launcher: str | None = None,
                  dapr_version: str | None = None) -> int:
    from harness.cluster.docker_probe import docker_scheduler_status
    from harness.cluster.runtime import locate_runtime
    from harness.reports.comparison import terminal_tables, write_wide_table
    from harness.runner import run_scenario

    with_faults = [s.name for s in scenarios if s.faults]
    if launcher == "dapr-run-f" and with_faults:
        raise UsageError(f"--launcher dapr-run-f starts every replica at once, so no fault can "
                         f"stop or start one: {', '.join(with_faults)} (use daprd or dapr-run)")
    runtime = locate_runtime(dapr_version)
    say(docker_scheduler_status())
    results = [run_scenario(s, runtime, progress=say, runs_dir=runs_dir, launcher=launcher,
                            dapr_version=dapr_version)
               for s in scenarios for _ in range(repeat)]
    summaries = [r.summary for r in results]
    print()
    versions = sorted({s.dapr.version for s in summaries})
    launchers = sorted({s.dapr.launcher for s in summaries})
    print(f"Dapr {', '.join(versions)} (launcher {', '.join(launchers)}); runs under "
          f"{runs_dir or RUNS_DIR}")
    print(terminal_tables(summaries))  # compact; every column goes to each run's table.md
    for result in results:
        write_wide_table(result.run.root, result.summary)
    print()
    for summary in summaries:
        t = summary.timings
        print(f"{summary.run_id}: startup {t['startup_s']:.1f} s, window {t['window_s']:.1f} s, "
              f"teardown {t['teardown_s']:.1f} s, total {summary.duration_s:.1f} s wall")
    failed = [r.summary.run_id for r in results if not r.passed]
    if failed:
        print(f"\n{len(failed)} run(s) did not meet their expectations: {', '.join(failed)}")
    return 1 if failed else 0


@dataclass(frozen=True)
class RunArgs:
    scenarios: list[str] = arg(nargs="+", metavar="SCENARIO",
                               help="a scenario file, a file stem (e.g. comparison) or a scenario name")
    repeat: int = arg("--repeat", default=1, minimum=1, type=int, metavar="K",
                      help="run each scenario K times (default 1)")
    launcher: str | None = launcher_arg(
        "how replicas are started: daprd directly (default), one real `dapr run` per replica, "
        "or one `dapr run -f dapr.yaml` for all; overrides a scenario's `launcher:`")
    dapr_version: str | None = arg(
        "--dapr-version", default=None, type=_version, metavar="X.Y.Z",
        help="run on this Dapr version (set up with `setup --dapr-version`); overrides a "
        "scenario's `dapr_version:`")


def run(args: RunArgs) -> int:
    return run_and_print(resolve_scenarios(args.scenarios), args.repeat,
                         launcher=args.launcher, dapr_version=args.dapr_version)


@dataclass(frozen=True)
class MatrixArgs:
    scenarios: list[str] = arg(nargs="*", metavar="SCENARIO", default=[],
                               help="scenario files, stems or names (default: see below)")
    versions: list[str] = arg("--versions", nargs="+", type=_version, metavar="X.Y.Z",
                              default=MATRIX_VERSIONS,
                              help="Dapr versions (default 1.14.0 1.16.0 1.18.3; the proxy here "
                              "serves 1.14.0 1.15.0 1.16.0 1.17.0 1.18.0 1.18.2 1.18.3)")
    launcher: str | None = launcher_arg("how replicas are started (default: daprd)")
    report_only: bool = arg("--report-only", default=False, action="store_true",
                            help="only render results/versions.md from results/versions.json")
    runs_dir: str = runs_dir_arg()
    out: str = out_arg()


def matrix(args: MatrixArgs) -> int:
    from harness.matrix import DEFAULT_FAULTS, run_matrix
    from harness.reports.claims import load_claim_scenarios
    from harness.reports.versions import write_versions_report

    out, runs_dir = Path(args.out), Path(args.runs_dir)
    if not args.report_only:
        names = args.scenarios or [HEADLINE_SCENARIO, *sorted(
            {s.source.stem for s in load_claim_scenarios(SCENARIOS_DIR)}), *DEFAULT_FAULTS]
        print(run_matrix(resolve_scenarios(names), args.versions, out=out, say=say,
                         launcher=args.launcher, runs_dir=runs_dir))
    print(write_versions_report(out, runs_dir, SCENARIOS_DIR))
    return 0


# -- reports -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReportArgs:
    runs_dir: str = runs_dir_arg()
    run: list[str] | None = arg("--run", default=None, action="append", metavar="RUN_ID",
                                help="report these runs (id or number; repeatable) instead of "
                                "the latest run of each scenario")
    out: str = out_arg()
    allow_dirty: bool = allow_dirty_arg()
    html: bool = arg("--html", default=False, action="store_true",
                     help="only write OUT/index.html: one self-contained page of the reports "
                     "already written and a timeline of every cited run (needs no runs, only "
                     "results/)")


def report(args: ReportArgs) -> int:
    if args.html:
        from harness.reports.page import write_page

        print(write_page(Path(args.out), readme=REPO_ROOT / "README.md",
                         headline_scenario=HEADLINE_SCENARIO))
        return 0
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


@dataclass(frozen=True)
class RenderArgs:
    runs_dir: str = runs_dir_arg()
    out: str = out_arg()
    allow_dirty: bool = allow_dirty_arg()


def claims(args: RenderArgs) -> int:
    from harness.reports.claims import write_claims

    for path in write_claims(Path(args.runs_dir), Path(args.out), SCENARIOS_DIR,
                             allow_dirty=args.allow_dirty):
        print(path)
    return 0


@dataclass(frozen=True)
class FaultsArgs(RenderArgs):
    trials: int = trials_arg(2, "latest runs per fault scenario to sum (default 2)")


def faults(args: FaultsArgs) -> int:
    from harness.reports.faults import write_faults_report

    for path in write_faults_report(Path(args.runs_dir), Path(args.out), trials=args.trials,
                                    allow_dirty=args.allow_dirty):
        print(path)
    return 0


@dataclass(frozen=True)
class AdrArgs:
    trials: int = trials_arg(2, "latest runs per fault scenario the record sums (default 2)")
    runs_dir: str = runs_dir_arg()
    allow_dirty: bool = allow_dirty_arg()


def adr(args: AdrArgs) -> int:
    from harness.reports.adr import write_adr
    from harness.reports.comparison import write_reports

    runs_dir = Path(args.runs_dir)
    write_reports(runs_dir, RESULTS_DIR, allow_dirty=args.allow_dirty)  # evidence it links to
    print(write_adr(runs_dir, RESULTS_DIR, allow_dirty=args.allow_dirty, trials=args.trials))
    return 0


@dataclass(frozen=True)
class CompareArgs:
    run_a: str = arg(metavar="RUN_A", help="run id or number")
    run_b: str = arg(metavar="RUN_B", help="run id or number")


def compare(args: CompareArgs) -> int:
    from harness.reports.compare import compare_runs, find_summary

    evidence = RESULTS_DIR / "evidence"
    a, b = (find_summary(RUNS_DIR, evidence, r) for r in (args.run_a, args.run_b))
    print(compare_runs(a, b))
    return 0


# -- benchmarks and the harness's own reliability -------------------------------------------------
@dataclass(frozen=True)
class BenchArgs:
    names: list[str] = arg(nargs="*", metavar="NAME", default=[],
                           help="setup, scheduling, triggering, recorder, precision, replicas, "
                           "stored-jobs, recurring, cost, registration, checker (default: all)")
    trials: int | None = arg("--trials", default=None, minimum=1, type=int,
                             help="runs per figure (default 3; 1 with --quick)")
    cold: bool = arg("--cold", default=False, action="store_true",
                     help="setup benchmark also builds Dapr from empty Go caches (minutes)")
    note: str | None = arg("--note", default=None, metavar="TEXT",
                           help="printed under these benchmarks' stamps in bench.md (e.g. what "
                           "else ran)")
    quick: bool = arg("--quick", default=False, action="store_true",
                      help="the smoke-test profile: small sizes, figures printed, minutes")
    out: str = out_arg()


def bench(args: BenchArgs) -> int:
    from harness.bench.runner import BENCHMARKS, BenchSettings, run_benchmarks
    from harness.cluster.runtime import locate_runtime
    from harness.reports.bench import write_bench_report

    trials = args.trials if args.trials is not None else (1 if args.quick else 3)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        raise UsageError(f"unknown benchmark {unknown[0]!r}; known: {', '.join(BENCHMARKS)}")
    settings = (BenchSettings.quick(trials, cold_setup=args.cold) if args.quick
                else BenchSettings(trials=trials, cold_setup=args.cold))
    out = Path(args.out)
    run_benchmarks(locate_runtime(), args.names or list(BENCHMARKS), settings,
                   out / "bench.json", say, note=args.note)
    for path in write_bench_report(out / "bench.json", out):
        print(path)
    return 0


@dataclass(frozen=True)
class ReliabilityArgs:
    trials: int = trials_arg(3, "runner kills per signal (default 3)")
    bursts: int = arg("--bursts", default=3, minimum=1, type=int, metavar="K",
                      help="app kills during a burst (default 3)")
    render_only: bool = arg("--render-only", default=False, action="store_true",
                            help="only render reliability.md from reliability.json")
    out: str = out_arg()


def reliability(args: ReliabilityArgs) -> int:
    from harness.bench.reliability import ReliabilitySettings, run_reliability
    from harness.cluster.runtime import locate_runtime
    from harness.reports.reliability import write_reliability_report

    out = Path(args.out)
    source = out / "reliability.json"
    if not args.render_only:
        run_reliability(locate_runtime(), ReliabilitySettings(
            runner_trials=args.trials, burst_trials=args.bursts), source, say)
    for path in write_reliability_report(source, out):
        print(path)
    return 0


# -- evidence ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EvidenceArgs:
    upper_bound: float | None = arg(
        "--upper-bound", default=None, type=float, metavar="P",
        help="ask every fault scenario for a 95 %% upper bound of P (a fraction, 0.01 = 1 %%) "
        "on its plan's rates (default: each scenario's own)")
    min_trials: int | None = arg("--min-trials", default=None, minimum=1, type=int, metavar="K",
                                 help="at least K runs of each fault scenario")
    max_trials: int | None = arg("--max-trials", default=None, minimum=1, type=int, metavar="K",
                                 help="at most K runs of each fault scenario")
    only: list[str] | None = arg("--only", default=None, nargs="+", metavar="SCENARIO",
                                 help="run only these scenarios; their runs replace the cited ones")
    reason: str | None = arg("--reason", default=None, metavar="TEXT",
                             help="why runs are replaced (with --only or --replaced)")
    replaced: list[str] = arg("--replaced", nargs="+", metavar="RUN_ID", default=[],
                              help="with --render-only: record that these earlier cited runs "
                              "were replaced by the newer cited runs of their scenarios")
    render_only: bool = arg("--render-only", default=False, action="store_true",
                            help="run nothing; render every report from results/evidence")
    allow_dirty: bool = allow_dirty_arg()


def _refuse_beside_another_run() -> None:
    """Evidence runs must have the machine to themselves: timing figures are evidence too."""
    from harness.cluster.contention import live_runs

    if others := sorted(live_runs()):
        raise UsageError(f"another harness run is going ({', '.join(others)}): evidence must "
                         "not share the machine; wait for it, or end it with `python3 -m harness "
                         "clean RUN_ID`")


def evidence(args: EvidenceArgs) -> int:
    """Every scenario from a clean tree, each as many times as its plan asks, then every report
    (or only the reports, from the committed evidence, with --render-only)."""
    from harness.reports.evidence_log import (
        TrialsRecord,
        cited_summaries,
        load_trials,
        write_replacements,
        write_trials,
    )
    from harness.runner import provenance, run_scenario
    from harness.summary import copy_evidence, load_summaries
    from harness.trials import PlanOverrides, plan_for, record_replacements, render_evidence, run_planned

    if not args.render_only:
        _refuse_beside_another_run()
    source = provenance()
    if source.dirty and not args.allow_dirty:
        raise UsageError("the tree has uncommitted changes: evidence must come from a commit "
                         "(commit first, or pass --allow-dirty for a dry run)")
    if args.replaced and not args.reason:
        raise UsageError("--replaced needs --reason: why the run no longer stands")
    evidence_dir = RESULTS_DIR / "evidence"
    readme = REPO_ROOT / "README.md"
    if args.render_only:
        if args.replaced:
            record_replacements(RESULTS_DIR, args.replaced, args.reason)
        written = render_evidence(evidence_dir, RESULTS_DIR, readme,
                                  allow_dirty=args.allow_dirty, say=say)
        say(f"{len(written)} file(s) rendered from {evidence_dir}")
        return recheck(RecheckArgs(runs=[]))
    overrides = PlanOverrides(args.min_trials, args.max_trials, args.upper_bound)
    scenarios = resolve_scenarios(args.only or [p.stem for p in sorted(SCENARIOS_DIR.glob("*.yaml"))])
    # A runs directory of this commit's own, so no older run is cited beside these.
    runs_dir = RUNS_DIR / f"evidence-{source.commit}{'-dirty' if source.dirty else ''}"
    say(f"evidence at {source.commit}: {len(scenarios)} scenarios into {runs_dir}")

    def run_once(scenario: Any) -> Any:
        summary = run_scenario(scenario, progress=say, runs_dir=runs_dir).summary
        say(f"{summary.run_id}: {summary.verdict}")
        return summary

    record = TrialsRecord(commit=source.commit, scenarios=[
        run_planned(s, plan_for(s, overrides), run_once, say) for s in scenarios])
    fresh = [s for s in load_summaries(runs_dir)
             if s.run_id in {r for t in record.scenarios for r in t.run_ids}]
    if args.only:  # a partial re-run: its runs join the committed evidence and replace theirs
        names = {s.name for s in scenarios}
        old = [s.run_id for s in cited_summaries(evidence_dir, RESULTS_DIR) if s.scenario in names]
        copy_evidence(runs_dir, evidence_dir, fresh)
        record_replacements(RESULTS_DIR, old, args.reason or "re-run with --only")
        written = render_evidence(evidence_dir, RESULTS_DIR, readme,
                                  allow_dirty=args.allow_dirty, say=say)
    else:
        write_replacements(RESULTS_DIR, [])  # every cited run is of this commit now
        written = render_evidence(runs_dir, RESULTS_DIR, readme, allow_dirty=args.allow_dirty,
                                  trials=max(t.trials for t in record.scenarios), say=say)
    if args.only and (before := load_trials(RESULTS_DIR)) is not None:  # keep the others' plans
        names = {t.scenario for t in record.scenarios}
        record.scenarios = [t for t in before.scenarios if t.scenario not in names] + record.scenarios
    write_trials(RESULTS_DIR, record)
    say(f"{len(written)} file(s) rendered")
    failed = [s.run_id for s in fresh if not s.passed]
    return (1 if failed else 0) | recheck(RecheckArgs(runs=[]))


@dataclass(frozen=True)
class RecheckArgs:
    runs: list[str] = arg(nargs="*", metavar="RUN_ID", default=[],
                          help="run ids (default: all evidence)")
    rejudge: bool = arg("--rejudge", default=False, action="store_true",
                        help="from a clean commit: rewrite the stored results of every cited run "
                        "today's checker judges differently (judged_at = this commit) and list "
                        "them in results/rejudged.md")


def recheck(args: RecheckArgs) -> int:
    from harness.recheck import recheck_evidence, rejudge_evidence, render_rejudged

    if args.rejudge:
        from harness.runner import provenance

        source = provenance()
        if not source.clean:
            raise UsageError("--rejudge names the commit whose checker judged: commit first")
        changed = rejudge_evidence(RESULTS_DIR / "evidence", source.commit)
        (RESULTS_DIR / "rejudged.md").write_text(render_rejudged(changed, source.commit),
                                                 encoding="utf-8")
        say(f"{len(changed)} cited run(s) re-judged; results/rejudged.md")
    differences = unchecked = 0
    for outcome in recheck_evidence(RESULTS_DIR / "evidence", args.runs):
        print(outcome.line())
        differences += len(outcome.differences)
        unchecked += outcome.error is not None
    print(f"{differences} difference(s), {unchecked} run(s) that could not be rechecked")
    return 1 if differences or unchecked else 0


@dataclass(frozen=True)
class MutateArgs:
    max_children: int = arg("--max-children", default=2, minimum=1, type=int, metavar="N",
                            help="mutants judged at once (default 2)")
    report_only: bool = arg("--report-only", default=False, action="store_true",
                            help="write the report from the last run without mutating again")


def mutate(args: MutateArgs) -> int:
    from harness.bench.mutation import mutation_report, run_mutmut, write_mutation_report

    if not args.report_only:
        run_mutmut(args.max_children)
    report = mutation_report()
    print(f"{report.share:.1%} of {report.judged} mutants killed, {len(report.survivors)} "
          f"survived ({len(report.unexplained)} unexplained): {write_mutation_report(report)}")
    for survivor in report.unexplained:
        print(f"  unexplained: {survivor.name}")
    return 0 if report.passed else 1


@dataclass(frozen=True)
class CleanArgs:
    run_ids: list[str] = arg(nargs="*", metavar="RUN_ID", default=[],
                             help="end every process of these runs (default: all whose harness "
                             "is gone)")


def clean(args: CleanArgs) -> int:
    from harness.cluster.reaper import reap

    ended = reap(args.run_ids or None)
    for proc in ended:
        print(f"ended pid {proc.pid} of run {proc.run_id}: {proc.cmdline}")
    print(f"{len(ended)} process(es) ended")
    return 0


@dataclass(frozen=True)
class K8sArgs:
    action: str = arg(help="up or down", choices=["up", "down"])


def k8s(args: K8sArgs) -> int:
    from harness.cluster.bootstrap import ensure_apt_packages
    from harness.cluster.docker_engine import (K8S_APT_PACKAGES, docker_host, start_engine,
                                               stop_engine)

    started = time.monotonic()
    if args.action == "down":
        say("stopped the harness's dockerd" if stop_engine() else "no harness dockerd running")
        return 0
    from harness.cluster.gomod import Progress
    from harness.cluster.k8s_build import build_kind, build_kube

    ensure_apt_packages(K8S_APT_PACKAGES)
    paths = start_engine()
    say(f"Docker engine up in {time.monotonic() - started:.1f} s: "
        f"DOCKER_HOST={docker_host(paths)}")
    progress = Progress()
    say(f"kind: {build_kind(progress)}")
    say(f"Kubernetes binaries: {build_kube(progress)}")
    say(f"k8s up took {time.monotonic() - started:.1f} s; the node image is not built yet")
    return 0
