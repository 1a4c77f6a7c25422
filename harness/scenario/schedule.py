"""Dapr schedule strings: validation and the tick times they produce.

Dapr's Jobs API (dapr/kit/cron, seconds first) and the bindings.cron component (5 or 6 fields)
accept slightly different languages; both are modelled here so the checker can compute when
a trigger was due.

Both languages come from dapr/kit/cron (a fork of robfig/cron v3):

- Jobs API: exactly 6 fields, seconds first (``sec min hour dom month dow``); day of week 0-6
  with 0 = Sunday (7 is rejected); names ``jan``-``dec`` and ``sun``-``sat``; ``*`` ``?`` ``,``
  ``-`` ``/``. Optionally prefixed ``CRON_TZ=<zone> `` (or ``TZ=<zone> ``). Descriptors
  ``@yearly @annually @monthly @weekly @daily @midnight @hourly`` and ``@every <Go duration>``.
- bindings.cron: the same, except that the seconds field is optional (5 fields = minute level).

Times are epoch seconds (floats). Cron schedules are evaluated in the machine's local time zone
(as Go's ``time.Local``: ``$TZ``, else ``/etc/localtime``) unless a ``CRON_TZ=`` prefix names one.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

__all__ = [
    "BINDING_ALLOWED",
    "DESCRIPTORS",
    "JOB_ALLOWED",
    "binding_schedule_error",
    "every_seconds",
    "job_schedule_error",
    "parse_due_time",
    "parse_go_duration",
    "parse_iso8601_duration",
    "parse_point_in_time",
    "parse_rfc3339",
    "fire_at_or_before",
    "tick_times",
]

DESCRIPTORS: dict[str, str] = {  # descriptor -> equivalent 6-field spec (seconds first)
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0",
    "@daily": "0 0 0 * * *",
    "@midnight": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}
_SIX = "6 fields with seconds first (sec min hour dom month dow)"
_TAIL = "@every <Go duration>, or one of " + " ".join(DESCRIPTORS)
JOB_ALLOWED = f"{_SIX}, {_TAIL}"
BINDING_ALLOWED = f"5 fields (min hour dom month dow) or {_SIX}, {_TAIL}"


# --------------------------------------------------------------------------------------------
# Durations and points in time
# --------------------------------------------------------------------------------------------

_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_PART = r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)"
_GO_FULL = re.compile(rf"[-+]?(?:{_GO_PART})+")
_ISO = re.compile(
    r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?"
)


def parse_go_duration(text: str) -> float:
    """Seconds in a Go ``time.ParseDuration`` string (``1h30m``, ``1.5s``, ``500ms``, ``-2s``, ``0``)."""
    if text in ("0", "+0", "-0"):
        return 0.0
    if not _GO_FULL.fullmatch(text):
        raise ValueError(f"{text!r} is not a Go duration (e.g. 2s, 1h30m, 500ms, 1.5s)")
    total = sum(float(num) * _GO_UNITS[unit] for num, unit in re.findall(_GO_PART, text))
    return -total if text.startswith("-") else total


@dataclass(frozen=True)
class _IsoDuration:
    years: int
    months: int
    days: int
    seconds: float

    def add_to(self, epoch: float) -> float:
        """``epoch`` plus this duration, calendar parts added in UTC like Go's ``AddDate``."""
        moment = datetime.fromtimestamp(epoch, UTC)
        month_index = moment.month - 1 + self.months + 12 * self.years
        year, month = moment.year + month_index // 12, month_index % 12 + 1
        # Go's AddDate normalises an overflowing day (Jan 31 + 1 month = Mar 3): do the same.
        base = datetime(year, month, 1, tzinfo=UTC) + timedelta(days=moment.day - 1)
        base = base.replace(hour=moment.hour, minute=moment.minute, second=moment.second,
                            microsecond=moment.microsecond)
        return base.timestamp() + self.days * 86400 + self.seconds


def _parse_iso(text: str) -> _IsoDuration:
    if text.startswith("R"):
        raise ValueError(f"{text!r} is a repeating ISO8601 duration; only non-repeating ones are allowed")
    match = _ISO.fullmatch(text)
    if not match or text in ("P", "PT") or text.endswith("T"):
        raise ValueError(f"{text!r} is not an ISO8601 duration (e.g. PT2S, P1DT2H)")
    y, mo, w, d, h, mi, s = (int(g) if g else 0 for g in match.groups())
    return _IsoDuration(years=y, months=mo, days=7 * w + d, seconds=3600 * h + 60 * mi + s)


def parse_iso8601_duration(text: str) -> float:
    """Seconds in a non-repeating ISO8601 duration; years = 365 days, months = 30 days.

    (Approximate for Y/M; ``parse_point_in_time`` adds them on the calendar like Dapr does.)
    """
    iso = _parse_iso(text)
    return (iso.years * 365 + iso.months * 30 + iso.days) * 86400 + iso.seconds


