"""The app's own record against Dapr's counters (daprd's and the scheduler's metrics)."""

from __future__ import annotations

__all__ = ["JOB_FAILURE_METRIC", "JOB_SUCCESS_METRIC", "SCHEDULER_TRIGGERED_METRIC", "cross_check"]

JOB_SUCCESS_METRIC = "dapr_component_job_success_count"
JOB_FAILURE_METRIC = "dapr_component_job_failure_count"
SCHEDULER_TRIGGERED_METRIC = "dapr_scheduler_jobs_triggered_total"


def cross_check(history_counts: dict[str, int], metrics: dict[str, float]) -> list[str]:
    """Mismatches between the history's job triggers and Dapr's own counters (empty: consistent).

    ``history_counts`` maps job name -> triggers the app answered successfully (2xx), as the
    history recorded them. ``metrics`` maps metric name -> value summed over all its series
    (every daprd replica; every scheduler instance), taken as the increase over the run:
    ``dapr_component_job_success_count`` (daprd: jobs the app handled successfully) and
    ``dapr_scheduler_jobs_triggered_total`` (scheduler: triggers it sent). Both should equal
    the history's total. A metric missing from ``metrics`` is not compared. Note that a trigger
    the app failed (and the scheduler retried) counts again in the scheduler's metric, so
    expect mismatches in scenarios where the app fails on purpose.
    """
    total = sum(history_counts.values())
    sources = {
        JOB_SUCCESS_METRIC: "daprd job successes, summed over replicas",
        SCHEDULER_TRIGGERED_METRIC: "scheduler triggers",
    }
    return [
        f"{metric} = {metrics[metric]:g} ({what}) but the history has {total} job triggers"
        for metric, what in sources.items()
        if metric in metrics and round(metrics[metric]) != total
    ]
