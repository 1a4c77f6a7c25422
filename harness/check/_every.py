"""``@every D`` cron bindings: a chain of fires per sidecar, not a grid.

dapr/kit ``cron/cron.go`` (``run``) sets an entry's next time to ``schedule.Next(now)`` when it
fires, and ``ConstantDelaySchedule.Next(t)`` is ``t + D`` (``cron/constantdelay.go``): each fire
is one period after the previous *fire*, not after the previous tick, so the timer's lateness
accumulates (*drift*). Each sidecar counts from its own start, and a restarted sidecar starts a
new chain. The model, per replica and per sidecar incarnation (between two ``replica_ready``
events):

- a fire at least ``D`` after the previous one is that chain's next tick;
- a fire whose phase (arrival minus index times ``D``) is below the smallest phase of the
  (two or three) fires before it, by more than the arrival jitter allowed (10% of ``D``, at
  least 50 ms), is *early*; a fire less than a quarter of ``D`` after the previous is a duplicate of
  that tick;
- a gap of ``g`` holds ``floor(g / D + 1/4) - 1`` lost ticks, at ``previous + jD`` (a fire up
  to three quarters of ``D`` late is late);
- after the incarnation's last fire, the ticks it still owed before it ended are lost; so are
  ticks of an incarnation that never fired.

A fire is due ``D`` after the previous one: its *lateness* is ``gap - D`` (the chain's first fire
has no known origin), and it is *late* beyond a quarter of ``D``, so a timer running slow shows
(a fire every 2.98 s for ``@every 2s`` is late on every tick). Drift is the mean of ``gap - D``
over every gap that holds no lost tick, in milliseconds per tick and per day.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from harness.check._delivery import Attempt
from harness.check._ledger import Ledger, TickRecord

__all__ = ["Drift", "chain_lateness", "chain_ledger", "drift_of", "keyed_chain_ledger",
           "late_fires"]

DUPLICATE_FRACTION = 0.25  # a fire within this fraction of D of the previous is a duplicate
# Arrival jitter allowed before a fire counts as early: the app sees a fire after daprd's HTTP
# call, whose latency varies (arrival gaps of an `@every 2s` binding ranged 1.936-2.048 s on
# this 2-core machine under load), so a gap is early only when it is short by more than this.
EARLY_TOLERANCE_FRACTION = 0.1
EARLY_TOLERANCE_MIN_S = 0.05
RECENT_FIRES = 3  # fires whose phases an arrival is compared with
LATE_FRACTION = 0.25  # of D: a fire later than this after its due time is late


@dataclass(frozen=True)
class Drift:
    per_tick_ms: float | None
    per_day_s: float | None
    gaps: int

    def to_dict(self) -> dict[str, float | int | None]:
        return {"per_tick_ms": self.per_tick_ms, "per_day_s": self.per_day_s, "gaps": self.gaps}


def _lost_between(prev: float, nxt: float, period: float) -> list[float]:
    """Ticks a gap skipped: a fire up to three quarters of D late is late, not a loss (the
    chain fires an overdue entry once, at wake, and counts on from there)."""
    missing = max(0, math.floor((nxt - prev) / period + LATE_FRACTION) - 1)
    return [prev + j * period for j in range(1, missing + 1)]


def _owed_until(last: float, end: float, period: float) -> list[float]:
    """Ticks a chain whose last fire was ``last`` owed before ``end`` (exclusive)."""
    n = max(0, math.ceil((end - last) / period - 1 - DUPLICATE_FRACTION))
    return [last + j * period for j in range(1, n + 1)]


def _is_early(phase: float, recent: Sequence[float], period: float) -> bool:
    """Whether a fire came before the chain allows. A fire's *phase* is its arrival minus its
    index times D; the chain never fires early (next = fire + D), so phases only grow (by the
    timer's lateness), while arrival latency inflates single phases. A phase below the smallest
    of the recent ones, by more than the jitter allowed, is early; a short gap right after a
    late arrival is not."""
    tolerance = max(EARLY_TOLERANCE_MIN_S, EARLY_TOLERANCE_FRACTION * period)
    # Two references at least: a sidecar's first fire often arrives late (the app is still
    # warming up), and alone it would make the next fire look early.
    return len(recent) >= 2 and phase < min(recent) - tolerance


def _incarnation(fires: Sequence[Attempt], start: float, end: float, period: float,
                 lo: float, hi: float, distinct: bool = False) -> list[TickRecord]:
    """Tick records of one sidecar incarnation alive in ``[start, end)``. ``distinct``: every
    fire is its own tick (a workflow's iterations carry their key), never a duplicate."""
    records: list[TickRecord] = []

    def tick(t: float, attempt: Attempt | None = None, early: bool = False,
             due: float | None = None) -> TickRecord:
        rec = TickRecord(t, lo <= t < hi, due=due)
        if attempt is not None:
            rec.add(attempt, retry=False)
            rec.early = int(early)
        records.append(rec)
        return rec

    if not fires:
        n = max(0, math.floor((min(end, hi) - max(start, lo)) / period))
        return [TickRecord(max(start, lo) + j * period, True) for j in range(1, n + 1)]
    previous: TickRecord | None = None
    phases: list[float] = []  # arrival - index * D of the latest fires (see _is_early)
    index = 0
    for fire in fires:
        if previous is None:
            for t in _lost_between(min(start, fire.wall - period), fire.wall, period):
                tick(t)
            previous = tick(fire.wall, fire)
            phases.append(fire.wall)
            continue
        gap = fire.wall - previous.time
        if gap < DUPLICATE_FRACTION * period and not distinct:
            previous.add(fire, retry=False)
            continue
        lost = _lost_between(previous.time, fire.wall, period)
        for t in lost:
            tick(t)
        index += len(lost) + 1
        phase = fire.wall - index * period
        if lost:  # an overdue fire restarts the chain from itself (next = wake + D): new phase
            previous, phases = tick(fire.wall, fire), [phase]
            continue
        previous = tick(fire.wall, fire, early=_is_early(phase, phases, period),
                        due=previous.time + period)
        phases = [*phases[-(RECENT_FIRES - 1):], phase]
    for t in _owed_until(previous.time, end, period):
        tick(t)
    return records


def chain_ledger(fires: Sequence[Attempt], readies: Sequence[float], period: float,
                 lo: float, hi: float, stop: float, distinct: bool = False,
                 since: float = -math.inf) -> Ledger:
    """The ledger of one replica's ``@every`` binding: ``readies`` are its sidecar starts,
    ``[lo, hi)`` the judged range, ``stop`` when its last incarnation ended; fires before
    ``since`` stand for no tick (early)."""
    starts = [max(s, since) for s in readies] or [lo]
    early = sorted((a for a in fires if a.wall < since), key=lambda a: a.wall)
    fires = sorted((a for a in fires if a.wall >= since), key=lambda a: a.wall)
    ticks: list[TickRecord] = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else stop
        # A sidecar's cron starts before it reports ready: its first incarnation owns the
        # fires recorded before that.
        last = i + 1 == len(starts)
        mine = [f for f in fires if (i == 0 or start <= f.wall) and (last or f.wall < end)]
        ticks += _incarnation(mine, start, end, period, lo, hi, distinct)
    return Ledger(sorted(ticks, key=lambda t: t.time), early, lo)


def keyed_chain_ledger(attempts: Sequence[tuple[str | None, Attempt]], start: float,
                       period: float, lo: float, hi: float, stop: float,
                       since: float = -math.inf) -> Ledger:
    """A chain whose fires carry their own tick key (a workflow's iteration): the first attempt
    of each key is a fire of the chain, started at ``start`` (the loop works first, then
    waits), and its own tick however soon it came (too soon: early); every further attempt of
    a key stands for that key's tick (a re-executed activity: a duplicate). Attempts without a
    key are chained by time alone."""
    firsts: dict[str, Attempt] = {}
    again: list[tuple[str, Attempt]] = []
    loose: list[Attempt] = []
    for key, attempt in sorted(attempts, key=lambda a: a[1].wall):
        if key is None:
            loose.append(attempt)
        elif key in firsts:
            again.append((key, attempt))
        else:
            firsts[key] = attempt
    ledger = chain_ledger([*firsts.values(), *loose], [start - period], period, lo, hi, stop,
                          distinct=not loose, since=since)
    by_fire = {id(a): t for t in ledger.ticks for a in t.attempts}
    for key, attempt in again:
        tick = by_fire.get(id(firsts[key]))
        if tick is None:  # its first run stood for no tick (before ``since``)
            ledger.early.append(attempt)
        else:
            tick.add(attempt, retry=False)
    return ledger


def drift_of(ledgers: Sequence[Ledger], period: float) -> Drift:
    """Mean ``gap - D`` over the fires due one period after the previous (no tick lost between)."""
    excess = [late for ledger in ledgers for late in chain_lateness(ledger)]
    if not excess:
        return Drift(None, None, 0)
    per_tick = sum(excess) / len(excess)
    return Drift(round(per_tick * 1000, 3), round(per_tick * 86400 / period, 3), len(excess))


def chain_lateness(ledger: Ledger) -> list[float]:
    """``gap - D`` of every fire due one period after the previous fire."""
    return [t.attempts[0].wall - t.due for t in ledger.ticks if t.attempts and t.due is not None]


def late_fires(ledger: Ledger, period: float) -> list[TickRecord]:
    """Judged fires later than ``LATE_FRACTION`` of D after their due time."""
    return [t for t in ledger.judged if t.attempts and t.due is not None
            and t.attempts[0].wall - t.due > LATE_FRACTION * period]
