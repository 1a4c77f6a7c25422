"""Load sets reported as one result each: their members judged one by one, then summed.

Every member of a scenario's ``load:`` set is a job or reminder like any other, so the tick
models judge each alone (``_mechanisms``). Five thousand rows would say nothing a reader can
take in, so the members' results are folded into one per set: counts summed (ticks, attempts,
lost and duplicated under both readings, the accounting), lateness and the app's own time over
every member's samples, the verdict the worst member's, and the reasons naming how many members
failed and the worst of them with its own reasons.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import fields

import numpy as np

from harness.check._mechanisms import _percentiles
from harness.check._result import Accounting, Bound, MechanismResult, TickView, worst
from harness.record.history import History
from harness.scenario.model import LoadSet, Scenario

__all__ = ["SAMPLES_KEPT", "fold_load_sets"]

SAMPLES_KEPT = 1001  # lateness quantiles a set's result keeps (its members' samples are many)
_ORDER = {"fail": 0, "ambiguous": 1, "pass": 2, "n/a": 3}


def fold_load_sets(scenario: Scenario, history: History,
                   results: Sequence[MechanismResult]) -> list[MechanismResult]:
    """``results`` with each load set's members replaced by one result, where its first was."""
    members = scenario.load_members
    groups: dict[str, list[MechanismResult]] = {}
    out: list[MechanismResult | str] = []
    for result in results:
        load = members.get(result.name)
        if load is None or load.mechanism != result.mechanism:
            out.append(result)
            continue
        if load.name not in groups:
            groups[load.name] = []
            out.append(load.name)
        groups[load.name].append(result)
    sets = {s.name: s for s in scenario.load}
    return [_folded(sets[r], groups[r], history) if isinstance(r, str) else r for r in out]


def _sum_bounds(bounds: list[Bound]) -> Bound:
    return Bound(sum(b.low for b in bounds), sum(b.high for b in bounds))


def _sum_views(views: list[TickView]) -> TickView:
    bounds = {name: _sum_bounds([getattr(v, name) for v in views])
              for name in ("once", "duplicated", "extra", "lost")}
    return TickView(ticks=sum(v.ticks for v in views), undelivered=sum(v.undelivered for v in views),
                    **bounds)


def _sum_accounting(parts: list[Accounting]) -> Accounting:
    return Accounting(**{f.name: sum(getattr(a, f.name) for a in parts) for f in fields(Accounting)})


def _quantiles(values: list[float]) -> list[float]:
    if len(values) <= SAMPLES_KEPT:
        return sorted(values)
    return [round(float(v), 3) for v in np.quantile(np.array(values), np.linspace(0, 1, SAMPLES_KEPT))]


def _counter(dicts: list[dict[int, int]]) -> dict[int, int]:
    total: Counter[int] = Counter()
    for d in dicts:
        total.update(d)
    return dict(total)


def _phases(results: list[MechanismResult]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for result in results:
        for phase, tally in result.phases.items():
            into = out.setdefault(phase, dict.fromkeys(tally, 0))
            for key, value in tally.items():
                into[key] += value
    return out


def _reasons(load: LoadSet, results: list[MechanismResult]) -> list[str]:
    bad = [r for r in results if r.verdict in ("fail", "ambiguous")]
    if not bad:
        return []
    worst_one = min(bad, key=lambda r: (_ORDER[r.verdict], -r.across.lost.high,
                                        -r.across.duplicated.high, -r.early, r.name))
    counts = Counter(r.verdict for r in bad)
    said = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
    return [f"{said} of {len(results)} {load.mechanism}s; worst {worst_one.name}: "
            + "; ".join(worst_one.reasons)]


def _app_ms(history: History, load: LoadSet) -> dict[str, float | None]:
    names = set(load.member_names())
    return _percentiles([t.app_ms for t in history.triggers
                         if t.app_ms is not None and t.mechanism == load.mechanism
                         and t.name in names and t.outcome != "refused"])


def _folded(load: LoadSet, results: list[MechanismResult], history: History) -> MechanismResult:
    first = results[0]
    samples = [s for r in results for s in r.lateness_samples_ms]
    lateness = _percentiles(samples)
    any_reading = [r.lateness_ms["max_any_reading"] for r in results
                   if r.lateness_ms.get("max_any_reading") is not None]
    if any_reading:
        lateness["max_any_reading"] = max(any_reading)
    notes = Counter(note for r in results for note in r.notes)
    return MechanismResult(
        mechanism=first.mechanism, name=load.name, schedule=first.schedule, view=first.view,
        replicas=max(r.replicas for r in results), window_s=first.window_s, grace_s=first.grace_s,
        triggers=sum(r.triggers for r in results),
        per_replica=_counter([r.per_replica for r in results]),
        accounting=_sum_accounting([r.accounting for r in results]),
        across=_sum_views([r.across for r in results]),
        per_replica_view=_sum_views([r.per_replica_view for r in results]),
        attempts=sum(r.attempts for r in results), deliveries=sum(r.deliveries for r in results),
        failed=sum(r.failed for r in results), retries=sum(r.retries for r in results),
        gated_out=sum(r.gated_out for r in results), early=sum(r.early for r in results),
        late=sum(r.late for r in results), replayed=sum(r.replayed for r in results),
        lateness_ms=lateness, lateness_samples_ms=_quantiles(samples), drift=None,
        phases=_phases(results),
        lost_at_s=[lost for r in results for lost in r.lost_at_s][:40],
        lost_by_replica=None, delivery_expected=first.delivery_expected,
        early_low=sum(r.early_low for r in results),
        verdict=worst([r.verdict for r in results]), reasons=_reasons(load, results),
        notes=[f"{load.count} {load.mechanism}s of load set {load.name!r} ({results[0].name} .. "
               f"{results[-1].name}), each judged alone, summed here"]
              + [f"{n} of them: {note}" for note, n in notes.most_common(5)],
        app_ms=_app_ms(history, load),
    )
