"""The reminder mechanism: one actor type, one actor id, one reminder per task.

The sample app hosts the actor type through Dapr's HTTP actor protocol: daprd reads the hosted
types from ``GET /dapr/config`` and delivers a reminder as
``PUT /actors/{type}/{id}/method/remind/{name}`` on the replica that placement assigned the
actor to (dapr/dapr v1.18.3 pkg/actors/internal/placement; pkg/actors/targets/app/app.go
InvokeReminder; transport/http/http.go). In Dapr 1.18 the reminder itself is a job in the
Scheduler (pkg/actors/reminders/reminders.go over pkg/actors/internal/scheduler), so its
trigger path is the Jobs API's, with the actor's placement in front of it. Measured on
1.18.3: the callback body is ``{"data": ..., "dueTime": "", "period": ""}``: it does not say
which tick it is, so a reminder trigger has no ``tick``.
"""

from __future__ import annotations

from typing import Any

from harness.scenario.schedule import every_seconds

__all__ = ["ACTOR_ID", "ACTOR_TYPE", "app_config", "reminder_body", "reminder_url"]

ACTOR_TYPE = "CleanupActor"
ACTOR_ID = "cleanup"


def app_config(hosts_actors: bool) -> dict[str, Any]:
    """The app's answer to daprd's ``GET /dapr/config``."""
    if not hosts_actors:
        return {"entities": []}
    return {"entities": [ACTOR_TYPE], "actorIdleTimeout": "1h", "drainOngoingCallTimeout": "5s",
            "drainRebalancedActors": True}


def reminder_url(dapr_url: str, name: str, actor_id: str = ACTOR_ID) -> str:
    return f"{dapr_url}/v1.0/actors/{ACTOR_TYPE}/{actor_id}/reminders/{name}"


def reminder_body(schedule: str, data: Any) -> dict[str, Any]:
    """Registration body: the period is the task's ``@every`` duration; the first fire one
    period after registration, as a Jobs API ``@every`` job's."""
    period = every_seconds(schedule)
    if period is None:
        raise ValueError(f"a reminder needs an '@every <duration>' schedule, got {schedule!r}")
    duration = f"{period:g}s"
    return {"dueTime": duration, "period": duration, "data": data}
