"""The checker on generated histories (Hypothesis): a true delivery plan, optionally one injected
anomaly of a known kind; the checker must report every injected anomaly (no false negative)
and none on clean plans (no false positive), and account for every trigger.

Plans follow Dapr's rules as the checker models them (``harness/check/``): jobs fire on the
Scheduler's grid from the create request and replay held ticks back to back after a stall;
cron-spec bindings fire on the grid in every sidecar; ``@every`` bindings fire one period
after their previous fire, with a small drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from builders import T0, ev, trig
from hypothesis import given
from hypothesis import strategies as st

from harness.check import MechanismResult, check_run
from harness.record.history import Event, History, Trigger
from harness.scenario.model import BindingSpec, Expectation, FaultSpec, JobSpec, Scenario

KINDS = ("job", "cron", "every")
ANOMALIES = ("lost", "duplicate", "early", "late", "retry", "outside", "hidden-loss")


@dataclass
class Plan:
    kind: str
    period: float
    replicas: int
    window: float
    triggers: list[Trigger] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    faults: tuple[FaultSpec, ...] = ()
    judged: dict[int, list[float]] = field(default_factory=dict)  # replica (-1: any) -> ticks

    @property
    def end(self) -> float:
        return T0 + self.window

    @property
    def grace(self) -> float:
        return self.period + 1.0

    def scenario(self) -> Scenario:
        name = "task"
        if self.kind == "job":
            return Scenario(name="g", source=Path("g.yaml"), replicas=self.replicas,
                            window_s=self.window, faults=self.faults,
                            jobs=(JobSpec(name=name, schedule=f"@every {self.period:g}s"),),
                            expect={"job": Expectation(delivery="exactly_once", min_ticks=0)})
        schedule = f"*/{self.period:g} * * * * *" if self.kind == "cron" else f"@every {self.period:g}s"
        return Scenario(name="g", source=Path("g.yaml"), replicas=self.replicas,
                        window_s=self.window, bindings=(BindingSpec(name=name, schedule=schedule),),
                        expect={"binding": Expectation(delivery="once_per_replica", min_ticks=0)})

    def history(self) -> History:
        events = [*self.events, ev("window_start", T0), ev("window_end", self.end),
                  ev("recording_end", self.end + self.grace)]
        return History(triggers=tuple(sorted(self.triggers, key=lambda t: t.wall)),
                       events=tuple(sorted(events, key=lambda e: e.wall)))


def mechanism(plan: Plan) -> str:
    return "job" if plan.kind == "job" else "binding"


def fire(plan: Plan, replica: int, wall: float, status: int = 200) -> Trigger:
    return trig(mechanism(plan), "task", replica, wall, status=status,
                outcome="ok" if status < 400 else "failed")


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    kind = draw(st.sampled_from(KINDS))
    period = float(draw(st.sampled_from([1, 2, 3, 5] if kind != "cron" else [1, 2, 5])))
    replicas = draw(st.integers(1, 4))
    window = float(draw(st.integers(int(6 * period), int(14 * period))))
    plan = Plan(kind, period, replicas, window)
    plan.events += [ev("replica_ready", T0 - 3 * period - 0.5 + 0.01 * r, replica=r)
                    for r in range(replicas)]
    latency = st.floats(0.001, 0.05)
    if kind == "job":
        sent = T0 - draw(st.floats(0, period - 0.01))
        plan.events.append(ev("job_created", sent + 0.01, name="task", spec={}, sent_wall=sent,
                              status=204))
        ticks = [sent + k * period for k in range(1, int((plan.end + plan.grace - sent) / period) + 1)]
        ticks = [t for t in ticks if t + 0.06 < plan.end + plan.grace]
        stall = draw(st.booleans()) and len([t for t in ticks if t < plan.end]) > 6
        replay_at, held = None, []
        if stall:  # the Scheduler down for a while: its ticks replayed back to back afterwards
            start = draw(st.sampled_from(ticks[1:4])) - 0.5 * period
            down = draw(st.floats(period, 3 * period))
            replay_at = start + down + 0.2
            plan.faults = (FaultSpec(kind="kill_scheduler", at_s=round(start - T0, 3)),)
            plan.events += [ev("fault_start", start, fault="kill_scheduler", target="scheduler"),
                            ev("fault_end", start + 0.1, fault="kill_scheduler", target="scheduler"),
                            ev("fault_recovered", start + down, fault="kill_scheduler",
                               target="scheduler")]
            held = [t for t in ticks if start <= t < replay_at]
        for i, tick in enumerate(ticks):
            replica = draw(st.integers(0, replicas - 1))
            wall = (replay_at + 0.004 * held.index(tick)) if tick in held else tick + draw(latency)
            plan.triggers.append(fire(plan, replica, wall))
        plan.judged = {-1: [t for t in ticks if T0 <= t < plan.end]}
        return plan
    for r in range(replicas):
        if kind == "cron":
            ticks = [T0 + k * period for k in range(-2, int((plan.window + plan.grace) / period) + 1)]
            ticks = [t for t in ticks if t + 0.06 < plan.end + plan.grace]
            walls = [t + draw(latency) for t in ticks]
        else:
            phase = T0 - 2 * period + draw(st.floats(0, period - 0.01))
            drift = draw(st.floats(0, 0.003))
            walls, t = [], phase
            while t < plan.end + plan.grace - 0.06:
                walls.append(t)
                t += period + drift
            ticks = walls
        plan.triggers += [fire(plan, r, w) for w in walls]
        plan.judged[r] = [t for t in ticks if T0 <= t < plan.end]
    return plan


def result(plan: Plan) -> MechanismResult:
    (only,) = check_run(plan.scenario(), plan.history()).mechanisms
    return only


def view(plan: Plan, m: MechanismResult):  # type: ignore[no-untyped-def]
    return m.across if plan.kind == "job" else m.per_replica_view


def assert_accounted(plan: Plan, m: MechanismResult) -> None:
    refused = sum(t.outcome == "refused" for t in plan.triggers)
    assert m.accounting.total == m.triggers == len(plan.triggers) - refused


def inner_tick(plan: Plan, draw: st.DrawFn) -> tuple[int, float, Trigger]:
    """A judged tick away from the window's edges, and the trigger delivering it."""
    replica = -1 if plan.kind == "job" else draw(st.integers(0, plan.replicas - 1))
    ticks = plan.judged[replica][1:-2]
    tick = draw(st.sampled_from(ticks))
    mine = [t for t in plan.triggers if (replica < 0 or t.replica == replica)
            and tick <= t.wall < tick + 0.3 * plan.period]
    return replica, tick, min(mine, key=lambda t: t.wall)


