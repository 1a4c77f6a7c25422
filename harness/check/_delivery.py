"""Dapr's delivery rules: which requests count as done, and how failed ones are retried.

An *attempt* is a request the app received. It is a *delivery* when Dapr counts the tick as
done, a *failed attempt* otherwise. The rules, from Dapr 1.18.3's source:

- Jobs and reminders (``pkg/runtime/scheduler/internal/cluster/streamer.go``, ``invokeApp``):
  the HTTP status is mapped by ``pkg/messaging/v1/util.go`` ``CodeFromHTTPStatus``; ``OK``
  (any 2xx) is success and ``NotFound`` (404) is "treated as SUCCESS to avoid retriggers";
  every other status (3xx, other 4xx, 5xx) and a connection error are failures, which the
  job's failure policy retries.
- Failure policy (go-etcd-cron ``internal/counter/counter.go`` ``TriggerFailed``): constant
  interval, ``maxRetries`` further attempts (none set: forever); the default for a job is
  constant 1 s with 3 retries (dapr ``pkg/scheduler/server/internal/...``; dapr test
  ``failurepolicy/noset/allfail.go`` asserts 4 deliveries); ``drop`` never retries.
- Cron bindings (components-contrib ``bindings/cron/cron.go`` ``Read``): the handler's result
  is discarded (``_, _ = handler(...)``), so every attempt is a delivery and none is retried.
- Gated bindings (``binding-lock``, ``binding-claim``): the work is done by the attempt that
  won the lock or the first-write claim; attempts that lost are recorded and are neither
  deliveries nor failures.
"""

from __future__ import annotations

from typing import NamedTuple

from harness.record.history import Trigger
from harness.scenario.mechanisms import GATED
from harness.scenario.timing import RetryPolicy

__all__ = ["Attempt", "RetryPolicy", "attempt_of", "is_delivery"]


class Attempt(NamedTuple):
    """One request the app received, reduced to what the delivery model needs (a tuple: a
    history of 300,000 triggers makes as many)."""

    wall: float
    replica: int
    status: int
    delivered: bool  # Dapr counts the tick as done (or, gated: this attempt did the work)
    gated_out: bool = False  # gated mechanisms: lost the lock or claim (no work, no failure)


def is_delivery(mechanism: str, status: int, work: bool | None = None) -> bool:
    """Whether Dapr (or the gate) counts an attempt answered with ``status`` as done."""
    if mechanism in GATED:
        return bool(work)
    if mechanism.startswith("binding"):
        return True  # the cron binding discards the app's answer
    return 200 <= status < 300 or status == 404


def attempt_of(trigger: Trigger) -> Attempt:
    delivered = is_delivery(trigger.mechanism, trigger.status, trigger.work)
    gated_out = trigger.mechanism in GATED and trigger.work is False
    return Attempt(trigger.wall, trigger.replica, trigger.status, delivered, gated_out)
