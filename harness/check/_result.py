"""Typed results of the checkers, one vocabulary: ``pass``, ``fail``, ``ambiguous``, ``n/a``.

Every checker follows one protocol (Jepsen's): ``check(scenario, history) -> CheckerResult``
whose ``valid`` says whether the run satisfied it. ``ambiguous`` (the history admits a reading
that fails) is not valid: a verdict never takes the kinder reading.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from harness.record.history import History
from harness.scenario.model import Scenario

__all__ = [
    "Accounting",
    "Bound",
    "Checker",
    "CheckerResult",
    "MechanismResult",
    "TickView",
    "Verdict",
    "worst",
]

Verdict = Literal["pass", "fail", "ambiguous", "n/a"]
_ORDER: dict[str, int] = {"n/a": 0, "pass": 1, "ambiguous": 2, "fail": 3}


def worst(verdicts: list[Verdict]) -> Verdict:
    return max(verdicts, key=lambda v: _ORDER[v], default="n/a")


@dataclass(frozen=True)
class Bound:
    """A count under the kind and the strict reading (equal when the history is unambiguous)."""

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

    @property
    def ambiguous(self) -> bool:
        return self.lost.ambiguous or self.duplicated.ambiguous


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
    lost_at_s: list[list[float | int | None]] = field(default_factory=list)
    lost_by_replica: dict[int, int] | None = None
    delivery_expected: str | None = None
    early_low: int = 0  # ... and under the reading that finds fewest
    # The app's own time on these attempts (Trigger.app_ms, ms): p50, p90, p99, max; all None
    # when the history predates it. How much of a lateness figure the harness could be.
    app_ms: dict[str, float | None] = field(default_factory=dict)
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

    def to_dict(self) -> dict[str, Any]:
        return {"checker": self.checker, "verdict": self.verdict, "valid": self.valid,
                "reasons": list(self.reasons), "details": self.details}


class Checker(Protocol):
    name: str

    def check(self, scenario: Scenario, history: History) -> CheckerResult: ...
