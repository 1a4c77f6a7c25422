"""The ledger: which recorded attempt stands for which tick, under two readings.

Neither Dapr mechanism tells the app which tick a request belongs to, so a history can admit
more than one explanation. Two readings are computed and both reported:

- *kind* (fewest anomalies): a scheduler-backed attempt may stand for the oldest tick still
  owed at or before it, wherever it is (a late delivery); a retry may come late; an attempt
  just before an owed tick whose predecessor is already done stands for that tick, counted
  *early*.
- *strict* (most anomalies): an attempt stands for the latest tick at or before it, except
  inside a *stall* (a fault that can hold this mechanism's triggers, see
  ``harness.scenario.faults``), where the Scheduler is known to hold ticks and replay them in
  order (go-etcd-cron ``internal/counter/counter.go``: ``TriggerSuccess`` moves ``LastTrigger``
  to ``schedule.Next(count, LastTrigger)``, the next *scheduled* time, so missed ticks fire one
  after another, oldest first, and a job's next tick is never fired before the current one's
  result). A second attempt at a done tick, before the next tick, may have been that next tick
  delivered early: the strict reading counts it among the early ones too when it came nearer the
  next tick than its own.

Mechanisms without catch-up (cron bindings: dapr/kit ``cron`` fires an overdue entry once at
wake time and computes the next from there, never before its time) read the same either way:
an attempt stands for the latest tick at or before it, and the ticks it skipped are lost.

Retries follow the failure policy exactly (``counter.go`` ``policyTryAgain``): a failed attempt
of a tick is retried at the tick's time plus ``n`` intervals for its ``n``-th retry, at most
``maxRetries`` times; ``drop`` never retries. An attempt is a retry only if the policy has one
left and it comes no sooner than that; under the strict reading it must also come before the
next tick (unless the retry is due after it, or a stall held it), or the next tick fired and the
retries the policy owed never came (the tick is *abandoned*). Any other further attempt of a
tick is a *re-send* (a duplicate). Attempts outside the task's life (before it was created,
after it was deleted, or where a fire would be past its ``repeats`` or ``ttl``) are
*unexplained*. Every attempt ends up in exactly one place: a tick, the ``early`` list (before
any tick it could stand for) or the ``unexplained`` list.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from harness.check._delivery import Attempt, RetryPolicy

__all__ = ["Ledger", "Reading", "Stream", "TickRecord", "period_at", "read", "read_both"]

Reading = Literal["kind", "strict"]
# A retry comes at the tick's time plus n intervals; measured here 1-2 ms after it (the
# claims-handlers run: 500s at T, T + 1.001, T + 2.000, T + 3.001). The tick time is computed
# from the create request, before the Scheduler stored the job, so it is never later than the
# true one; this allowance covers the clocks' resolution.
RETRY_SLACK_S = 0.05
EARLY_FRACTION = 0.25  # kind reading: an attempt this close (of a period) before a tick is early
# A trigger in flight when its job was deleted can still arrive while the delete returns.
DELETE_SLACK_S = 0.5


@dataclass(slots=True)
class TickRecord:
    time: float
    judged: bool
    attempts: list[Attempt] = field(default_factory=list)
    deliveries: int = 0
    failed: int = 0
    retries: int = 0
    gated_out: int = 0
    resends: int = 0  # further attempts that are neither retries nor gated out: duplicates
    early: int = 0
    exhausted: bool = False  # every attempt the policy allows failed: Dapr gave the tick up
    abandoned: bool = False  # failed, and the retries the policy owed never came
    due: float | None = None  # ``@every`` chains: when this fire was due (previous fire + D)
    first: float | None = None  # the first attempt's arrival (attempts come in arrival order)
    sent: int = 0  # times the tick was sent, retries and gated-out attempts aside (>1: duplicated)

    @property
    def done(self) -> bool:
        return self.deliveries > 0 or self.exhausted or self.abandoned

    def add(self, attempt: Attempt, retry: bool) -> None:
        if self.first is None or attempt.wall < self.first:
            self.first = attempt.wall
        self.attempts.append(attempt)
        if attempt.gated_out:
            self.gated_out += 1
            return
        if retry:
            self.retries += 1
        else:
            if self.sent:
                self.resends += 1
            self.sent += 1
        if attempt.delivered:
            self.deliveries += 1
        else:
            self.failed += 1


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
    # When the task existed ((start, end) pairs; None: always): attempts outside are unexplained.
    alive: tuple[tuple[float, float], ...] | None = None
    # Tick index -> when the schedule would have fired next, where its repeats or ttl ended it
    # there: an attempt at or after that time is a fire past the end.
    beyond: Mapping[int, float] = field(default_factory=dict)
    policies: Sequence[RetryPolicy] | None = None  # per tick, when creations differ
    recording_end: float = math.inf

    def policy_of(self, k: int) -> RetryPolicy:
        return self.policy if self.policies is None else self.policies[k]


@dataclass
class Ledger:
    ticks: list[TickRecord]
    early: list[Attempt]  # attempts before any tick they could stand for
    lo: float  # start of the judged range: unjudged ticks before it are "before the window"
    unexplained: list[Attempt] = field(default_factory=list)
    maybe_early: int = 0  # re-sends that may have been the next (judged) tick, early

    @property
    def judged(self) -> list[TickRecord]:
        return [t for t in self.ticks if t.judged]


class _Reader:
    def __init__(self, stream: Stream, reading: Reading) -> None:
        self.s, self.reading = stream, reading
        self.ticks = [TickRecord(t, stream.lo <= t < stream.hi) for t in stream.times]
        self.owed: list[int] = []  # ticks due and never attempted, ascending
        self.next_due = 0  # first tick index not yet added to ``owed``
        self.pending: dict[int, int] = {}  # tick -> retries used, while a retry is owed
        self.early: list[Attempt] = []
        self.unexplained: list[Attempt] = []
        self.maybe_early = 0
        # Whether anything happened that the other reading may read differently (a tick owed
        # when an attempt came, a re-send, an abandoned retry, an attempt standing for no tick).
        self.doubtful = False

    def _in_stall(self, t: float) -> bool:
        return any(a <= t <= b for a, b in self.s.stalls)

    def _alive(self, wall: float) -> bool:
        alive = self.s.alive
        if alive is None:
            return True
        return any(a - RETRY_SLACK_S <= wall <= b + DELETE_SLACK_S for a, b in alive)

    def _advance(self, wall: float) -> int:
        """Index of the latest tick at or before ``wall`` (-1: none); owed ticks updated."""
        latest = bisect.bisect_right(self.s.times, wall) - 1
        while self.next_due <= latest:
            if not self.ticks[self.next_due].attempts:  # an early attempt may have taken it
                self.owed.append(self.next_due)
            self.next_due += 1
        return latest

    def _due(self, k: int) -> float:
        return self.s.times[k] + (self.pending[k] + 1) * self.s.policy_of(k).interval_s

    def _retry_of(self, wall: float) -> int | None:
        if not self.pending:
            return None
        for k in sorted(self.pending):
            due = self._due(k)
            if wall < due - RETRY_SLACK_S:
                continue
            if self.reading == "kind" or k + 1 >= len(self.s.times) or self._in_stall(wall):
                return k
            nxt = self.s.times[k + 1]
            if wall < nxt or due >= nxt - RETRY_SLACK_S:
                return k
        return None

    def _catch_up(self, latest: int) -> int | None:
        if not self.s.catch_up or not self.owed:
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
        if (self.reading != "kind" or not self.s.catch_up or nxt >= len(self.ticks)
                or self.ticks[nxt].attempts or self._in_stall(wall)):
            return None  # a stalled Scheduler releases held triggers late, never early
        return nxt if self.s.times[nxt] - wall <= EARLY_FRACTION * period_at(self.s.times, nxt) else None

    def _past_the_end(self, latest: int, wall: float) -> bool:
        beyond = self.s.beyond.get(latest)
        return beyond is not None and wall >= beyond - RETRY_SLACK_S

    def place(self, attempt: Attempt) -> None:
        if not self._alive(attempt.wall):
            self.unexplained.append(attempt)
            self.doubtful = True
            return
        latest = self._advance(attempt.wall)
        if self.owed and self.owed[0] < latest:
            self.doubtful = True
        if not attempt.gated_out and (k := self._retry_of(attempt.wall)) is not None:
            self._record(k, attempt, retry=True)
            return
        k = None if attempt.gated_out else self._catch_up(latest)
        if k is not None:
            self._record(k, attempt)
            return
        if latest < 0 or (self.ticks[latest].attempts and not attempt.gated_out):
            target = self._early_target(latest, attempt.wall)
            if target is not None:
                self.ticks[target].early += 1
                self._record(target, attempt)
                return
        if latest < 0:
            self.early.append(attempt)
            self.doubtful = True
            return
        tick = self.ticks[latest]
        if tick.attempts and not attempt.gated_out:
            self.doubtful = True
            if self._past_the_end(latest, attempt.wall):
                self.unexplained.append(attempt)
                return
            self._count_maybe_early(latest, attempt.wall)
        self._record(latest, attempt)

    def _count_maybe_early(self, latest: int, wall: float) -> None:
        """Strict reading: a re-send of a done tick nearer the next tick than its own may have
        been the next tick, delivered early. Not inside a stall of a fault that holds this
        mechanism's triggers: a stalled Scheduler releases held triggers late, never early, so a
        re-send there is a held tick's replay (seen on every kind of such fault on real Dapr)."""
        nxt = latest + 1
        if (self.reading == "strict" and self.s.catch_up and self.ticks[latest].done
                and not self._in_stall(wall)
                and nxt < len(self.ticks) and self.ticks[nxt].judged
                and (self.s.times[latest] + self.s.times[nxt]) / 2 < wall < self.s.times[nxt]):
            self.maybe_early += 1

    def _record(self, k: int, attempt: Attempt, retry: bool = False) -> None:
        tick = self.ticks[k]
        if self.owed and k in self.owed:
            self.owed.remove(k)
        if self.pending and self.reading == "strict" and not retry:
            for older in [j for j in self.pending if j < k]:
                self._abandon(older)  # a later tick fired: the older one's retries are over
        tick.add(attempt, retry)
        if attempt.gated_out:
            return
        if attempt.delivered or tick.deliveries:
            self.pending.pop(k, None)
            return
        if not retry and k in self.pending:
            return  # a re-send too soon to be the retry: the retry is still owed
        used = tick.retries
        if used < self.s.policy_of(k).max_retries:
            self.pending[k] = used
        else:
            self.pending.pop(k, None)
            tick.exhausted = True

    def _abandon(self, k: int) -> None:
        self.pending.pop(k)
        self.ticks[k].abandoned = True
        self.doubtful = True

    def finish(self) -> None:
        for k in list(self.pending):
            if self._due(k) + RETRY_SLACK_S < self.s.recording_end:
                self._abandon(k)


def _read(stream: Stream, reading: Reading) -> tuple[Ledger, bool]:
    reader = _Reader(stream, reading)
    for attempt in stream.attempts:
        reader.place(attempt)
    reader.finish()
    ledger = Ledger(reader.ticks, reader.early, stream.lo, reader.unexplained, reader.maybe_early)
    return ledger, reader.doubtful


def read(stream: Stream, reading: Reading) -> Ledger:
    """Place every attempt of ``stream`` under ``reading``."""
    return _read(stream, reading)[0]


def read_both(stream: Stream) -> dict[Reading, Ledger]:
    """Both readings of ``stream``: one ledger for both when nothing in the strict reading
    admits another (every attempt the first of its tick, the retry its policy made, or a tick
    of its own, with no tick owed meanwhile)."""
    strict, doubtful = _read(stream, "strict")
    return {"kind": read(stream, "kind") if doubtful else strict, "strict": strict}


def period_at(times: Sequence[float], k: int) -> float:
    """The gap from tick ``k`` to the next (or from the previous), for tolerances."""
    if k + 1 < len(times):
        return times[k + 1] - times[k]
    return times[k] - times[k - 1] if k > 0 else math.inf
