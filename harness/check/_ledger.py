"""The ledger: which recorded attempt stands for which tick, under two readings.

Neither Dapr mechanism tells the app which tick a request belongs to, so a history can admit
more than one explanation. Two readings are computed and both reported:

- *kind* (fewest anomalies): a scheduler-backed attempt may stand for the oldest tick still
  owed at or before it, wherever it is (a late delivery); an attempt just before an owed tick
  whose predecessor is already done stands for that tick, counted *early*.
- *strict* (most anomalies): an attempt stands for the latest tick at or before it, except
  inside a *stall* (a fault, plus the Scheduler's lease after it), where the Scheduler is
  known to hold ticks and replay them in order (go-etcd-cron ``internal/counter/counter.go``:
  ``TriggerSuccess`` moves ``LastTrigger`` to ``schedule.Next(count, LastTrigger)``, the next
  *scheduled* time, so missed ticks fire one after another, oldest first, and a job's next
  tick is never fired before the current one's result).

Mechanisms without catch-up (cron bindings: dapr/kit ``cron`` fires an overdue entry once at
wake time and computes the next from there) read the same either way: an attempt stands for
the latest tick at or before it, and the ticks it skipped are lost.

Retries (``RetryPolicy``) come first: an attempt at least one interval after a failed attempt
of a tick that still has retries left is that tick's retry. Every attempt ends up in exactly
one place: a tick (judged when inside the window), or the ``early`` list (no tick it could
stand for yet).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from harness.check._delivery import Attempt, RetryPolicy

__all__ = ["Ledger", "Reading", "Stream", "TickRecord", "read"]

Reading = Literal["kind", "strict"]
RETRY_SLACK_S = 0.05  # a retry's arrival may precede its interval by the delivery jitter
EARLY_FRACTION = 0.25  # kind reading: an attempt this close (of a period) before a tick is early


@dataclass
class TickRecord:
    time: float
    judged: bool
    attempts: list[Attempt] = field(default_factory=list)
    deliveries: int = 0
    failed: int = 0
    retries: int = 0
    gated_out: int = 0
    early: int = 0
    exhausted: bool = False

    @property
    def done(self) -> bool:
        return self.deliveries > 0 or self.exhausted

    @property
    def first(self) -> float | None:
        return min(a.wall for a in self.attempts) if self.attempts else None

    def add(self, attempt: Attempt, policy: RetryPolicy) -> bool:
        """Record ``attempt``; True while the tick awaits a retry."""
        self.attempts.append(attempt)
        if attempt.gated_out:
            self.gated_out += 1
            return False
        if self.failed and not self.deliveries:
            self.retries += 1
        if attempt.delivered:
            self.deliveries += 1
            return False
        self.failed += 1
        if self.deliveries:
            return False
        self.exhausted = self.failed > policy.max_retries
        return not self.exhausted


@dataclass(frozen=True)
class Stream:
    """The ticks of one task (a job; a binding on one replica) and the attempts to judge."""

    times: Sequence[float]  # sorted tick times, reaching past the recording's end
    lo: float  # judged ticks: lo <= time < hi
    hi: float
    attempts: Sequence[Attempt]  # sorted by wall
    policy: RetryPolicy = RetryPolicy()
    catch_up: bool = False  # scheduler-backed: owed ticks may be replayed late
    stalls: tuple[tuple[float, float], ...] = ()


@dataclass
class Ledger:
    ticks: list[TickRecord]
    early: list[Attempt]  # attempts before any tick they could stand for
    lo: float  # start of the judged range: unjudged ticks before it are "before the window"

    @property
    def judged(self) -> list[TickRecord]:
        return [t for t in self.ticks if t.judged]


class _Reader:
    def __init__(self, stream: Stream, reading: Reading) -> None:
        self.s, self.reading = stream, reading
        self.ticks = [TickRecord(t, stream.lo <= t < stream.hi) for t in stream.times]
        self.owed: list[int] = []  # ticks due and never attempted, ascending
        self.next_due = 0  # first tick index not yet added to ``owed``
        self.retrying: dict[int, float] = {}  # tick -> last failed attempt
        self.early: list[Attempt] = []

    def _in_stall(self, t: float) -> bool:
        return any(a <= t <= b for a, b in self.s.stalls)

    def _advance(self, wall: float) -> int:
        """Index of the latest tick at or before ``wall`` (-1: none); owed ticks updated."""
        latest = bisect.bisect_right(self.s.times, wall) - 1
        while self.next_due <= latest:
            if not self.ticks[self.next_due].attempts:  # an early attempt may have taken it
                self.owed.append(self.next_due)
            self.next_due += 1
        return latest

    def _retry_of(self, wall: float) -> int | None:
        due = [k for k, last in self.retrying.items()
               if wall >= last + self.s.policy.interval_s - RETRY_SLACK_S]
        return min(due) if due else None

    def _catch_up(self, latest: int) -> int | None:
        if not self.s.catch_up:
            return None
        for k in self.owed:
            if k >= latest:
                return None
            if self.reading == "kind" or self._in_stall(self.s.times[k]):
                return k
        return None

    def _early_target(self, latest: int, wall: float) -> int | None:
        """Kind reading: the owed tick just ahead that this attempt may stand for, early."""
        nxt = latest + 1
        if self.reading != "kind" or nxt >= len(self.ticks) or self.ticks[nxt].attempts:
            return None
        if self.s.catch_up and self._in_stall(wall):
            return None  # a stalled Scheduler releases held triggers late, never early
        return nxt if self.s.times[nxt] - wall <= EARLY_FRACTION * period_at(self.s.times, nxt) else None

    def place(self, attempt: Attempt) -> None:
        latest = self._advance(attempt.wall)
        k = self._retry_of(attempt.wall)
        early = False
        if k is None:
            k = self._catch_up(latest)
        if k is None and (latest < 0 or self.ticks[latest].done):
            target = self._early_target(latest, attempt.wall)
            if target is not None:
                k, early = target, True
        if k is None and latest < 0:
            self.early.append(attempt)
            return
        k = latest if k is None else k
        self._record(k, attempt, early)

    def _record(self, k: int, attempt: Attempt, early: bool) -> None:
        tick = self.ticks[k]
        tick.early += int(early)
        if k in self.owed:
            self.owed.remove(k)
        if tick.add(attempt, self.s.policy):
            self.retrying[k] = attempt.wall
        else:
            self.retrying.pop(k, None)


def read(stream: Stream, reading: Reading) -> Ledger:
    """Place every attempt of ``stream`` under ``reading``."""
    reader = _Reader(stream, reading)
    for attempt in stream.attempts:
        reader.place(attempt)
    return Ledger(reader.ticks, reader.early, stream.lo)


def period_at(times: Sequence[float], k: int) -> float:
    """The gap from tick ``k`` to the next (or from the previous), for tolerances."""
    if k + 1 < len(times):
        return times[k + 1] - times[k]
    return times[k] - times[k - 1] if k > 0 else math.inf