def parse_rfc3339(text: str) -> float:
    """Epoch seconds of an RFC3339 timestamp with an explicit offset (``...Z`` or ``+02:00``)."""
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|z|[+-]\d\d:\d\d)", text):
        raise ValueError(f"{text!r} is not an RFC3339 timestamp (e.g. 2025-11-24T16:00:00Z)")
    moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] in "Zz" else text)
    return moment.timestamp()


def parse_point_in_time(text: str, base: float) -> float:
    """Dapr's dueTime/ttl: RFC3339 absolute, else a Go or ISO8601 duration added to ``base``."""
    for parse in (parse_rfc3339, lambda t: base + parse_go_duration(t)):
        try:
            return parse(text)
        except ValueError:
            pass
    try:
        return _parse_iso(text).add_to(base)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither RFC3339, a Go duration, nor a non-repeating ISO8601 duration"
        ) from None


def parse_due_time(text: str, created_wall: float) -> float:
    """Epoch seconds of a Jobs API ``dueTime`` for a job created at ``created_wall``."""
    return parse_point_in_time(text, created_wall)


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

_MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
_DAYS = {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}
# (name, min, max, names) for sec, min, hour, dom, month, dow
_FIELDS = (
    ("second", 0, 59, None),
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day-of-month", 1, 31, None),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 6, _DAYS),
)


@dataclass(frozen=True)
class _Spec:
    """A parsed schedule: ``every`` (seconds) or ``cron`` (normalized 6-field spec), and zone."""

    zone: tzinfo
    every: float | None = None
    cron: str | None = None


def _number(token: str, low: int, high: int, names: dict[str, int] | None, label: str) -> int:
    if names and token.lower() in names:
        return names[token.lower()]
    if not re.fullmatch(r"[0-9]+", token):
        raise ValueError(f"{label} value {token!r} is not a number")
    value = int(token)
    if not low <= value <= high:
        raise ValueError(f"{label} value {value} out of range {low}-{high}")
    return value


def _normalize_range(expr: str, low: int, high: int, names: dict[str, int] | None, label: str) -> str:
    """Validate one comma item like robfig/cron's getRange; return it in croniter's syntax."""
    parts = expr.split("/")
    if len(parts) > 2:
        raise ValueError(f"{label} item {expr!r} has too many slashes")
    bounds = parts[0].split("-")
    if bounds[0] in ("*", "?"):
        start, end, text = low, high, "*"
    elif len(bounds) > 2:
        raise ValueError(f"{label} item {expr!r} has too many hyphens")
    else:
        start = _number(bounds[0], low, high, names, label)
        end = _number(bounds[-1], low, high, names, label)
        text = f"{start}-{end}" if len(bounds) == 2 else str(start)
    if start > end:
        raise ValueError(f"{label} range {expr!r} starts after it ends")
    if len(parts) == 1:
        return text
    if not re.fullmatch(r"[0-9]+", parts[1]) or int(parts[1]) == 0:
        raise ValueError(f"{label} step in {expr!r} must be a positive number")
    if text != "*" and len(bounds) == 1:  # robfig: "N/step" means "N-max/step"
        text = f"{start}-{high}"
    return f"{text}/{parts[1]}"


def _normalize_field(field: str, index: int) -> str:
    label, low, high, names = _FIELDS[index]
    if not field or any(not item for item in field.split(",")):
        raise ValueError(f"{label} field {field!r} has an empty item")
    return ",".join(_normalize_range(item, low, high, names, label) for item in field.split(","))


def _local_zone() -> tzinfo:
    """Go's ``time.Local``: ``$TZ`` (empty = UTC), else ``/etc/localtime``, else UTC."""
    name = os.environ.get("TZ")
    if name is not None:
        try:
            return ZoneInfo(name.lstrip(":")) if name.lstrip(":") else UTC
        except (ZoneInfoNotFoundError, ValueError):
            return UTC
    try:
        with open("/etc/localtime", "rb") as fh:
            return ZoneInfo.from_file(fh)
    except (OSError, ValueError):
        return UTC


def _zone(name: str) -> tzinfo:
    if name in ("", "UTC"):
        return UTC
    if name == "Local":
        return _local_zone()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def _every(text: str) -> float:
    seconds = parse_go_duration(text)
    if seconds <= 0:
        raise ValueError(f"@every duration {text!r} must be greater than 0")
    # dapr/kit/cron Every(): rounded down to the millisecond, at least 1ms.
    return max(math.floor(seconds * 1000 + 1e-6) / 1000, 0.001)


