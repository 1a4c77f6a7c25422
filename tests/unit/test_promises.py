"""The promises checker on every mechanism under every fault kind: one tick's work lost while
the fault is on passes exactly where ``PROMISES`` (beside the fault catalog) allows it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from builders import T0, ev, history, trig

from harness.check import check_run
from harness.record.history import Event, History, Trigger
from harness.scenario.faults import FAULTS, PROMISES
from harness.scenario.mechanisms import APP_IDS, MECHANISMS
from harness.scenario.model import BindingSpec, FaultSpec, JobSpec, Scenario, TaskSpec

LOST_AT = 10.0  # the tick whose work is lost, while the fault (8 s to 10.5 s) is on
TICKS = [float(t) for t in range(2, 23, 2)]


def fault_spec(kind: str) -> FaultSpec:
    spec = FAULTS[kind]
    return FaultSpec(kind=kind, at_s=8, duration_s=2.5 if spec.needs_duration else None,
                     replica=1 if spec.target == "replica" else None)  # type: ignore[arg-type]


def fault_events(kind: str) -> list[Event]:
    where = {"replica": 1} if FAULTS[kind].target == "replica" else {}
    attrs = {"fault": kind, "target": "x", **where}
    return [ev("fault_start", T0 + 8, **attrs), ev("fault_end", T0 + 10.5, **attrs)]


def ready(app_id: str = APP_IDS["http"]) -> list[Event]:
    return [ev("replica_ready", T0 - 5, replica=r, app_id=app_id) for r in range(3)]


def job_like(mechanism: str) -> tuple[Scenario, list[Event], list[Trigger]]:
    name = "w"
    fires = [trig(mechanism, name, int(t) % 3, T0 + t + 0.01) for t in TICKS if t != LOST_AT]
    if mechanism == "job":
        made = ev("job_created", T0 + 0.02, name=name, spec={"schedule": "@every 2s"},
                  sent_wall=T0, status=204)
        return scenario(jobs=(JobSpec(name=name, schedule="@every 2s"),)), [*ready(), made], fires
    if mechanism == "job-sdk":
        made = ev("job_created", T0 + 0.02, name=name, mechanism="job-sdk", spec={},
                  sent_wall=T0, status="OK")
        return (scenario(tasks=(TaskSpec(mechanism="job-sdk", name=name, schedule="@every 2s"),)),
                [*ready(APP_IDS["grpc"]), made], fires)
    made = ev("reminder_registered", T0 + 0.02, name=name, spec={}, sent_wall=T0, status=204)
    return (scenario(tasks=(TaskSpec(mechanism="reminder", name=name, schedule="@every 2s"),)),
            [*ready(), made], fires)


def binding() -> tuple[Scenario, list[Event], list[Trigger]]:
    fires = [trig("binding", "w", r, T0 + t + 0.003) for r in range(3) for t in [0.0, *TICKS]
             if (r, t) != (1, LOST_AT)]
    return scenario(bindings=(BindingSpec(name="w", schedule="*/2 * * * * *"),)), ready(), fires


def gated(mechanism: str) -> tuple[Scenario, list[Event], list[Trigger]]:
    fires = [replace(trig(mechanism, "w", r, T0 + t + 0.003 + 0.001 * r),
                     work=r == 0 and t != LOST_AT, tick=str(t)) for r in range(3)
             for t in [0.0, *TICKS]]
    return scenario(tasks=(TaskSpec(mechanism=mechanism, name="w",  # type: ignore[arg-type]
                                    schedule="*/2 * * * * *"),)), ready(), fires


def workflow() -> tuple[Scenario, list[Event], list[Trigger]]:
    started = ev("workflow_started", T0 + 0.02, name="w", workflow="x", spec={}, sent_wall=T0,
                 status=202)
    fires = [replace(trig("workflow", "w", 0, T0 + t + 0.05), work=True, tick=str(int(t)))
             for t in [0.0, *TICKS] if t != LOST_AT]
    return (scenario(tasks=(TaskSpec(mechanism="workflow", name="w", schedule="@every 2s"),)),
            [*ready(), started], fires)


def scenario(**parts: object) -> Scenario:
    return Scenario(name="p", source=Path("p.yaml"), replicas=3, window_s=24, **parts)  # type: ignore[arg-type]


def case(mechanism: str) -> tuple[Scenario, list[Event], list[Trigger]]:
    if mechanism in ("job", "job-sdk", "reminder"):
        return job_like(mechanism)
    if mechanism == "binding":
        return binding()
    if mechanism == "workflow":
        return workflow()
    return gated(mechanism)


@pytest.mark.parametrize("kind", sorted(FAULTS))
@pytest.mark.parametrize("mechanism", sorted(MECHANISMS))
def test_a_tick_lost_under_a_fault_passes_only_where_the_promise_allows(mechanism: str,
                                                                     kind: str) -> None:
    base, events, fires = case(mechanism)
    s = base.model_copy(update={"faults": (fault_spec(kind),)})
    h: History = history(*events, *fault_events(kind), ev("window_start", T0),
                         ev("window_end", T0 + 24), *fires)
    promises = check_run(s, h).checker("promises")
    assert promises is not None
    allowed = kind in PROMISES[mechanism].loses
    assert (promises.verdict == "pass") is allowed, (PROMISES[mechanism].under(kind),
                                                      promises.reasons)


def test_every_mechanism_states_its_promise_under_every_fault_kind() -> None:
    assert set(PROMISES) == set(MECHANISMS)
    for promise in PROMISES.values():
        assert set(promise.loses) <= set(FAULTS)
        assert all(promise.under(kind) for kind in FAULTS)
    assert PROMISES["job"].under("kill_scheduler") == "no tick lost"
    assert PROMISES["binding"].under("kill_daprd") == "ticks lost on the faulted replica"


def test_a_job_tick_given_up_after_its_retries_keeps_the_promise() -> None:
    """The failure policy gives a tick up after its retries: Dapr's documented behaviour (the
    app refused every attempt), whatever the fault."""
    base, events, fires = job_like("job")
    # Tick 10 fails at 10, 11, 12 and 13 s (Dapr's default: 3 retries 1 s apart); the job's
    # next tick waits for the last answer, so tick 12 comes at 13.2 s.
    tries = [trig("job", "w", 1, T0 + LOST_AT + k + 0.01, outcome="failed") for k in range(4)]
    fires = [t for t in fires if not T0 + 12 < t.wall < T0 + 13] + [trig("job", "w", 2, T0 + 13.2)]
    for kind, allowed in (("app_failing", True), ("kill_daprd", True)):
        s = base.model_copy(update={"faults": (fault_spec(kind),)})
        h = history(*events, *fault_events(kind), ev("window_start", T0),
                    ev("window_end", T0 + 24), *fires, *tries)
        promises = check_run(s, h).checker("promises")
        assert promises is not None and (promises.verdict == "pass") is allowed, promises.reasons
