"""Dapr's promises under faults, judged on the mechanism results of a fault scenario.

What each mechanism promises under each fault kind is stated once, beside the fault catalog
(``harness.scenario.faults.PROMISES``): the work of every tick done at least once, except for
ticks due while a fault its documented behaviour lets cost work is on (from the fault's start
until one period, plus the promise's tail, after it recovered); work not done twice where the
promise says so; nothing early; a failed job tick always retried as its policy says. Every lost
tick is looked at, under both readings of the history: a loss the kind reading also finds
outside every allowed fault fails the promise, one only the strict reading finds is ambiguous.
A workflow loop that stops at a fault and never resumes loses its ticks after the fault is
over, and fails.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.check._result import Bound, CheckerResult, MechanismResult, Verdict, worst
from harness.check._window import FaultWindow, Window
from harness.scenario.faults import PROMISES, Promise

__all__ = ["promise_result"]

Lost = Sequence[Sequence[float | int | None]]


def _period(result: MechanismResult) -> float:
    ticks = result.per_replica_view.ticks if result.view == "per replica" else result.across.ticks
    per_stream = result.replicas if result.view == "per replica" else 1
    return max(1.0, result.window_s * max(1, per_stream) / max(1, ticks))


def _allowed(promise: Promise, replica: int | None, at: float, faults: Sequence[FaultWindow],
             slack: float) -> bool:
    for f in faults:
        scope = promise.loses[f.kind] if f.kind in promise.loses else None
        if scope is None or (scope == "replica" and f.replica != replica):
            continue
        if f.start - slack <= at <= f.recovery_end + promise.loss_tail_s + slack:
            return True
    return False


def _outside(promise: Promise, lost: Lost, win: Window, slack: float) -> list[tuple[int | None, float]]:
    out = []
    for replica, at_s in lost:
        r = None if replica is None else int(replica)
        at = float(at_s or 0.0)
        if not _allowed(promise, r, win.start + at, win.faults, slack):
            out.append((r, at))
    return out


def _bounded(what: str, value: Bound, name: str) -> tuple[Verdict, list[str]]:
    if value.low:
        return "fail", [f"{name}: {value} {what}"]
    if value.high:
        return "ambiguous", [f"{name}: up to {value.high} {what} under one reading, none under another"]
    return "pass", []


def _losses(result: MechanismResult, promise: Promise, win: Window) -> tuple[Verdict, list[str]]:
    slack = _period(result)
    strict = _outside(promise, result.lost_at_s, win, slack)
    kind = strict if result.lost_at_s_kind is None else _outside(promise, result.lost_at_s_kind,
                                                                 win, slack)
    reasons = [f"{result.name}: lost" + ("" if r is None else f" on replica {r}")
               + f" at {s:.1f} s, outside a fault that may cost it work" for r, s in strict[:8]]
    if len(strict) > 8:
        reasons.append(f"{result.name}: {len(strict) - 8} more tick(s) lost outside a fault")
    if strict and kind:
        return "fail", reasons
    if strict or kind:
        return "ambiguous", [f"{result.name}: {max(len(strict), len(kind))} tick(s) lost outside "
                             "a fault that may cost it work under one reading, none under the other"]
    return "pass", []


def _judge(result: MechanismResult, win: Window) -> tuple[Verdict, list[str]]:
    promise = PROMISES[result.mechanism]
    view = result.per_replica_view if result.view == "per replica" else result.across
    judged: list[tuple[Verdict, list[str]]] = [
        _losses(result, promise, win),
        _bounded("tick(s) failed and never retried as the failure policy requires",
                 view.abandoned, result.name),
        _bounded("attempt(s) before their tick", Bound(result.early_low, result.early), result.name),
    ]
    if not promise.duplicates:
        twice = ("tick(s) fired more than once on one replica" if result.view == "per replica"
                 else "tick(s) whose work was done twice")
        judged.append(_bounded(twice, view.duplicated, result.name))
    return worst([v for v, _ in judged]), [r for _, why in judged for r in why]


def promise_result(results: list[MechanismResult], win: Window) -> CheckerResult:
    verdicts: dict[str, Verdict] = {}
    reasons: list[str] = []
    for result in results:
        verdict, why = _judge(result, win)
        verdicts[f"{result.mechanism} {result.name}"] = verdict
        reasons += why
    return CheckerResult("promises", worst(list(verdicts.values())) if verdicts else "n/a",
                         reasons, {"faults": [f.to_dict(win.start) for f in win.faults],
                                   "verdicts": verdicts})
