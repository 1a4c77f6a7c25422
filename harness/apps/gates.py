"""The "run it once" gates a cron binding handler can put in front of its work.

Every sidecar runs its own bindings.cron (components-contrib bindings/cron/cron.go), so with N
replicas the handler is called N times per tick. The two gates users are told to add:

- **claim** (binding-claim): save the key ``claim-<binding>-<tick>`` with
  ``concurrency: first-write`` and ETag "0" through the state API. components-contrib
  state/redis/redis.go (setDefaultQuery) writes a first-write key only while it does not exist
  (or still has ETag 0); later writers get an ETag mismatch, which daprd answers with 409.
- **lock** (binding-lock): take the distributed lock ``<binding>-<tick>`` (lock API alpha1,
  lock.redis: SET NX with an expiry, components-contrib lock/redis/standalone.go). The lock
  is not released after the work: the replicas' calls for one tick are spread over some
  milliseconds, and a call arriving after a release would take the lock again and work again.
  It expires after LOCK_EXPIRY_S.

``tick`` is the binding's scheduled fire time (scenario.schedule.fire_at_or_before), which all
sidecars share for a cron schedule. A gate whose call fails (daprd or Redis down) is recorded
as no work: the handler cannot know whether it may work.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from harness.scenario.mechanisms import LOCK_STORE, STATE_STORE
from harness.scenario.schedule import fire_at_or_before

__all__ = ["LOCK_EXPIRY_S", "LOCK_STORE", "STATE_STORE", "GateResult", "claim_tick", "lock_tick",
           "tick_key"]

LOCK_EXPIRY_S = 60
GATE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class GateResult:
    work: bool  # this attempt won and did the work
    status: int | None  # daprd's HTTP status for the gate call; None if no answer
    detail: str  # daprd's answer or the error, for the record
    elapsed_ms: float = 0.0  # how long the gate call took (a store outage can hold it)

    def record(self) -> str:
        """The history's ``gate`` field: ``<status> <ms>ms <answer>``."""
        return f"{self.status} {self.elapsed_ms:.0f}ms {self.detail}"


def tick_key(schedule: str, wall: float) -> str:
    """The tick a binding call at ``wall`` stands for, as UTC ISO 8601 with milliseconds."""
    fire = fire_at_or_before(schedule, wall)
    millis = int(round((fire - int(fire)) * 1000))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(fire))) + f".{millis:03d}Z"


async def claim_tick(http: httpx.AsyncClient, dapr_url: str, binding: str, tick: str,
                     replica: int) -> GateResult:
    body = [{
        "key": f"claim-{binding}-{tick}", "value": {"replica": replica, "at": time.time()},
        "etag": "0", "options": {"concurrency": "first-write", "consistency": "strong"},
    }]
    start = time.monotonic()
    try:
        response = await http.post(f"{dapr_url}/v1.0/state/{STATE_STORE}", json=body,
                                   timeout=GATE_TIMEOUT_S)
    except httpx.HTTPError as exc:
        return GateResult(False, None, f"{type(exc).__name__}: {exc}", _ms(start))
    return GateResult(response.status_code in (200, 201, 204), response.status_code,
                      response.text[:300], _ms(start))


async def lock_tick(http: httpx.AsyncClient, dapr_url: str, binding: str, tick: str,
                    replica: int) -> GateResult:
    body = {"resourceId": f"{binding}-{tick}", "lockOwner": f"replica-{replica}",
            "expiryInSeconds": LOCK_EXPIRY_S}
    start = time.monotonic()
    try:
        response = await http.post(f"{dapr_url}/v1.0-alpha1/lock/{LOCK_STORE}", json=body,
                                   timeout=GATE_TIMEOUT_S)
    except httpx.HTTPError as exc:
        return GateResult(False, None, f"{type(exc).__name__}: {exc}", _ms(start))
    won = response.status_code == 200 and _success(response)
    return GateResult(won, response.status_code, response.text[:300], _ms(start))


def _ms(start: float) -> float:
    return (time.monotonic() - start) * 1000


def _success(response: httpx.Response) -> bool:
    try:
        return bool(response.json().get("success"))
    except ValueError:
        return False