# --- no false positives -------------------------------------------------------------------------


@given(plans())
def test_a_clean_plan_has_no_anomaly_and_every_trigger_is_accounted(plan: Plan) -> None:
    m = result(plan)
    v = view(plan, m)
    assert (v.lost.high, v.duplicated.high, m.early, m.accounting.unexplained) == (0, 0, 0, 0), m
    assert v.ticks == sum(len(ticks) for ticks in plan.judged.values())
    assert m.verdict == "pass", m.reasons
    assert_accounted(plan, m)


# --- every injected anomaly is reported ------------------------------------------------------------


@given(plans(), st.sampled_from(ANOMALIES), st.data())
def test_every_injected_anomaly_is_reported(plan: Plan, anomaly: str, data: st.DataObject) -> None:
    if plan.faults:  # anomalies are injected into fault-free plans; stalls are tested clean
        plan.faults = ()
        plan.events = [e for e in plan.events if not e.event.startswith("fault")]
        if plan.kind == "job":  # without the fault, a replay is itself an anomaly: drop the plan
            return
    draw = data.draw
    replica, tick, delivered = inner_tick(plan, draw)
    r = delivered.replica
    clean = result(plan)
    if anomaly == "lost":
        plan.triggers.remove(delivered)
        m = result(plan)
        assert view(plan, m).lost.high >= 1 and m.verdict != "pass"
    elif anomaly == "duplicate":
        other = (r + 1) % plan.replicas if plan.kind == "job" else r
        plan.triggers.append(fire(plan, other, delivered.wall + draw(st.floats(0.0, 0.2)) * plan.period))
        m = result(plan)
        assert view(plan, m).duplicated.high + m.early >= 1 and m.verdict != "pass"
    elif anomaly == "early":
        plan.triggers.remove(delivered)
        plan.triggers.append(fire(plan, r, delivered.wall - draw(st.floats(0.12, 0.24)) * plan.period))
        m = result(plan)
        v = view(plan, m)
        assert m.early + v.duplicated.high + v.lost.high >= 1 and m.verdict != "pass"
    elif anomaly == "late":
        late = draw(st.floats(0.3, 0.7)) * plan.period
        if plan.kind == "every":  # a chain has no grid: a late fire shows only as a lost tick
            late = draw(st.floats(0.6, 0.9)) * plan.period + plan.period
        plan.triggers.remove(delivered)
        plan.triggers.append(fire(plan, r, tick + late))
        m = result(plan)
        assert m.late + view(plan, m).lost.high >= 1
    elif anomaly == "retry":
        if plan.kind != "job":  # a cron binding never retries: every attempt is a delivery
            return
        plan.triggers.remove(delivered)
        plan.triggers += [fire(plan, r, delivered.wall, status=500),
                          fire(plan, (r + 1) % plan.replicas, delivered.wall + 1.0)]
        m = result(plan)
        # A retry is reported as a retry, never as a duplicate.
        assert (m.retries, m.failed) == (1, 1) and m.across.duplicated.high == 0
        assert m.deliveries == clean.deliveries and m.verdict == "pass"
    elif anomaly == "outside":  # a second fire of a tick after the window, in the grace period
        after = [t for t in plan.triggers if t.wall >= plan.end + 0.1 and (replica < 0 or t.replica == r)]
        if not after:
            return
        first = min(after, key=lambda t: t.wall)
        plan.triggers.append(fire(plan, first.replica, first.wall + 0.01))
        m = result(plan)
        assert m.accounting.after_window == clean.accounting.after_window + 1
        assert m.accounting.judged == clean.accounting.judged
    elif anomaly == "hidden-loss":
        later = [t for t in plan.judged[replica] if t >= tick + 2 * plan.period][:-1]
        if plan.period < 2 or not later:
            return
        plan.triggers.remove(delivered)
        copy_of = min((t for t in plan.triggers if (replica < 0 or t.replica == replica)
                       and t.wall >= later[0]), key=lambda t: t.wall)
        plan.triggers.append(fire(plan, copy_of.replica, copy_of.wall + 0.3))
        m = result(plan)
        v = view(plan, m)
        assert v.lost.high >= 1 and v.duplicated.high + m.early >= 1 and m.verdict != "pass"
    assert_accounted(plan, result(plan))


