"""A test harness that produces evidence about how Dapr schedules work (Jobs API vs cron binding)."""

__version__ = "0.1.0"
