"""Waiting for a condition with a deadline: the only way the harness waits for anything."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["DeadlineExceeded", "wait_until"]

T = TypeVar("T")


class DeadlineExceeded(TimeoutError):
    pass


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout_s: float,
    what: str,
    interval_s: float = 0.05,
    abort: Callable[[], str | None] | None = None,
) -> T:
    """Poll ``probe`` until it returns a truthy value; fail after ``timeout_s``.

    ``abort`` returns a reason to stop early (e.g. the process being waited on has exited), so a
    crash is reported at once instead of as a timeout.
    """
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while True:
        try:
            value = probe()
            if value:
                return value
        except Exception as exc:  # the probe's failures are the normal "not yet"
            last_error = exc
        if abort is not None and (reason := abort()):
            raise DeadlineExceeded(f"gave up waiting for {what}: {reason}")
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            raise DeadlineExceeded(f"{what} not reached within {timeout_s:g}s{detail}")
        time.sleep(interval_s)