# --- the counter-examples that fooled the earlier checkers -------------------------------------


def test_loss_plus_duplicate_is_not_read_as_one_late_delivery() -> None:
    """Tick 6 s lost and tick 14 s delivered twice (0.3 s apart), no fault: the in-order reading
    called it one tick 8.3 s late (holds); both readings are now reported and the verdict fails."""
    job = JobSpec(name="j", schedule="@every 2s")
    triggers = [trig("job", "j", k % 3, T0 + t + 0.004) for k, t in enumerate(range(2, 24, 2)) if t != 6]
    triggers.append(trig("job", "j", 1, T0 + 14.304))
    events = [ev("replica_ready", T0 - 5, replica=r) for r in range(3)]
    events += [ev("job_created", T0 + 0.01, name="j", spec={}, sent_wall=T0, status=204),
               ev("window_start", T0), ev("window_end", T0 + 24)]
    scenario = Scenario(name="c", source=Path("c.yaml"), replicas=3, window_s=24, jobs=(job,),
                        expect={"job": Expectation(delivery="at_least_once")})
    (m,) = check_run(scenario, History(tuple(triggers), tuple(events))).mechanisms
    assert m.across.lost.high == 1 and m.across.duplicated.high == 1
    assert m.verdict != "pass"


def test_a_tick_at_the_window_edge_delivered_three_times_is_judged() -> None:
    """Expected ticks used to stop 1.5 s before the window's end while triggers were recorded
    until teardown: a tick at the edge delivered three times passed."""
    job = JobSpec(name="j", schedule="@every 2s")
    triggers = [trig("job", "j", 0, T0 + t + 0.004) for t in range(2, 24, 2)]
    triggers += [trig("job", "j", r, T0 + 22.5) for r in (1, 2)]  # tick 22 s, window ends 23 s
    events = [ev("replica_ready", T0 - 5, replica=r) for r in range(3)]
    events += [ev("job_created", T0 + 0.01, name="j", spec={}, sent_wall=T0, status=204),
               ev("window_start", T0), ev("window_end", T0 + 23)]
    scenario = Scenario(name="c", source=Path("c.yaml"), replicas=3, window_s=23, jobs=(job,),
                        expect={"job": Expectation(delivery="exactly_once")})
    (m,) = check_run(scenario, History(tuple(triggers), tuple(events))).mechanisms
    assert m.across.duplicated.high == 1 and m.verdict == "fail"


def test_one_time_job_retried_by_its_failure_policy_is_not_duplicated() -> None:
    job = JobSpec(name="j", dueTime="2s")
    triggers = [trig("job", "j", 0, T0 + 2 + i + 0.01, outcome="failed") for i in range(4)]
    events = [ev("replica_ready", T0 - 5, replica=0), ev("window_start", T0),
              ev("job_created", T0 + 0.01, name="j", spec={}, sent_wall=T0, status=204),
              ev("window_end", T0 + 10)]
    scenario = Scenario(name="c", source=Path("c.yaml"), replicas=1, window_s=10, jobs=(job,))
    (m,) = check_run(scenario, History(tuple(triggers), tuple(events))).mechanisms
    assert (m.attempts, m.failed, m.retries, m.deliveries) == (4, 4, 3, 0)
    assert m.across.duplicated.high == 0 and m.across.undelivered == 1