def _parse(schedule: str, allowed_fields: tuple[int, ...]) -> _Spec:
    """Parse like dapr/kit/cron's Parser.Parse; ValueError says what is wrong."""
    spec, zone = schedule, None
    if not spec.strip():
        raise ValueError("the schedule is empty")
    if spec.startswith(("TZ=", "CRON_TZ=")):
        head, *rest = re.split(r"\s", spec, maxsplit=1)
        if not rest or not rest[0].strip():
            raise ValueError(f"time zone prefix {head!r} is not followed by a schedule")
        zone, spec = _zone(head.split("=", 1)[1]), rest[0].strip()
    zone = zone or _local_zone()
    if spec.startswith("@every "):
        return _Spec(zone=zone, every=_every(spec[len("@every "):]))
    if spec.startswith("@"):
        if spec not in DESCRIPTORS:
            raise ValueError(f"unrecognized descriptor {spec!r}")
        return _Spec(zone=zone, cron=DESCRIPTORS[spec])
    fields = spec.split()
    if len(fields) not in allowed_fields:
        raise ValueError(f"has {len(fields)} fields")
    if len(fields) == 5:
        fields = ["0", *fields]  # SecondOptional: a missing seconds field is 0
    return _Spec(zone=zone, cron=" ".join(_normalize_field(f, i) for i, f in enumerate(fields)))


def _error(schedule: str, allowed_fields: tuple[int, ...], allowed: str) -> str | None:
    try:
        _parse(schedule, allowed_fields)
    except ValueError as exc:
        message = str(exc)
        joiner = " " if message.startswith("has ") else ": "
        return f"{schedule!r}{joiner}{message}; allowed: {allowed}"
    return None


def job_schedule_error(schedule: str) -> str | None:
    """None if the Jobs API accepts ``schedule``; else what is wrong and what is allowed."""
    return _error(schedule, (6,), JOB_ALLOWED)


def binding_schedule_error(schedule: str) -> str | None:
    """None if a bindings.cron component accepts ``schedule``; else what is wrong and allowed."""
    return _error(schedule, (5, 6), BINDING_ALLOWED)


def fire_at_or_before(schedule: str, wall: float) -> float:
    """The schedule's latest fire time at or before ``wall`` (epoch seconds).

    A cron binding fires at or after its scheduled instant, never before, so this is the
    scheduled tick a binding call stands for. Cron forms use their own grid; ``@every D`` has
    no shared grid (each sidecar counts from its own start), so its ticks are multiples of D
    since the epoch, which only tells apart calls more than D apart.
    """
    spec = _parse(schedule, (5, 6))
    if spec.every is not None:
        return math.floor(wall / spec.every) * spec.every
    # croniter's get_prev is strictly before its start: start just after ``wall``.
    moment = datetime.fromtimestamp(wall + 1e-3, spec.zone)
    return float(croniter(spec.cron, moment, second_at_beginning=True).get_prev(float))


def every_seconds(schedule: str) -> float | None:
    """The period of an ``@every`` schedule in seconds (as Dapr rounds it); None for cron forms."""
    return _parse(schedule, (5, 6)).every


# --------------------------------------------------------------------------------------------
# Tick times
# --------------------------------------------------------------------------------------------


def _cron_after(spec: _Spec, first: float) -> Iterator[float]:
    """Cron fire times strictly after ``first``, forever."""
    moment = datetime.fromtimestamp(first, spec.zone)
    it = croniter(spec.cron, moment, second_at_beginning=True)
    while True:
        try:
            yield float(it.get_next(float))
        except CroniterBadDateError:  # never matches (e.g. Feb 30): no more fires
            return


def _sequence(spec: _Spec | None, start: float, due: float | None) -> Iterator[float]:
    """Every fire of the schedule, in order, from its first one."""
    if due is not None:
        yield float(due)
    origin = start if due is None else due
    if spec is None:
        return
    if spec.every is not None:
        k = 1
        while True:
            yield origin + k * spec.every
            k += 1
    yield from _cron_after(spec, origin)


def tick_times(
    schedule: str | None,
    *,
    start: float,
    until: float,
    due: float | None = None,
    limit: int | None = None,
    six_fields: bool = True,
) -> list[float]:
    """Epoch times at which ``schedule`` fires in ``(start, until]``.

    ``start`` is when the schedule begins (job creation, or a sidecar's cron start): ``@every D``
    fires at ``start + kD`` (k >= 1); cron forms fire at their matching instants after ``start``.
    With ``due`` the first fire is ``due`` and later fires follow the schedule after it; with no
    schedule only ``due`` fires. ``limit`` caps the number of fires (Jobs API ``repeats``),
    counted from the first fire even where ``start`` hides some. ``six_fields``: True for the
    Jobs API language (exactly 6 fields), False for bindings.cron (5 fields = minute level).
    """
    if schedule is None and due is None:
        raise ValueError("tick_times needs a schedule or a due time")
    spec = None if schedule is None else _parse(schedule, (6,) if six_fields else (5, 6))
    out: list[float] = []
    for count, fire in enumerate(_sequence(spec, start, due)):
        if fire > until or (limit is not None and count >= limit):
            break
        if fire > start:
            out.append(fire)
    return out
