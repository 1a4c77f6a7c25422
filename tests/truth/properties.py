"""Run explicitly: `pytest tests/truth/properties.py` (HYPOTHESIS_PROFILE=ci for 2,000+ examples).
Not yet in the default suite: the checker does not pass every property yet (see the README's
"How a history is judged"); the failures are the list of what the checker still gets wrong.

The checker against ground truth: histories generated from an independent reference model of
Dapr's delivery (tests/truth/), each trigger with its true label, over all seven mechanisms,
1-10 replicas, random schedules, failure policies, handler answers and faults, with anomalies
from a catalog injected. The checker (``harness.check.check_run``) must recover the truth:

- every count it reports brackets the true count (``low <= true <= high``);
- retries, late ticks and undelivered ticks (single numbers) equal the truth where nothing
  makes them ambiguous (no faults);
- the verdict fails whenever the truth breaks the scenario's expectation (or, in a fault
  scenario, Dapr's promise under its faults);
- a history whose truth keeps the expectation passes;
- a torn or garbled record is a one-line error naming the file, the line and the field.

Every property is parametrized by anomaly kind, so every kind of the catalog is drawn; each
example that passes its filters is counted (tests/truth/effective.py) and the counts are
printed at the end of the session. Under ``HYPOTHESIS_PROFILE=ci`` each property runs at least
the profile's ``max_examples`` (2,000) effective examples in all; the default profile runs a
few dozen, to stay quick.
"""

from __future__ import annotations

import math
import random
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import Phase, assume, event, find, given, settings
from hypothesis import strategies as st

from harness.check import CheckReport, MechanismResult, check_run
from harness.record.history import load_history
from tests.truth.effective import EFFECTIVE, note
from tests.truth.generate import (
    ANOMALIES,
    BREAKING,
    DAMAGE,
    Generated,
    damaged,
    generated,
    render_lines,
)

# The profile's max_examples is the least number of effective examples per property; the
# default (dev) profile runs fewer, so that this file takes seconds.
_PROFILE_EXAMPLES = settings.default.max_examples
_PER_PROPERTY = _PROFILE_EXAMPLES if _PROFILE_EXAMPLES >= 1000 else 40

BRACKETED = (None, *ANOMALIES)
KEPT = (None, "late", "clock_step")  # anomalies whose truth never breaks an expectation
EXACT = (None, "late", "retry_beyond", "retry_sooner", "clock_step")


# The default profile does not shrink a failure (a shrink takes minutes over the properties);
# ``HYPOTHESIS_PROFILE=ci`` does, and prints the shortest counterexample.
_PHASES = tuple(settings.default.phases) if _PROFILE_EXAMPLES >= 1000 else (
    Phase.explicit, Phase.reuse, Phase.generate)


def _budget(items: int) -> settings:
    """Enough examples per parametrized item that the property's items add up to the budget."""
    return settings(max_examples=max(3, math.ceil(1.2 * _PER_PROPERTY / items)), phases=_PHASES)


def _result(report: CheckReport, g: Generated) -> MechanismResult:
    found = [m for m in report.mechanisms if m.mechanism == g.mechanism and m.name == g.name]
    assert len(found) == 1, f"no single result for {g.mechanism} {g.name!r}\n{g.explain()}"
    return found[0]


def _check(g: Generated) -> CheckReport:
    event(f"mechanism {g.mechanism}")
    event(f"faults {bool(g.scenario.faults)}")
    return check_run(g.scenario, g.history)


def _outside(checks: list[tuple[str, int, int, int]]) -> list[str]:
    """Each (count, checker's low, checker's high, true value) where the truth falls outside."""
    return [f"{name}: checker {low}-{high}, true {true}" for name, low, high, true in checks
            if not low <= true <= high]


@pytest.mark.parametrize("kind", BRACKETED, ids=lambda k: k or "clean")
@_budget(len(BRACKETED))
@given(data=st.data())
def test_counts_bracket_the_truth(kind: str | None, data: st.DataObject) -> None:
    g = data.draw(generated(kind))
    note("counts bracket the truth", kind)
    result = _result(_check(g), g)
    view = result.per_replica_view if g.per_replica else result.across
    truth = g.truth
    problems = _outside([("lost", view.lost.low, view.lost.high, truth.lost),
                         ("duplicated", view.duplicated.low, view.duplicated.high,
                          truth.duplicated),
                         ("extra", view.extra.low, view.extra.high, truth.extra),
                         ("early", result.early_low, result.early, truth.early)])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("kind", EXACT, ids=lambda k: k or "clean")
