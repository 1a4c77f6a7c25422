"""Dapr's promises under faults, judged on the mechanism results of a fault scenario.

- Jobs, jobs through the SDK and actor reminders (scheduler-backed): *at least once, never
  early* (Dapr's Jobs docs; the Scheduler replays missed ticks, see ``_ledger``): no judged
  tick lost under any reading of the history, no early attempt.
- Cron bindings: *per replica, in memory*: each sidecar fires its own ticks with no catch-up
  (components-contrib ``bindings/cron``; dapr/kit ``cron``): a tick may be lost only on a
  replica whose sidecar or app a fault took down, from the fault's start until one period
  after it recovered; a tick is never delivered twice on one replica.
- Gated bindings (lock, first-write claim): *the work of a tick at most once*: the gate admits
  one worker per tick, so work done twice for one tick breaks it; a tick whose winner a fault
  took down loses its work (no retry), which is reported, not judged.
- Workflows: *a durable loop without catch-up*: the timer fires at or after its time, an
  activity runs at least once (a re-executed activity is within the promise), iterations a
  stalled timer skipped are not replayed; only an early iteration breaks it.
"""

from __future__ import annotations

from harness.check._result import CheckerResult, MechanismResult, Verdict, worst
from harness.check._window import FaultWindow, Window
from harness.scenario.faults import FAULTS

__all__ = ["promise_result"]


def _binding_loss_allowed(replica: int | None, at: float, faults: tuple[FaultWindow, ...],
                          slack: float) -> bool:
    return any(FAULTS[f.kind].takes_replica_down and f.replica == replica
               and f.start - slack <= at <= f.recovery_end + slack for f in faults)


def _period(result: MechanismResult) -> float:
    ticks = result.per_replica_view.ticks or 1
    return max(1.0, result.window_s * max(1, result.replicas) / ticks)


def _gated(result: MechanismResult) -> tuple[Verdict, list[str]]:
    twice = result.across.duplicated
    if twice.low:
        return "fail", [f"{result.name}: work done twice for {twice} tick(s)"]
    if twice.high:
        return "ambiguous", [f"{result.name}: work may have been done twice for up to "
                             f"{twice.high} tick(s)"]
    return "pass", []


def _judge(result: MechanismResult, win: Window) -> tuple[Verdict, list[str]]:
    if result.mechanism in ("binding-lock", "binding-claim"):
        return _gated(result)
    if result.mechanism == "workflow":
        early = result.early_low
        return ("fail", [f"{result.name}: {early} early iteration(s)"]) if early else ("pass", [])
    if result.mechanism.startswith("binding") and result.view == "per replica":
        slack = _period(result)
        stray = [(r, s) for r, s in result.lost_at_s
                 if not _binding_loss_allowed(None if r is None else int(r), win.start + float(s or 0),
                                              win.faults, slack)]
        reasons = [f"{result.name}: lost on replica {r} at {s:.1f} s, outside a fault on it"
                   for r, s in stray[:8]]
        if result.per_replica_view.duplicated.low:
            reasons.append(f"{result.name}: {result.per_replica_view.duplicated} tick(s) fired "
                           "more than once on one replica")
        elif result.per_replica_view.duplicated.high:
            return "ambiguous", [f"{result.name}: up to {result.per_replica_view.duplicated.high} "
                                 "tick(s) may have fired twice on one replica"]
        return ("fail" if reasons else "pass"), reasons
    lost, reasons = result.across.lost, []
    if result.early_low:
        reasons.append(f"{result.name}: {result.early} attempt(s) before their tick")
    if lost.low:
        reasons.append(f"{result.name}: {lost.low} tick(s) lost")
    if reasons:
        return "fail", reasons
    if lost.high or result.early:
        return "ambiguous", [f"{result.name}: up to {lost.high} tick(s) lost and up to "
                             f"{result.early} early under one reading, none under the other"]
    return "pass", []


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
