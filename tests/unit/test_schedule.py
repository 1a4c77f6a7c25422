"""Schedule languages (Jobs API vs bindings.cron), durations and tick times; no Dapr needed."""

from __future__ import annotations

import pytest

from harness.scenario.schedule import (
    binding_schedule_error,
    every_seconds,
    job_schedule_error,
    parse_due_time,
    parse_go_duration,
    parse_iso8601_duration,
    parse_rfc3339,
    tick_times,
)

T0 = 1_764_000_000.0  # 2025-11-24T16:00:00Z, on a whole minute


# --- validation --------------------------------------------------------------------------------

JOB_VALID = [
    "*/5 * * * * *",
    "0 0 9 * * mon-fri",
    "0 30 * * * ?",
    "0 0 0 1 jan *",
    "5/15 * * * * *",
    "0 0 0 * * 0",
    "0 0 0 * * 6",
    "1,2,3 0-59/10 * * * *",
    "CRON_TZ=Europe/Berlin 0 0 9 * * *",
    "TZ=UTC 0 0 9 * * *",
    "CRON_TZ=UTC @daily",
    "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly",
    "@every 2s", "@every 1h30m", "@every 500ms", "@every 1.5s",
]


@pytest.mark.parametrize("schedule", JOB_VALID)
def test_job_schedule_valid(schedule: str) -> None:
    assert job_schedule_error(schedule) is None


@pytest.mark.parametrize(
    ("schedule", "fragment"),
    [
        ("0 0 0 * * 7", "day-of-week value 7 out of range 0-6"),
        ("60 * * * * *", "second value 60 out of range 0-59"),
        ("0 0 24 * * *", "hour value 24 out of range 0-23"),
        ("0 0 0 0 * *", "day-of-month value 0 out of range 1-31"),
        ("0 0 0 * 13 *", "month value 13 out of range 1-12"),
        ("*/0 * * * * *", "step"),
        ("5-1 * * * * *", "starts after it ends"),
        ("a * * * * *", "not a number"),
        ("* * * * * * *", "has 7 fields"),
        ("@every 0s", "must be greater than 0"),
        ("@every -1s", "must be greater than 0"),
        ("@every 2", "not a Go duration"),
        ("@every 1d", "not a Go duration"),
        ("@every", "unrecognized descriptor"),
        ("@often", "unrecognized descriptor"),
        ("CRON_TZ=Mars/Olympus 0 0 9 * * *", "unknown time zone"),
        ("CRON_TZ=UTC", "not followed by a schedule"),
        ("", "empty"),
    ],
)
def test_job_schedule_invalid(schedule: str, fragment: str) -> None:
    error = job_schedule_error(schedule)
    assert error is not None and fragment in error
    assert "allowed: 6 fields with seconds first" in error


def test_job_rejects_five_fields_with_full_message() -> None:
    assert job_schedule_error("* * * * *") == (
        "'* * * * *' has 5 fields; allowed: 6 fields with seconds first "
        "(sec min hour dom month dow), @every <Go duration>, or one of "
        "@yearly @annually @monthly @weekly @daily @midnight @hourly"
    )


@pytest.mark.parametrize("schedule", ["* * * * *", "0 9 * * mon-fri", "*/5 * * * * *", "@every 2s",
                                      "@hourly", "CRON_TZ=UTC 30 * * * *"])
def test_binding_schedule_valid(schedule: str) -> None:
    assert binding_schedule_error(schedule) is None


@pytest.mark.parametrize(("schedule", "fragment"),
                         [("* * * *", "has 4 fields"), ("* * * * * * *", "has 7 fields"),
                          ("0 0 * * 7", "day-of-week value 7"), ("@every 0s", "greater than 0")])
def test_binding_schedule_invalid(schedule: str, fragment: str) -> None:
    error = binding_schedule_error(schedule)
    assert error is not None and fragment in error
    assert "allowed: 5 fields (min hour dom month dow) or 6 fields" in error


# --- durations and points in time --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2s", 2.0), ("1h30m", 5400.0), ("500ms", 0.5), ("1.5s", 1.5), ("1m0.5s", 60.5),
     ("100us", 1e-4), ("100µs", 1e-4), ("7ns", 7e-9), (".5h", 1800.0), ("0", 0.0), ("-2s", -2.0),
     ("+3m", 180.0)],
)
def test_parse_go_duration(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "2", "1d", "s", "1.5.5s", "2 s", "PT2S", "1sm"])
def test_parse_go_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_go_duration(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT2S", 2), ("P1DT2H", 93600), ("PT1H30M", 5400), ("P1W", 604800), ("P2D", 172800),
     ("PT0S", 0)],
)
def test_parse_iso8601_duration(text: str, seconds: float) -> None:
    assert parse_iso8601_duration(text) == seconds