@_budget(len(EXACT))
@given(data=st.data())
def test_retries_lateness_and_undelivered_are_exact(kind: str | None, data: st.DataObject) -> None:
    g = data.draw(generated(kind, faults=False))
    note("retries, lateness and undelivered are exact", kind)
    result = _result(_check(g), g)
    undelivered = (result.per_replica_view if g.per_replica else result.across).undelivered
    problems = _outside([(name, got, got, true) for name, got, true in (
        ("retries", result.retries, g.truth.retries), ("late", result.late, g.truth.late),
        ("undelivered", undelivered, g.truth.undelivered))])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("kind", BREAKING)
@_budget(len(BREAKING))
@given(data=st.data())
def test_the_verdict_fails_when_the_truth_breaks_the_expectation(kind: str,
                                                                data: st.DataObject) -> None:
    g = data.draw(generated(kind))
    assume(g.breaks)
    note("verdict fails when the truth breaks the expectation", kind)
    report = _check(g)
    assert not report.passed, f"passed although {'; '.join(g.breaks)}"


@pytest.mark.parametrize("kind", KEPT, ids=lambda k: k or "clean")
@_budget(len(KEPT))
@given(data=st.data())
def test_histories_that_keep_the_expectation_pass(kind: str | None, data: st.DataObject) -> None:
    g = data.draw(generated(kind))
    assume(not g.breaks)
    note("histories that keep the expectation pass", kind)
    report = _check(g)
    reasons = [f"{c.checker} {c.verdict}: {r}" for c in report.checkers if not c.valid
               for r in c.reasons or ["(no reason given)"]]
    assert report.passed, "\n".join(reasons)


def _names_field(message: str, field: str) -> bool:
    """The message names the field as the problem (not merely quotes the record)."""
    return re.search(rf"(field\W+{field}\b|'{field}')", message) is not None


@pytest.mark.parametrize("damage", DAMAGE)
@_budget(len(DAMAGE))
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_a_damaged_record_is_a_one_line_error(damage: str, data: st.DataObject,
                                              seed: int) -> None:
    g = data.draw(generated(None))
    lines = render_lines(g.history)
    assume(len(lines) >= 2)
    bad, line, field = damaged(lines, damage, random.Random(seed))
    note("a damaged record is a one-line error", damage)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.jsonl"
        path.write_text("\n".join(bad) + ("\n" if damage != "torn" else ""), encoding="utf-8")
        with pytest.raises(ValueError) as caught:
            load_history(path)
    message = str(caught.value)
    assert "\n" not in message, message
    assert str(path) in message and re.search(rf"(:|line ){line}\b", message), message
    assert not field or _names_field(message, field), f"does not name {field!r}: {message}"


_PROPERTIES = {
    "counts bracket the truth": BRACKETED,
    "retries, lateness and undelivered are exact": EXACT,
    "verdict fails when the truth breaks the expectation": BREAKING,
    "histories that keep the expectation pass": KEPT,
    "a damaged record is a one-line error": DAMAGE,
}


def test_every_anomaly_kind_of_the_catalog_is_drawn() -> None:
    """Each property draws every kind it is parametrized with (the counts printed at the end
    show how many); a kind no property of this session drew must at least be drawable."""
    assert set(BRACKETED) - {None} == set(ANOMALIES)
    assert set(BREAKING) <= set(ANOMALIES) and set(KEPT) - {None} <= set(ANOMALIES)
    for prop, kinds in _PROPERTIES.items():
        drawn = EFFECTIVE.get(prop)
        for kind in kinds:
            if drawn:
                assert drawn[kind or "clean"] >= 1, f"{prop}: no effective example of {kind}"
            elif kind in ANOMALIES or kind is None:
                example = find(generated(kind), lambda g: True,
                               settings=settings(database=None, phases=(Phase.generate,)))
                assert example.anomaly == kind
