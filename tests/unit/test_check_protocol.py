"""The checker protocol: one signature, a composed list, a wrapper that turns a checker's
exception into an ``unknown`` result, and ``check.__all__`` exactly what callers use."""

from __future__ import annotations

import ast
from pathlib import Path

from builders import T0, ev, history, trig

import harness.check as check
from harness.check import JOB_SUCCESS_METRIC, LiveRun, check_run
from harness.paths import REPO_ROOT
from harness.scenario.model import Expectation, JobSpec, Scenario

SCENARIO = Scenario(name="p", source=Path("p.yaml"), replicas=1, window_s=10,
                    jobs=(JobSpec(name="j", schedule="@every 2s"),),
                    expect={"job": Expectation(delivery="exactly_once")})
RECORDS = (ev("replica_ready", T0 - 5, replica=0), ev("window_start", T0),
           ev("window_end", T0 + 10),
           ev("job_created", T0 + 0.02, name="j", spec={"schedule": "@every 2s"},
              sent_wall=T0, status=204),
           *(trig("job", "j", 0, T0 + t + 0.01) for t in (2, 4, 6, 8)))
HISTORY = history(*RECORDS)


def test_a_checker_that_raises_gives_unknown_naming_it() -> None:
    def broken(inp: check.CheckInput) -> check.CheckerResult:
        raise KeyError("boom")

    checks = (*check.CHECKS, check.Check("broken", broken))
    report = check_run(SCENARIO, HISTORY, checks=checks)
    result = report.checker("broken")
    assert result is not None and result.verdict == "unknown" and not result.valid
    assert result.reasons == ["checker broken raised KeyError: 'boom'"]
    assert report.checker("delivery").verdict == "pass"  # type: ignore[union-attr]
    assert not report.passed and report.verdict == "unknown"


def test_metrics_and_driver_results_come_from_the_checker_list() -> None:
    plain = check_run(SCENARIO, HISTORY)
    assert [c.checker for c in plain.checkers] == ["delivery", "accounting", "calls", "expect_jobs"]
    live = check_run(SCENARIO, HISTORY, LiveRun({JOB_SUCCESS_METRIC: 3.0}, ["create j: 500"]))
    metrics, driver = live.checker("metrics"), live.checker("driver")
    assert metrics is not None and metrics.verdict == "n/a"
    assert metrics.details["history_triggers"] == 4 and len(metrics.reasons) == 1
    assert driver is not None and driver.verdict == "fail" and driver.reasons == ["create j: 500"]
    assert not live.passed


def test_every_checker_has_one_signature() -> None:
    names = [c.name for c in check.CHECKS]
    assert len(names) == len(set(names))
    for c in check.CHECKS:
        assert list(c.run.__annotations__) == ["inp", "return"], c.name


def _used_outside() -> set[str]:
    """Names of ``harness.check`` that modules outside the package import or reach."""
    used: set[str] = set()
    for path in [*REPO_ROOT.joinpath("harness").rglob("*.py"), *REPO_ROOT.joinpath("tests").rglob("*.py")]:
        if "harness/check/" in str(path):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "harness.check":
                used |= {alias.name for alias in node.names}
            elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                  and node.value.id == "check" and path.name == Path(__file__).name):
                used.add(node.attr)
    return used


def test_check_exports_exactly_what_callers_use() -> None:
    lazy = {"CheckReport", "check_run"}  # harness/__init__.py exports these lazily
    assert set(check.__all__) == (_used_outside() - {"__all__"}) | lazy


def test_the_metrics_cross_check_counts_sdk_jobs_as_jobs() -> None:
    sdk = history(*RECORDS,
                  *(trig("job-sdk", "s", 0, T0 + t + 0.01) for t in (3, 5)),
                  *(trig("reminder", "r", 0, T0 + t + 0.01) for t in (3, 5)))
    live = check_run(SCENARIO, sdk, LiveRun({JOB_SUCCESS_METRIC: 6.0}))
    metrics = live.checker("metrics")
    assert metrics is not None and metrics.details["history_triggers"] == 6
    assert metrics.reasons == []  # 4 jobs + 2 SDK jobs = daprd's 6; reminders are not jobs here