@pytest.mark.parametrize("text", ["P", "PT", "P1H", "PT1D", "R5/PT1S", "2s", "P1DT"])
def test_parse_iso8601_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_iso8601_duration(text)


def test_parse_due_time_forms() -> None:
    assert parse_due_time("5s", T0) == T0 + 5
    assert parse_due_time("PT2S", T0) == T0 + 2
    assert parse_due_time("P1DT2H", T0) == T0 + 93600
    assert parse_due_time("2025-11-24T16:00:07Z", 0.0) == T0 + 7
    assert parse_due_time("2025-11-24T17:00:07+01:00", 0.0) == T0 + 7
    assert parse_due_time("2025-11-24T16:00:07.250Z", 0.0) == T0 + 7.25
    # Months are added on the calendar, normalised like Go's AddDate: Jan 31 + 1 month = Mar 3.
    assert parse_due_time("P1M", parse_rfc3339("2025-01-31T00:00:00Z")) == parse_rfc3339(
        "2025-03-03T00:00:00Z")
    with pytest.raises(ValueError):
        parse_due_time("R2/PT1S", T0)
    with pytest.raises(ValueError):
        parse_due_time("2025-11-24T16:00:07", T0)  # RFC3339 needs an offset


def test_every_seconds() -> None:
    assert every_seconds("@every 1.5s") == 1.5
    assert every_seconds("CRON_TZ=UTC @every 2m") == 120.0
    assert every_seconds("*/5 * * * * *") is None
    assert every_seconds("@daily") is None


# --- tick times --------------------------------------------------------------------------------


def test_every_counts_from_start() -> None:
    assert tick_times("@every 2s", start=T0 + 0.3, until=T0 + 7) == [T0 + 2.3, T0 + 4.3, T0 + 6.3]
    assert tick_times("@every 1.5s", start=T0, until=T0 + 4.5) == [T0 + 1.5, T0 + 3.0, T0 + 4.5]


def test_every_with_due_time_and_limit() -> None:
    ticks = tick_times("@every 2s", start=T0, until=T0 + 100, due=T0 + 5, limit=3)
    assert ticks == [T0 + 5, T0 + 7, T0 + 9]


def test_due_only_and_limit_counts_from_first_fire() -> None:
    assert tick_times(None, start=T0, until=T0 + 100, due=T0 + 5) == [T0 + 5]
    assert tick_times(None, start=T0, until=T0 + 4, due=T0 + 5) == []
    # The due fire is hidden by start but still counts towards the limit.
    assert tick_times("@every 2s", start=T0 + 6, until=T0 + 100, due=T0 + 5, limit=2) == [T0 + 7]


def test_six_field_cron_on_second_boundaries() -> None:
    ticks = tick_times("*/5 * * * * *", start=T0 + 0.4, until=T0 + 20)
    assert ticks == [T0 + 5, T0 + 10, T0 + 15, T0 + 20]
    # start is exclusive even on a matching second
    assert tick_times("*/5 * * * * *", start=T0 + 5, until=T0 + 10) == [T0 + 10]


def test_cron_after_due_follows_schedule() -> None:
    ticks = tick_times("*/5 * * * * *", start=T0, until=T0 + 12, due=T0 + 1.5)
    assert ticks == [T0 + 1.5, T0 + 5, T0 + 10]


def test_five_field_binding_is_minute_level() -> None:
    ticks = tick_times("* * * * *", start=T0 + 1, until=T0 + 180, six_fields=False)
    assert ticks == [T0 + 60, T0 + 120, T0 + 180]
    with pytest.raises(ValueError):
        tick_times("* * * * *", start=T0, until=T0 + 180)  # Jobs API: 6 fields only


def test_cron_tz_and_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    # T0 is 16:00 UTC = 17:00 in Berlin (CET): next Berlin midnight is 23:00 UTC.
    assert tick_times("CRON_TZ=Europe/Berlin @daily", start=T0, until=T0 + 86400,
                      ) == [T0 + 7 * 3600]
    monkeypatch.setenv("TZ", "America/New_York")  # local zone: 11:00 EST, midnight = 05:00 UTC
    assert tick_times("0 0 0 * * *", start=T0, until=T0 + 86400) == [T0 + 13 * 3600]
    monkeypatch.setenv("TZ", "UTC")
    assert tick_times("@daily", start=T0, until=T0 + 86400) == [T0 + 8 * 3600]


def test_never_matching_cron_yields_nothing() -> None:
    assert tick_times("0 0 0 30 2 *", start=T0, until=T0 + 3 * 365 * 86400) == []


def test_limit_caps_cron() -> None:
    assert tick_times("* * * * * *", start=T0, until=T0 + 60, limit=2) == [T0 + 1, T0 + 2]
