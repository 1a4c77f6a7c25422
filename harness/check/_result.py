"""Typed results of the checkers, one vocabulary: ``pass``, ``fail``, ``ambiguous``, ``unknown``,
``n/a``.

Every checker returns a ``CheckerResult`` whose ``valid`` says whether the run satisfied it
(the protocol is in ``harness.check``). ``ambiguous`` (the history admits a reading that fails)
is not valid: a verdict never takes the kinder reading; nor is ``unknown`` (the checker failed).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = [
    "Accounting",
    "Bound",
    "CheckerResult",
    "MechanismResult",
    "TaskTicks",
    "TickMark",
    "TickView",
    "Verdict",
    "worst",
]

Verdict = Literal["pass", "fail", "ambiguous", "unknown", "n/a"]
# ``unknown``: the checker itself failed (its exception is the reason); not valid, and below a
# fail the history itself shows.
_ORDER: dict[str, int] = {"n/a": 0, "pass": 1, "ambiguous": 2, "unknown": 3, "fail": 4}


def worst(verdicts: list[Verdict]) -> Verdict:
    return max(verdicts, key=lambda v: _ORDER[v], default="n/a")


@dataclass(frozen=True)
class Bound:
    """A count over the readings of a history: the fewest and the most any reading finds
    (equal when the history is unambiguous)."""

    low: int = 0
    high: int = 0

    @property
    def ambiguous(self) -> bool:
        return self.low != self.high

    def __str__(self) -> str:
        return str(self.high) if not self.ambiguous else f"{self.low}-{self.high}"


@dataclass(frozen=True)
class TickView:
    ticks: int = 0
    once: Bound = Bound()
    duplicated: Bound = Bound()  # ticks delivered more than once
    extra: Bound = Bound()  # deliveries beyond the first, summed over ticks
    lost: Bound = Bound()  # ticks with no attempt (gated: no work done)
    undelivered: int = 0  # ticks attempted, never delivered (the app refused every attempt)
    abandoned: Bound = Bound()  # ticks failed whose retries the failure policy owed never came

    @property
    def ambiguous(self) -> bool:
        return self.lost.ambiguous or self.duplicated.ambiguous


@dataclass(frozen=True)
class TickMark:
    """One tick of a task as the checker placed its attempts: what a timeline draws."""

    time: float  # wall time the tick fell due
    replica: int | None  # the stream's replica; None: one stream for the app-id
    judged: bool  # inside the window
    attempts: tuple[tuple[float, int, bool], ...]  # (wall, replica, delivered) of each
    deliveries: int
    lost: Bound  # 0 or 1: lowest and highest over the two readings
    duplicated: Bound
    late: bool  # first attempt later than ON_TIME_FRACTION of a period


@dataclass(frozen=True)
class TaskTicks:
    """Every tick of one job, binding or task, and the attempts no tick could stand for yet."""

    mechanism: str
    name: str
    schedule: str
    view: str  # "across replicas" or "per replica"
    ticks: tuple[TickMark, ...]
    early: tuple[tuple[float, int], ...]


@dataclass(frozen=True)
class Accounting:
    """Where every recorded attempt went; the parts add up to ``total``."""

    judged: int = 0  # stands for a tick inside the window
    before_window: int = 0
    after_window: int = 0
    early: int = 0  # before any tick it could stand for
    unexplained: int = 0  # no model can explain it (unknown task, after deletion, ...)

    @property
    def total(self) -> int:
        return (self.judged + self.before_window + self.after_window + self.early
                + self.unexplained)


@dataclass
class MechanismResult:
    mechanism: str
    name: str
    schedule: str
    view: str  # "across replicas" (one stream for the app) or "per replica"
    replicas: int
    window_s: float
    grace_s: float
    triggers: int
    per_replica: dict[int, int]
    accounting: Accounting
    across: TickView
    per_replica_view: TickView
    attempts: int
    deliveries: int
    failed: int
    retries: int
    gated_out: int
    early: int  # attempts before their tick under the reading that finds most
    late: int
    replayed: int
    lateness_ms: dict[str, float | None]
    lateness_samples_ms: list[float]
    drift: dict[str, float | int | None] | None = None
    phases: dict[str, dict[str, Any]] = field(default_factory=dict)
    lost_at_s: list[list[float | int | None]] = field(default_factory=list)  # [replica, s]: strict
    lost_at_s_kind: list[list[float | int | None]] | None = None  # the kind reading's (None: same)
    undelivered_at_s: list[float] = field(default_factory=list)  # ticks given up (all attempts failed)
    lost_by_replica: dict[int, int] | None = None
    delivery_expected: str | None = None
    early_low: int = 0  # ... and under the reading that finds fewest
    verdict: Verdict = "n/a"
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def triggers_per_tick(self) -> float:
        n = self.across.ticks
        return round(self.accounting.judged / n, 4) if n else 0.0

    @property
    def ambiguous(self) -> bool:
        return self.across.ambiguous or self.per_replica_view.ambiguous

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["triggers_per_tick"] = self.triggers_per_tick
        out["ambiguous"] = self.ambiguous
        out["per_replica"] = {str(k): v for k, v in sorted(self.per_replica.items())}
        if self.lost_by_replica is not None:
            out["lost_by_replica"] = {str(k): v for k, v in sorted(self.lost_by_replica.items())}
        return out


@dataclass
class CheckerResult:
    """What one checker concluded about a run."""

    checker: str
    verdict: Verdict
    reasons: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return self.verdict in ("pass", "n/a")
