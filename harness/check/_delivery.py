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

import math
from dataclasses import dataclass

from harness.run.history import Trigger
from harness.scenario.schedule import parse_go_duration

__all__ = ["GATED", "SCHEDULER_BACKED", "Attempt", "RetryPolicy", "attempt_of", "is_delivery"]

# Mechanisms whose triggers come from the Scheduler service (jobs, reminders, workflows' timers).
SCHEDULER_BACKED = frozenset({"job", "job-sdk", "reminder"})
GATED = frozenset({"binding-lock", "binding-claim"})


@dataclass(frozen=True)
class RetryPolicy:
    """How Dapr retries a failed attempt of one tick."""

    max_retries: float = 0.0  # math.inf: retried forever
    interval_s: float = 0.0

    @classmethod
    def none(cls) -> RetryPolicy:
        return cls(0.0, 0.0)

    @classmethod
    def from_spec(cls, spec: dict[str, object] | None) -> RetryPolicy:
        """A job's ``failurePolicy`` as sent; None is Dapr's default (constant 1 s, 3 retries)."""
        if spec is None:
            return cls(3.0, 1.0)
        if "drop" in spec:
            return cls.none()
        constant = spec.get("constant") or {}
        assert isinstance(constant, dict)
        retries = constant.get("maxRetries")
        interval = constant.get("interval")
        return cls(math.inf if retries is None else float(str(retries)),
                   parse_go_duration(str(interval)) if interval else 0.0)

    @property
    def budget_s(self) -> float:
        """How long after a tick its last retry can come (bounded for the grace period)."""
        retries = min(self.max_retries, 10.0)
        return retries * self.interval_s


@dataclass(frozen=True)
class Attempt:
    """One request the app received, reduced to what the delivery model needs."""

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
    work = getattr(trigger, "work", None)
    delivered = is_delivery(trigger.mechanism, trigger.status, work)
    gated_out = trigger.mechanism in GATED and work is False
    return Attempt(trigger.wall, trigger.replica, trigger.status, delivered, gated_out)
