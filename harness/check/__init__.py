"""Check: verdicts from a run's history, by composed checkers behind one protocol.

``check_run(scenario, history)`` runs every checker that applies and returns a ``CheckReport``:

- ``delivery``: one result per job and binding (tick model, both readings, verdict against the
  scenario's ``expect``), from ``harness.check._mechanisms``; a load set's members are judged
  one by one and reported as one result per set (``harness.check._sets``);
- ``accounting``: every recorded trigger stands for a judged tick or is reported (before or
  after the window, early, unexplained); a trigger of a task no model knows fails the run;
- ``calls`` and ``expect_jobs``: the scenario's Jobs API probes and per-job expectations;
- ``promises`` (fault scenarios): Dapr's promise per mechanism under faults (claims
  scenarios inject faults to show a claim and judge it with their own expectations).

A run passes when every checker's result is valid (``pass`` or ``n/a``); ``ambiguous`` is not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.check._delivery import Attempt, RetryPolicy, is_delivery
from harness.check._ledger import Ledger, Stream, TickRecord, read
from harness.check._mechanisms import ON_TIME_FRACTION, PHASES, mechanism_results
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
    Checker,
    CheckerResult,
    MechanismResult,
    TickView,
    Verdict,
    worst,
)
from harness.check._sets import fold_load_sets
from harness.check._window import STALL_AFTER_FAULT_S, FaultWindow, Window, window_of
from harness.record.history import History, Trigger
from harness.scenario.model import Scenario

__all__ = [
    "JOB_FAILURE_METRIC",
    "JOB_SUCCESS_METRIC",
    "ON_TIME_FRACTION",
    "PHASES",
    "SCHEDULER_TRIGGERED_METRIC",
    "STALL_AFTER_FAULT_S",
    "Accounting",
    "Attempt",
    "Bound",
    "CallResult",
    "CheckReport",
    "Checker",
    "CheckerResult",
    "FaultWindow",
    "JobExpectResult",
    "Ledger",
    "MechanismResult",
    "RetryPolicy",
    "Stream",
    "TickRecord",
    "TickView",
    "Verdict",
    "Window",
    "check_run",
    "cross_check",
    "is_delivery",
    "read",
    "same_json",
    "unexplained_triggers",
    "window_of",
    "worst",
]


@dataclass
class CheckReport:
    window: Window
    mechanisms: list[MechanismResult]
    calls: list[CallResult]
    job_expectations: list[JobExpectResult]
    job_triggers: dict[str, dict[str, Any]]
    checkers: list[CheckerResult] = field(default_factory=list)

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


def _delivery(mechanisms: list[MechanismResult]) -> CheckerResult:
    reasons = [f"{m.mechanism} {m.name}: {r}" for m in mechanisms for r in m.reasons]
    return CheckerResult("delivery", worst([m.verdict for m in mechanisms]), reasons)


def _accounting(history: History, scenario: Scenario, mechanisms: list[MechanismResult]) -> CheckerResult:
    stray = unexplained_triggers(history, scenario)
    totals = {m.name: {"judged": m.accounting.judged, "before_window": m.accounting.before_window,
                       "after_window": m.accounting.after_window, "early": m.accounting.early,
                       "unexplained": m.accounting.unexplained} for m in mechanisms}
    reasons = [f"{len(stray)} trigger(s) of tasks the scenario never set up: "
               + ", ".join(sorted({f"{t.mechanism} {t.name!r}" for t in stray})[:5])] if stray else []
    return CheckerResult("accounting", "fail" if stray else "pass", reasons,
                         {"per_task": totals, "unexplained_tasks": len(stray)})


def _probes(name: str, results: list[CallResult] | list[JobExpectResult]) -> CheckerResult:
    reasons = [f"{getattr(r, 'id', None) or getattr(r, 'job', '')}: {why}"
               for r in results for why in r.reasons]
    verdicts: list[Verdict] = ["fail" if r.verdict == "fail" else "pass" for r in results]
    return CheckerResult(name, worst(verdicts), reasons)


def check_run(scenario: Scenario, history: History) -> CheckReport:
    """Every checker that applies to ``scenario``, on ``history``."""
    win = window_of(history)
    each = mechanism_results(history, scenario, win)
    mechanisms = fold_load_sets(scenario, history, each)  # a load set: one result
    calls = call_results(history, scenario)
    expectations = job_expectations(history, scenario, win, each)
    report = CheckReport(win, mechanisms, calls, expectations, job_triggers(history, scenario, win))
    report.checkers = [_delivery(mechanisms), _accounting(history, scenario, mechanisms),
                       _probes("calls", calls), _probes("expect_jobs", expectations)]
    if scenario.kind == "fault":
        report.checkers.append(promise_result(mechanisms, win))
    return report
