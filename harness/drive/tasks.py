"""Starting a scenario's tasks: the mechanisms beside the Jobs API over HTTP and the cron binding.

- ``job-sdk``: ``DaprClient.schedule_job`` (the official Python SDK, gRPC
  ScheduleJob) against a sidecar of the gRPC app (app-id taskapi-grpc), whose app answers
  with dapr-ext-grpc job handlers (harness/apps/grpc_app.py). Event ``job_created`` with
  ``mechanism: job-sdk``.
- ``reminder``: ``POST /v1.0/actors/{type}/{id}/reminders/{name}`` (harness/apps/actors.py).
  Event ``reminder_registered``.
- ``workflow``: ``POST /v1.0/workflows/dapr/{workflow}/start?instanceID={name}``
  (harness/apps/workflow_app.py). Event ``workflow_started``.
- ``binding-lock`` / ``binding-claim``: a bindings.cron component each, installed before the
  replicas start (``install_task_bindings``); the handler's gate is in harness/apps/gates.py.

Each start records ``sent_wall`` (when the request was sent) and ``status`` like
``job_created``, so the checker can anchor the schedule.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

import httpx

from harness.apps import actors, workflow_app
from harness.drive.driver import Post, post_concurrently, render_binding
from harness.record.history import HistoryWriter
from harness.record.rundir import RunDir
from harness.scenario.mechanisms import GATED
from harness.scenario.model import BindingSpec, TaskSpec
from harness.scenario.schedule import every_seconds

__all__ = ["TaskDriver", "install_task_bindings", "sdk_job"]

REQUEST_TIMEOUT_S = 10.0


def sdk_job(task: TaskSpec) -> Any:
    """The SDK's Job for a job-sdk task; data travels as JSON bytes in the Any's value."""
    from dapr.clients import Job
    from google.protobuf.any_pb2 import Any as GrpcAny

    data = GrpcAny(value=json.dumps(task.data).encode()) if task.data is not None else None
    return Job(name=task.name, schedule=task.schedule, data=data)


class TaskDriver:
    """Starts tasks through the sidecars and records each start in the history."""

    def __init__(self, dapr_url: str, sdk_sidecar: tuple[str, str] | None, history: HistoryWriter,
                 run: RunDir, api_token: str | None = None) -> None:
        """``dapr_url``: an HTTP-app sidecar; ``sdk_sidecar``: (gRPC host:port, HTTP URL) of a
        gRPC-app sidecar, for job-sdk tasks."""
        self.dapr_url, self.sdk_sidecar = dapr_url, sdk_sidecar
        self.history, self.run, self.api_token = history, run, api_token
        self.headers = headers = {"dapr-api-token": api_token} if api_token else {}
        self.http = httpx.Client(timeout=REQUEST_TIMEOUT_S, headers=headers)

    def start(self, task: TaskSpec) -> str | None:
        """Start one task; returns an error message when Dapr refused it."""
        if task.mechanism == "job-sdk":
            return self._sdk_job(task)
        if task.mechanism == "reminder":
            return self._reminder(task)
        if task.mechanism == "workflow":
            return self._workflow(task)
        return None  # bindings are installed before the replicas start

    def _post(self, event: str, task: TaskSpec, url: str, body: Any, **attrs: Any) -> str | None:
        self.run.note_command(["curl", "-sS", "-X", "POST", url, "-H",
                               "Content-Type: application/json", "-d", json.dumps(body)])
        sent_wall = time.time()
        try:
            response = self.http.post(url, json=body)
        except httpx.HTTPError as exc:
            return self._started(event, task, url, body, sent_wall, None,
                                 f"{type(exc).__name__}: {exc}", **attrs)
        return self._started(event, task, url, body, sent_wall, response.status_code,
                             response.text, **attrs)

    def _started(self, event: str, task: TaskSpec, url: str, body: Any, sent_wall: float,
                 status: int | None, text: str, **attrs: Any) -> str | None:
        """Record a start; the problem when Dapr did not accept it."""
        self.history.event(event, name=task.name, spec=body, sent_wall=sent_wall,
                           status=status, response=text[:2000], **attrs)
        if status is not None and status < 300:
            return None
        return f"{task.mechanism} {task.name!r}: {url} answered {status}: {text[:300]}"

    def _reminder(self, task: TaskSpec) -> str | None:
        return self._post("reminder_registered", task, actors.reminder_url(self.dapr_url, task.name),
                          actors.reminder_body(task.schedule, task.data),
                          actor_type=actors.ACTOR_TYPE, actor_id=actors.ACTOR_ID)

    def register_reminders(self, tasks: Sequence[TaskSpec], dapr_urls: Sequence[str],
                           concurrency: int) -> list[str]:
        """Register a load set's reminders ``concurrency`` at a time, each on an actor of its own
        (the reminder's name: placement spreads the actors over the replicas); the problems."""
        posts = []
        for i, task in enumerate(tasks):
            url = actors.reminder_url(dapr_urls[i % len(dapr_urls)], task.name, actor_id=task.name)
            body = actors.reminder_body(task.schedule, task.data)
            posts.append(Post(url, body, partial(self._started, "reminder_registered", task, url,
                                                 body, actor_type=actors.ACTOR_TYPE,
                                                 actor_id=task.name)))
        if posts:
            self.run.note_command(
                ["curl", "-sS", "-X", "POST", posts[0].url, "-H", "Content-Type: application/json",
                 "-d", json.dumps(posts[0].body)],
                comment=f"{len(posts)} reminders like this one, {concurrency} at a time")
        return post_concurrently(posts, concurrency=concurrency, headers=self.headers)

    def _workflow(self, task: TaskSpec) -> str | None:
        period = every_seconds(task.schedule)
        body = workflow_app.workflow_input(task.name, float(period or 0), task.data)
        return self._post("workflow_started", task,
                          workflow_app.start_url(self.dapr_url, task.name), body,
                          workflow=workflow_app.WORKFLOW_NAME)

    def _sdk_job(self, task: TaskSpec) -> str | None:
        import grpc
        from dapr.clients import DaprClient
        from dapr.conf import settings

        if self.sdk_sidecar is None:
            return f"job-sdk {task.name!r}: no gRPC app replica to create it through"
        address, http_url = self.sdk_sidecar
        # The SDK reads its sidecar's HTTP endpoint (it polls /healthz/outbound before the
        # first call) and the API token from process-wide settings, not from arguments.
        settings.DAPR_HTTP_ENDPOINT, settings.DAPR_API_TOKEN = http_url, self.api_token
        spec = {"schedule": task.schedule, "data": task.data}
        sent_wall = time.time()
        status, error = "OK", None
        try:
            with DaprClient(address=address) as client:
                client.schedule_job(sdk_job(task))
        except grpc.RpcError as exc:
            status, error = exc.code().name, f"{exc.code().name}: {exc.details()}"
        except Exception as exc:  # the SDK wraps some gRPC errors in its own types
            status, error = type(exc).__name__, str(exc)
        self.history.event("job_created", name=task.name, mechanism="job-sdk", spec=spec,
                           sent_wall=sent_wall, status=status, response=error,
                           address=address)
        return None if error is None else f"job-sdk {task.name!r}: {error}"

    def close(self) -> None:
        self.http.close()


def install_task_bindings(tasks: Sequence[TaskSpec], run: RunDir,
                          history: HistoryWriter) -> dict[str, str]:
    """One bindings.cron component per binding-lock / binding-claim task; returns the app
    routes daprd will POST to, mapped to their task names."""
    routes = {}
    for task in tasks:
        if task.mechanism not in GATED:
            continue
        path = run.resources / f"{task.name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_binding(BindingSpec(name=task.name, schedule=task.schedule)))
        history.event("binding_installed", name=task.name, schedule=task.schedule,
                      mechanism=task.mechanism, file=str(path))
        routes[task.name] = task.name
    return routes
