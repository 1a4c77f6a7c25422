"""Check: verdicts from a run's history, by composed checkers behind one protocol.

Every checker is one callable ``(CheckInput) -> CheckerResult``: the input holds the scenario,
the history, its window and what the tick models made of it (one ``MechanismResult`` per
task, the Jobs API probes' results), and, for a live run, Dapr's counters and the driver's
errors. ``CHECKS`` composes them, each with when it applies; ``check_run`` runs every one that
applies through a wrapper that turns a checker's exception into a result with verdict
``unknown`` naming it (never a crash, never a pass):

- ``delivery``: each job's and binding's tick model, both readings, verdict against ``expect``;
- ``accounting``: every trigger stands for a judged tick or is reported; one no model explains
  fails the run;
- ``calls`` and ``expect_jobs``: the scenario's Jobs API probes and per-job expectations;
- ``promises`` (fault scenarios): Dapr's promise per mechanism under each fault;
- ``clock``: wall-clock steps seen during the run (reported, the checkers read ``mono``);
- ``metrics`` (live runs): the app's record against Dapr's counters, reported, not judged;
- ``driver`` (live runs with errors): what the harness could not do.

A run passes when every checker's result is valid (``pass`` or ``n/a``); ``ambiguous`` and
``unknown`` are not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.check._mechanisms import PHASES, judge
from harness.check._metrics import (
    JOB_FAILURE_METRIC,
    JOB_SUCCESS_METRIC,
    SCHEDULER_TRIGGERED_METRIC,
    cross_check,
)
from harness.check._probes import (
    CallResult,
    JobExpectResult,
    call_results,
    job_expectations,
    job_triggers,
    same_json,
)
from harness.check._promise import promise_result
from harness.check._result import (
    Accounting,
    Bound,
    CheckerResult,
    MechanismResult,
    TaskTicks,
    TickMark,
    TickView,
    Verdict,
    worst,
)
from harness.check._window import FaultWindow, Window, retimed, window_of
from harness.record.history import History, Trigger
from harness.scenario.mechanisms import JOBS_API
from harness.scenario.model import Scenario

__all__ = [
    "CHECKS",
    "JOB_FAILURE_METRIC",
    "JOB_SUCCESS_METRIC",
    "PHASES",
    "SCHEDULER_TRIGGERED_METRIC",
    "Accounting",
    "Bound",
    "CallResult",
    "Check",
    "CheckInput",
    "CheckReport",
    "CheckerResult",
    "FaultWindow",
    "JobExpectResult",
    "LiveRun",
    "MechanismResult",
    "TaskTicks",
    "TickMark",
    "TickView",
    "check_run",
    "cross_check",
    "same_json",
    "window_of",
    "worst",
]


@dataclass(frozen=True)
class LiveRun:
    """What only a live run has: Dapr's counters at the window's end (None: not scraped) and
    the errors of the harness's own steps."""

    metrics: Mapping[str, float | None] = field(default_factory=dict)
    driver_errors: Sequence[str] = ()


@dataclass(frozen=True)
class CheckInput:
    """Everything a checker reads."""

    scenario: Scenario
    history: History
    window: Window
    mechanisms: Sequence[MechanismResult]
    calls: Sequence[CallResult]
    expectations: Sequence[JobExpectResult]
    live: LiveRun | None = None


Checker = Callable[[CheckInput], CheckerResult]


@dataclass(frozen=True)
class Check:
    name: str
    run: Checker
    applies: Callable[[CheckInput], bool] = lambda _: True


@dataclass
class CheckReport:
    window: Window
    mechanisms: list[MechanismResult]
    calls: list[CallResult]
    job_expectations: list[JobExpectResult]
    job_triggers: dict[str, dict[str, Any]]
    checkers: list[CheckerResult] = field(default_factory=list)
    ticks: list[TaskTicks] = field(default_factory=list)  # per task, as ``mechanisms``

    @property
    def passed(self) -> bool:
        return all(c.valid for c in self.checkers)

    @property
    def verdict(self) -> Verdict:
        return worst([c.verdict for c in self.checkers])

    def checker(self, name: str) -> CheckerResult | None:
        return next((c for c in self.checkers if c.checker == name), None)


def unexplained_triggers(history: History, scenario: Scenario) -> list[Trigger]:
    """Triggers of a task the scenario never set up (no job, binding or create call of it)."""
    known = {("job", j.name) for j in scenario.jobs} | {("binding", b.name) for b in scenario.bindings}
    known |= {("job", c.job) for c in scenario.calls if c.method == "POST"}
    known |= {(t.mechanism, t.name) for t in scenario.tasks}
    return [t for t in history.triggers
            if t.outcome != "refused" and (t.mechanism, t.name) not in known]


def delivery(inp: CheckInput) -> CheckerResult:
    reasons = [f"{m.mechanism} {m.name}: {r}" for m in inp.mechanisms for r in m.reasons]
    return CheckerResult("delivery", worst([m.verdict for m in inp.mechanisms]), reasons)


