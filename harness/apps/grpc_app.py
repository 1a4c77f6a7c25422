"""The job-sdk app: the sample app's job handlers over gRPC, with the official Python SDK.

Run as ``python -m harness.apps.grpc_app`` with APP_PORT (the gRPC port daprd calls, started
with ``--app-protocol grpc``) and the environment of harness/apps/recorder.py. It registers a
dapr-ext-grpc job handler for each job-sdk task; daprd delivers each trigger as
``OnJobEventAlpha1`` (AppCallbackAlpha), and the handler records it before answering. A rule
with ``status >= 400`` for mechanism job-sdk makes the handler raise, which the SDK turns into
a gRPC error (daprd: a failed trigger; its failure policy applies).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

from harness.apps.environment import AppEnvironmentError
from harness.apps.recorder import TriggerLog

__all__ = ["build_app", "main"]


class FailingOnPurpose(RuntimeError):
    pass


def _handler(log: TriggerLog, name: str) -> Callable[[Any], None]:
    def handle(event: Any) -> None:
        arrival = (time.time(), time.monotonic())
        status = log.rule_for("job-sdk", name).status
        log.write("job-sdk", event.name, arrival, raw=bytes(event.data or b""), status=status)
        if status >= 400:
            raise FailingOnPurpose(f"job {name}: failing on purpose ({status})")
    return handle


def build_app(log: TriggerLog) -> Any:
    from dapr.ext.grpc import App

    app = App()
    for name in log.tasks_of("job-sdk"):
        app.job_event(name)(_handler(log, name))
    return app


def main() -> None:
    try:
        log = TriggerLog()
    except (AppEnvironmentError, OSError) as exc:
        raise SystemExit(f"grpc_app: {exc}") from None  # one line, no traceback
    app = build_app(log)
    # The harness stops apps with SIGINT; end the gRPC server cleanly on it and on SIGTERM.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: app.stop())
    app.run(int(os.environ["APP_PORT"]), listen_address="127.0.0.1")


if __name__ == "__main__":
    main()
