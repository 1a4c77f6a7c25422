"""Probe checkers: the scenario's Jobs API ``calls`` and its per-job expectations (``expect_jobs``).

A call is judged by what Dapr answered (status, body paths, text); a per-job expectation by the
triggers of that job (count, spacing, first trigger after the create, payloads, headers) and,
for the tick fields, by the job's mechanism result (upper bounds: never the kinder reading).
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from harness.check._result import MechanismResult
from harness.check._window import Window
from harness.record.history import ApiCallEvent, History, JobCreated
from harness.scenario.model import ApiCall, JobExpectation, Scenario

__all__ = ["CallResult", "JobExpectResult", "call_results", "job_expectations", "job_triggers",
           "same_json"]

_EPS = 1e-6


@dataclass
class CallResult:
    """One of a scenario's ``calls``: what Dapr answered against what the scenario expects."""

    index: int
    id: str | None
    method: str
    api: str
    job: str
    expect_status: int
    observed_status: int | None
    response: str | None
    error: str | None
    checks: list[str]  # the body checks made, as text
    verdict: str
    reasons: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index, "id": self.id, "method": self.method, "api": self.api,
            "job": self.job, "expect_status": self.expect_status,
            "observed_status": self.observed_status, "response": self.response,
            "error": self.error, "checks": list(self.checks), "verdict": self.verdict,
            "reasons": list(self.reasons),
        }


@dataclass
class JobExpectResult:
    """One ``expect_jobs`` entry: the triggers it selected and its verdict."""

    job: str
    from_s: float | None
    until_s: float | None
    triggers: int
    spacing_s: dict[str, float] | None  # min and max gap between selected triggers
    first_s: float | None  # first selected trigger after the latest create before it
    payloads: list[Any]  # distinct payloads of the selected triggers (first 5)
    verdict: str
    reasons: list[str]


_ABSENT = object()  # a path that does not exist in a response body


def _ok(status: Any) -> bool:
    return isinstance(status, int) and 200 <= status < 300


