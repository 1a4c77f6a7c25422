"""The workflow mechanism: a workflow that does the work in an activity, waits on a durable
timer for the period, and continues as new (dapr-ext-workflow, the Python SDK).

Every replica's app runs a workflow worker connected to its own daprd (gRPC), so the
orchestration and its activities may run on any replica. The activity is the scheduled work:
each execution is recorded as a ``workflow`` trigger with ``work=True`` and ``tick`` = the
iteration number, so a re-executed activity shows up as two triggers with one tick. The
workflow's input carries the iteration, the period and the task's data.

daprd's workflow engine is durabletask-go; this project's daprd 1.18.3 is built with v0.12.1
instead of the pinned v0.12.4 (see harness/cluster/build.py, ADAPTATIONS).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Generator
from datetime import timedelta
from typing import Any

__all__ = ["WORKFLOW_NAME", "WorkflowWorker", "start_url", "start_worker", "workflow_input"]

WORKFLOW_NAME = "cleanup_loop"
ACTIVITY_NAME = "cleanup_activity"
START_RETRY_S = 1.0
log = logging.getLogger("harness.workflow")


def workflow_input(name: str, period_s: float, data: Any, iteration: int = 1) -> dict[str, Any]:
    return {"task": name, "period_s": period_s, "data": data, "iteration": iteration}


def start_url(dapr_url: str, instance_id: str, api: str = "v1.0") -> str:
    """Dapr's HTTP workflow API: start an instance with a chosen id (1.18.3 answers 202);
    ``api``: the version's path segment (v1.0-beta1 before 1.15)."""
    return f"{dapr_url}/{api}/workflows/dapr/{WORKFLOW_NAME}/start?instanceID={instance_id}"


def cleanup_loop(ctx: Any, state: dict[str, Any]) -> Generator[Any, Any, None]:
    """Work, wait one period on a durable timer, continue as new with the next iteration."""
    yield ctx.call_activity(ACTIVITY_NAME, input={**state, "instance": ctx.instance_id})
    yield ctx.create_timer(timedelta(seconds=float(state["period_s"])))
    ctx.continue_as_new({**state, "iteration": int(state["iteration"]) + 1})


class WorkflowWorker:
    """The SDK's WorkflowRuntime, started in the background once daprd is up."""

    def __init__(self, log_writer: Any) -> None:
        from dapr.ext.workflow import WorkflowRuntime

        self.recorder = log_writer
        self.runtime = WorkflowRuntime(host="127.0.0.1", port=os.environ.get("DAPR_GRPC_PORT"))
        self.runtime.register_workflow(cleanup_loop, name=WORKFLOW_NAME)
        self.runtime.register_activity(self.activity, name=ACTIVITY_NAME)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._start, name="workflow-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def activity(self, ctx: Any, state: dict[str, Any]) -> dict[str, Any]:
        """The scheduled work; recorded before it returns (the trigger of this mechanism)."""
        self.recorder.write("workflow", str(state.get("instance") or state["task"]),
                            payload=state, work=True, tick=str(state["iteration"]))
        return {"iteration": state["iteration"], "replica": self.recorder.replica}

    def _start(self) -> None:
        # The app starts before its daprd; start() fails until the sidecar's gRPC API answers.
        while not self._stop.is_set():
            try:
                self.runtime.start()
                return
            except Exception as exc:  # not up yet: try again
                log.info("workflow worker not started yet: %s", exc)
                self._stop.wait(START_RETRY_S)

    def stop(self) -> None:
        self._stop.set()
        try:
            self.runtime.shutdown()
        except Exception as exc:  # shutting down anyway; say why it was not clean
            log.warning("workflow worker shutdown: %s", exc)


def start_worker(log_writer: Any) -> WorkflowWorker:
    worker = WorkflowWorker(log_writer)
    worker.start()
    return worker
