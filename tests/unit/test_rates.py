"""Rates with their 95 % intervals: the wording every report uses."""

from __future__ import annotations

import pytest

from harness.check import Bound
from harness.reports.rates import Rate, clopper_pearson, pooled


def test_none_of_462_is_at_most_0_8_percent() -> None:
    rate = Rate.of(0, 462)
    assert rate.interval[0] == 0.0 and rate.upper == pytest.approx(0.00795, abs=1e-5)
    assert rate.bound_sentence("ticks lost") == "0 of 462 ticks lost: at most 0.8 % at 95 %"
    assert rate.per_thousand() == "0.0 (≤ 8.0)"


def test_some_counted_have_a_two_sided_interval() -> None:
    rate = Rate.of(6, 200)
    assert rate.per_thousand() == "30.0 [11.1-64.2]"
    assert rate.share() == "3.0 % [1.1-6.4]"
    assert rate.bound_sentence("ticks duplicated") == "6 of 200 ticks duplicated: 1.1-6.4 % at 95 %"


def test_an_ambiguous_count_spans_both_readings() -> None:
    rate = Rate.of(Bound(1, 4), 13)
    assert rate.point == (1 / 13, 4 / 13)
    assert rate.interval == (clopper_pearson(1, 13)[0], clopper_pearson(4, 13)[1])
    assert rate.per_thousand().startswith("76.9-308 [")


def test_no_ticks_is_no_rate_and_counts_must_fit() -> None:
    assert Rate.of(0, 0).per_thousand() == "-"
    with pytest.raises(ValueError, match="not within 0..3"):
        clopper_pearson(4, 3)


def test_pooled_adds_counts_and_totals() -> None:
    total = pooled([Rate.of(Bound(0, 1), 100), Rate.of(2, 50)])
    assert (total.count, total.total) == (Bound(2, 3), 150)