def _parse_body(text: str | None) -> Any:
    """A response body as the scenario addresses it: JSON, else the text; None when empty."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _at_path(value: Any, path: str) -> Any:
    """The value at a dotted path (``$`` = the whole value); ``_ABSENT`` if there is none."""
    if path == "$":
        return value
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif (isinstance(value, list) and re.fullmatch(r"-?[0-9]+", part)
              and -len(value) <= int(part) < len(value)):
            value = value[int(part)]
        else:
            return _ABSENT
    return value


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values: 1 equals 1.0, but true is not 1 and "1" is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _call_result(history: History, index: int, call: ApiCall) -> CallResult:
    event = next((e for e in history.events_of(ApiCallEvent) if e.index == index), None)
    status, text, error = (None, None, None) if event is None else (
        event.status, event.response, event.error)
    reasons: list[str] = []
    checks: list[str] = []
    if event is None:
        reasons.append("the call was not made (no api_call event in the history)")
    elif status is None:
        reasons.append(f"no answer ({error}), expected status {call.expect_status}")
    elif status != call.expect_status:
        reasons.append(f"status {status}, expected {call.expect_status}")
    body = _parse_body(text)
    for path, expected in call.expect_body.items():
        got = _at_path(body, path)
        checks.append(f"{path} == {expected!r}")
        if got is _ABSENT:
            reasons.append(f"body {path}: missing, expected {expected!r}")
        elif not same_json(got, expected):
            reasons.append(f"body {path}: {got!r}, expected {expected!r}")
    for path in call.expect_absent:
        got = _at_path(body, path)
        checks.append(f"{path} absent")
        if got is not _ABSENT:
            reasons.append(f"body {path}: present ({got!r}), expected absent")
    if call.expect_contains is not None:
        checks.append(f"contains {call.expect_contains!r}")
        if call.expect_contains not in (text or ""):
            reasons.append(f"body does not contain {call.expect_contains!r}: {str(text)[:200]!r}")
    return CallResult(index, call.id, call.method, call.api, call.job, call.expect_status,
                      status, text, error, checks, "fail" if reasons else "pass", reasons)


def _creations(history: History, name: str) -> list[float]:
    """Send times of the successful creates of job ``name`` (``jobs`` entries and POST calls)."""
    sent = [e.sent_wall for e in history.events_of(JobCreated) if e.name == name and _ok(e.status)]
    sent += [e.sent_wall for e in history.events_of(ApiCallEvent)
             if e.method == "POST" and e.job == name and _ok(e.status)]
    return sorted(sent)


def _first_after_create(history: History, name: str, first: float) -> float | None:
    """Seconds from the latest successful create sent before ``first`` to ``first``."""
    before = [t for t in _creations(history, name) if t <= first]
    return round(first - before[-1], 4) if before else None


def _gaps(walls: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(walls)]


def _bounds(reasons: list[str], what: str, value: float, low: float | None,
            high: float | None, unit: str = "") -> None:
    if low is not None and value < low - _EPS:
        reasons.append(f"{what} {value:g}{unit}, expected at least {low:g}{unit}")
    if high is not None and value > high + _EPS:
        reasons.append(f"{what} {value:g}{unit}, expected at most {high:g}{unit}")


def _distinct(values: list[Any], limit: int = 5) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if any(value is seen for seen in out):  # the common case, cheaply
            continue
        if not any(same_json(value, seen) for seen in out):
            out.append(value)
    return out[:limit]


def _job_expectation(history: History, entry: JobExpectation, win: Window,
                     mechanism: MechanismResult | None) -> JobExpectResult:
    lo = -math.inf if entry.from_s is None else entry.from_s
    hi = math.inf if entry.until_s is None else entry.until_s
    trigs = [t for t in history.received("job", entry.job) if lo <= t.wall - win.start < hi]
    n, reasons = len(trigs), []
    if entry.triggers is not None and n != entry.triggers:
        reasons.append(f"{n} triggers, expected exactly {entry.triggers}")
    _bounds(reasons, "triggers", n, entry.min_triggers, entry.max_triggers)
    gaps = _gaps([t.wall for t in trigs])
    spacing = {"min": round(min(gaps), 4), "max": round(max(gaps), 4)} if gaps else None
    if (entry.min_spacing_s, entry.max_spacing_s) != (None, None):
        if spacing is None:
            reasons.append(f"no spacing to judge: {n} trigger(s)")
        else:
            _bounds(reasons, "smallest spacing", spacing["min"], entry.min_spacing_s, None, " s")
            _bounds(reasons, "largest spacing", spacing["max"], None, entry.max_spacing_s, " s")
    first = _first_after_create(history, entry.job, trigs[0].wall) if trigs else None
    if (entry.min_first_s, entry.max_first_s) != (None, None):
        if first is None:
            reasons.append("no first trigger after a successful create to time" if trigs
                           else "no trigger to time")
        else:
            _bounds(reasons, "first trigger after create", first, entry.min_first_s,
                    entry.max_first_s, " s")
    checks = [
        ("payload", entry.payload is not None, lambda t: same_json(t.payload, entry.payload),
         lambda t: t.payload, entry.payload),
        ("raw body", entry.raw_body is not None, lambda t: t.raw == entry.raw_body,
         lambda t: t.raw, entry.raw_body),
        ("body", entry.empty_body, lambda t: t.raw is None, lambda t: t.raw, None),
        *((f"header {k}", True, lambda t, k=k, v=v: t.headers.get(k) == v,
           lambda t, k=k: t.headers.get(k), v) for k, v in entry.headers.items()),
    ]
    for what, wanted, good, shown, expected in checks:
        if not wanted:
            continue
        bad = [t for t in trigs if not good(t)]
        if not trigs:
            reasons.append(f"no trigger to check the {what} of")
        elif bad:
            reasons.append(f"{len(bad)} of {n} triggers had {what} {shown(bad[0])!r}, "
                           f"expected {expected!r}")
    if entry.tick_fields:
        reasons += _tick_reasons(entry, mechanism)
    return JobExpectResult(entry.job, entry.from_s, entry.until_s, n, spacing, first,
                           _distinct([t.payload for t in trigs]),
                           "fail" if reasons else "pass", reasons)


def _tick_reasons(entry: JobExpectation, mechanism: MechanismResult | None) -> list[str]:
    if mechanism is None:
        return [f"no tick model for job {entry.job!r} (not created by a jobs entry)"]
    reasons: list[str] = []
    view = mechanism.across
    if entry.min_ticks is not None and view.ticks < entry.min_ticks:
        reasons.append(f"window too short: {view.ticks} ticks judged, "
                       f"need at least {entry.min_ticks}")
    for what, value, limit in (("lost ticks", view.lost.high, entry.max_lost),
                               ("duplicated ticks", view.duplicated.high, entry.max_duplicated),
                               ("early attempts", mechanism.early, entry.max_early)):
        if limit is not None and value > limit:
            reasons.append(f"{value} {what}, allowed {limit}")
    if entry.max_lateness_ms is not None:
        worst = mechanism.lateness_ms.get("max")
        if worst is None:
            reasons.append("no lateness measured (no expected tick was delivered)")
        elif worst > entry.max_lateness_ms:
            reasons.append(f"lateness up to {worst:g} ms, allowed {entry.max_lateness_ms:g} ms")
    return reasons


def _job_triggers(history: History, scenario: Scenario, win: Window) -> dict[str, dict[str, Any]]:
    """Per job name: deliveries, the app's answers, timing; the numbers reports cite."""
    names = {t.name for t in history.received("job")} | {j.name for j in scenario.jobs}
    names |= {c.job for c in scenario.calls if c.method == "POST"}
    stats: dict[str, dict[str, Any]] = {}
    for name in sorted(names):
        trigs = history.received("job", name)
        gaps = _gaps([t.wall for t in trigs])
        stats[name] = {
            "triggers": len(trigs),
            "app_status": {str(k): v for k, v in sorted(Counter(t.status for t in trigs).items())},
            "per_replica": {str(k): v for k, v in sorted(Counter(t.replica for t in trigs).items())},
            "first_after_create_s": _first_after_create(history, name, trigs[0].wall)
            if trigs else None,
            "spacing_s": {"min": round(min(gaps), 4), "max": round(max(gaps), 4)} if gaps else None,
            "at_s": [round(t.wall - win.start, 3) for t in trigs[:30]],
            "payloads": _distinct([t.payload for t in trigs], 3),
        }
    return stats


def call_results(history: History, scenario: Scenario) -> list[CallResult]:
    return [_call_result(history, i, call) for i, call in enumerate(scenario.calls)]


def job_expectations(history: History, scenario: Scenario, win: Window,
                     mechanisms: list[MechanismResult]) -> list[JobExpectResult]:
    jobs = {r.name: r for r in mechanisms if r.mechanism == "job"}
    return [_job_expectation(history, e, win, jobs.get(e.job)) for e in scenario.expect_jobs]


def job_triggers(history: History, scenario: Scenario, win: Window) -> dict[str, dict[str, Any]]:
    return _job_triggers(history, scenario, win)
