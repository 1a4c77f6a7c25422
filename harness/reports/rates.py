"""Rates with their 95 % confidence intervals: what the counted ticks exclude, not just what
they showed.

A rate is ``count`` of ``total`` (lost ticks of judged ticks, say). Its interval is the exact
(Clopper-Pearson) binomial interval from scipy; where the record is ambiguous the count is a
``Bound`` (kind and strict reading) and the interval runs from the kind reading's lower limit
to the strict reading's upper limit, so no reading of the record is excluded. "0 of N" still
has an upper limit: 0 lost of 462 ticks is at most 0.8 % at 95 %.

Every report renders rates through ``Rate`` so the wording and the digits are the same
everywhere: per 1,000 ticks (``per_thousand``) or as a share (``share``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from scipy.stats import binomtest

from harness.check import Bound

__all__ = ["CONFIDENCE", "Rate", "clopper_pearson", "pooled"]

CONFIDENCE = 0.95


@lru_cache(maxsize=4096)
def clopper_pearson(count: int, total: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The exact two-sided binomial interval of ``count`` successes in ``total`` trials."""
    if total <= 0:
        return 0.0, 1.0
    if not 0 <= count <= total:
        raise ValueError(f"count {count} is not within 0..{total}")
    interval = binomtest(count, total).proportion_ci(confidence_level=confidence, method="exact")
    return float(interval.low), float(interval.high)


def _bound(count: Bound | int) -> Bound:
    return count if isinstance(count, Bound) else Bound(count, count)


def _num(value: float) -> str:
    """One decimal below 100, none above; never '-0.0'."""
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


@dataclass(frozen=True)
class Rate:
    """``count`` (both readings) of ``total``, with its interval at ``confidence``."""

    count: Bound
    total: int
    confidence: float = CONFIDENCE

    @classmethod
    def of(cls, count: Bound | int, total: int) -> Rate:
        return cls(_bound(count), total)

    @property
    def known(self) -> bool:
        return self.total > 0

    @property
    def point(self) -> tuple[float, float]:
        """The observed rate under the kind and the strict reading (fractions)."""
        if not self.known:
            return 0.0, 0.0
        return self.count.low / self.total, self.count.high / self.total

    @property
    def interval(self) -> tuple[float, float]:
        """Lower limit of the kind reading, upper limit of the strict one (fractions)."""
        return (clopper_pearson(self.count.low, self.total, self.confidence)[0],
                clopper_pearson(self.count.high, self.total, self.confidence)[1])

    @property
    def upper(self) -> float:
        return self.interval[1]

    def _scaled(self, scale: float) -> tuple[str, str, str]:
        low, high = (_num(scale * p) for p in self.point)
        point = low if low == high else f"{low}-{high}"
        lo, hi = (_num(scale * p) for p in self.interval)
        return point, lo, hi

    def _text(self, scale: float, unit: str) -> str:
        if not self.known:
            return "-"
        point, lo, hi = self._scaled(scale)
        if self.count.high == 0:
            return f"{point}{unit} (≤ {hi})"
        return f"{point}{unit} [{lo}-{hi}]"

    def per_thousand(self) -> str:
        """``2.3 [0.4-7.1]``, or ``0.0 (≤ 8.0)`` when nothing was counted; ``-`` without ticks."""
        return self._text(1000.0, "")

    def share(self) -> str:
        """The same as a percentage: ``99.1 % [97.0-99.9]``."""
        return self._text(100.0, " %")

    def bound_sentence(self, what: str) -> str:
        """Prose: ``0 of 462 ticks lost: at most 0.8 % at 95 %`` (or the interval when some
        were counted)."""
        if not self.known:
            return f"no {what.split()[-1]} to count"
        pct = int(round(100 * self.confidence))
        if self.count.high == 0:
            return f"0 of {self.total} {what}: at most {_num(100 * self.upper)} % at {pct} %"
        lo, hi = (_num(100 * p) for p in self.interval)
        return (f"{self.count} of {self.total} {what}: {lo}-{hi} % at {pct} %")

    def __add__(self, other: Rate) -> Rate:
        return Rate(Bound(self.count.low + other.count.low, self.count.high + other.count.high),
                    self.total + other.total, self.confidence)


def pooled(rates: Iterable[Rate]) -> Rate:
    """The counts and totals of several rates added up (one pooled rate)."""
    out = Rate(Bound(), 0)
    for rate in rates:
        out = out + rate
    return out
