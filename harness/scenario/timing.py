"""Facts about a run's timing that follow from its scenario alone.

``retry_policy`` is how Dapr retries a failed trigger of a job with a given ``failurePolicy``
(the default from Dapr 1.18.3's ``pkg/scheduler/server/internal/cron`` job builder: constant,
1 s, 3 retries; go-etcd-cron ``internal/counter/counter.go`` ``TriggerFailed`` applies it), and
``grace_period`` how long recording goes on after the window so that every judged tick's late
deliveries and retries are seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.scenario.model import FailurePolicy, Scenario
from harness.scenario.schedule import every_seconds, parse_go_duration

__all__ = ["DEFAULT_POLICY", "GRACE_PERIOD_CAP_S", "RetryPolicy", "grace_period", "retry_policy"]

GRACE_PERIOD_CAP_S = 5.0 + 10.0 + 1.0  # longest period counted + longest retry budget + 1 s


@dataclass(frozen=True)
class RetryPolicy:
    """How Dapr retries a failed attempt of one tick."""

    max_retries: float = 0.0  # math.inf: retried forever
    interval_s: float = 0.0

    @property
    def budget_s(self) -> float:
        """How long after a tick its last retry can come (bounded for the grace period)."""
        return min(self.max_retries, 10.0) * self.interval_s


DEFAULT_POLICY = RetryPolicy(3.0, 1.0)


def retry_policy(policy: FailurePolicy | None) -> RetryPolicy:
    """A job's ``failurePolicy``; None is Dapr's default (constant 1 s, 3 retries)."""
    if policy is None:
        return DEFAULT_POLICY
    if policy.drop is not None or policy.constant is None:
        return RetryPolicy(0.0, 0.0)
    retries = policy.constant.maxRetries
    return RetryPolicy(math.inf if retries is None else float(retries),
                       parse_go_duration(policy.constant.interval))


def grace_period(scenario: Scenario) -> float:
    """The longest period of any scheduled task (capped at 5 s), plus the longest retry budget
    (capped at 10 s), plus a second for delivery, or the scenario's ``grace_s`` if longer. SDK jobs and reminders retry as jobs do under
    Dapr's default policy."""
    schedules = [*(j.schedule for j in scenario.jobs if j.schedule),
                 *(b.schedule for b in scenario.bindings), *(t.schedule for t in scenario.tasks)]
    periods = [every_seconds(s) or 2.0 for s in schedules]
    budgets = [retry_policy(j.failurePolicy).budget_s for j in scenario.jobs]
    budgets += [DEFAULT_POLICY.budget_s for t in scenario.tasks if t.mechanism in ("job-sdk", "reminder")]
    computed = min(max(periods, default=0.0), 5.0) + min(max(budgets, default=0.0), 10.0) + 1.0
    return max(computed, scenario.grace_s or 0.0)  # a scenario's grace_s: at least that long