def accounting(inp: CheckInput) -> CheckerResult:
    """Every trigger stands for a tick or is reported; one that no model explains (an unknown
    task, a replica never started or already stopped, a fire after deletion or past its
    repeats) fails the run, whatever the scenario expects of its mechanism."""
    stray = unexplained_triggers(inp.history, inp.scenario)
    totals = {m.name: {"judged": m.accounting.judged, "before_window": m.accounting.before_window,
                       "after_window": m.accounting.after_window, "early": m.accounting.early,
                       "unexplained": m.accounting.unexplained} for m in inp.mechanisms}
    reasons = [f"{len(stray)} trigger(s) of tasks the scenario never set up: "
               + ", ".join(sorted({f"{t.mechanism} {t.name!r}" for t in stray})[:5])] if stray else []
    reasons += [f"{m.mechanism} {m.name}: {m.accounting.unexplained} trigger(s) no tick explains"
                for m in inp.mechanisms if m.accounting.unexplained]
    return CheckerResult("accounting", "fail" if reasons else "pass", reasons,
                         {"per_task": totals, "unexplained_tasks": len(stray)})


def _probe_result(name: str, labelled: list[tuple[str, list[str], str]]) -> CheckerResult:
    reasons = [f"{label}: {why}" for label, whys, _ in labelled for why in whys]
    verdicts: list[Verdict] = ["fail" if v == "fail" else "pass" for _, _, v in labelled]
    return CheckerResult(name, worst(verdicts), reasons)


def calls(inp: CheckInput) -> CheckerResult:
    return _probe_result("calls", [(c.id or c.job, c.reasons, c.verdict) for c in inp.calls])


def expect_jobs(inp: CheckInput) -> CheckerResult:
    return _probe_result("expect_jobs", [(e.job, e.reasons, e.verdict) for e in inp.expectations])


def promises(inp: CheckInput) -> CheckerResult:
    return promise_result(list(inp.mechanisms), inp.window)


def clock(inp: CheckInput) -> CheckerResult:
    """The wall clock stepped during the run: reported (order and spacing were read on the
    monotonic clock, so the verdicts stand)."""
    steps = [{"at_s": round(s.at - inp.window.start, 3), "step_s": s.step_s}
             for s in inp.window.clock_steps]
    return CheckerResult("clock", "pass", [], {"steps": steps})


def metrics(inp: CheckInput) -> CheckerResult:
    """The app's count of delivered jobs against daprd's and the scheduler's counters.
    Informational: a failing app legitimately makes them differ, so mismatches are reported,
    not judged."""
    live = inp.live or LiveRun()
    ok: dict[str, int] = {}
    for trigger in inp.history.triggers:
        # Both reach the app as Jobs API triggers, which daprd's job counters count.
        if trigger.mechanism in JOBS_API and trigger.outcome == "ok":
            ok[trigger.name] = ok.get(trigger.name, 0) + 1
    present = {k: v for k, v in live.metrics.items() if v is not None}
    mismatches = cross_check(ok, present)
    return CheckerResult("metrics", "n/a", mismatches,
                         {"history_triggers": sum(ok.values()), **live.metrics,
                          "mismatches": mismatches})


def driver(inp: CheckInput) -> CheckerResult:
    return CheckerResult("driver", "fail", list(inp.live.driver_errors if inp.live else ()))


CHECKS: tuple[Check, ...] = (
    Check("delivery", delivery),
    Check("accounting", accounting),
    Check("calls", calls),
    Check("expect_jobs", expect_jobs),
    Check("promises", promises, lambda inp: inp.scenario.kind == "fault"),
    Check("clock", clock, lambda inp: bool(inp.window.clock_steps)),
    Check("metrics", metrics, lambda inp: inp.live is not None),
    Check("driver", driver, lambda inp: inp.live is not None and bool(inp.live.driver_errors)),
)


def safely(check: Check, inp: CheckInput) -> CheckerResult:
    """``check`` on ``inp``; an exception is a result with verdict ``unknown`` naming it."""
    try:
        return check.run(inp)
    except Exception as exc:  # a checker's bug must show in the verdict, not end the run
        return CheckerResult(check.name, "unknown",
                             [f"checker {check.name} raised {type(exc).__name__}: {exc}"])


def check_run(scenario: Scenario, history: History, live: LiveRun | None = None,
              checks: Sequence[Check] = CHECKS) -> CheckReport:
    """Every checker of ``checks`` that applies to ``scenario``, on ``history``."""
    history, steps = retimed(history)
    win = window_of(history, steps)
    mechanisms, ticks = judge(history, scenario, win)
    probes = call_results(history, scenario)
    expectations = job_expectations(history, scenario, win, mechanisms)
    inp = CheckInput(scenario, history, win, mechanisms, probes, expectations, live)
    report = CheckReport(win, mechanisms, probes, expectations, job_triggers(history, scenario, win),
                         ticks=ticks)
    report.checkers = [safely(c, inp) for c in checks if c.applies(inp)]
    return report
