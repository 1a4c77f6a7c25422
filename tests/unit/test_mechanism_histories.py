"""What real Dapr 1.18.3 runs of the mechanisms recorded (tests/unit/histories/mechanisms_*,
copied from runs of scenarios/mechanisms*.yaml). These pin the raw facts the tick models of
the checker must account for; each assertion is about the record, not a verdict."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

from harness.record.history import History, Trigger, load_history

HISTORIES = Path(__file__).parent / "histories"


def recorded(stem: str) -> History:
    return load_history(HISTORIES / f"{stem}.jsonl")


def in_window(history: History, mechanism: str) -> list[Trigger]:
    start = history.events_named("window_start")[0].wall
    end = history.events_named("window_end")[0].wall
    return [t for t in history.triggers if t.mechanism == mechanism and start <= t.wall <= end]


def winners_per_tick(history: History, mechanism: str) -> collections.Counter[int]:
    """Workers per tick, over the ticks all of whose attempts fell inside the window (the
    first tick can straddle its start; at teardown the sidecars stop before the apps)."""
    inside = {id(t) for t in in_window(history, mechanism)}
    ticks: dict[str | None, list[Trigger]] = collections.defaultdict(list)
    for trigger in history.triggers:
        if trigger.mechanism == mechanism:
            ticks[trigger.tick].append(trigger)
    return collections.Counter(sum(bool(t.work) for t in attempts) for attempts in ticks.values()
                               if all(id(t) in inside for t in attempts))


@pytest.mark.parametrize("stem", ["mechanisms_3replicas", "mechanisms_restart_redis",
                                  "mechanisms_kill_daprd", "mechanisms_pause_replica"])
@pytest.mark.parametrize("mechanism", ["binding-lock", "binding-claim"])
def test_gated_bindings_had_one_winner_per_tick(stem: str, mechanism: str) -> None:
    history = recorded(stem)
    winners = winners_per_tick(history, mechanism)
    assert set(winners) == {1} and winners[1] >= 10
    triggers = in_window(history, mechanism)
    assert len({t.replica for t in triggers}) == 3  # every HTTP replica's cron called


def test_headline_spreads_each_mechanism_as_dapr_routes_it() -> None:
    history = recorded("mechanisms_3replicas")
    calls = collections.Counter(t.tick for t in in_window(history, "binding-claim"))
    assert max(calls.values()) == 3  # three attempts per tick, one did the work
    assert {t.replica for t in history.received("job-sdk")} <= {3, 4, 5}  # the gRPC app only
    assert len({t.replica for t in history.received("reminder")}) == 1  # the actor's host
    iterations = [t.tick for t in history.received("workflow")]
    assert len(iterations) == len(set(iterations)) >= 10  # one activity per iteration


def test_redis_restart_made_one_workflow_activity_run_twice() -> None:
    history = recorded("mechanisms_restart_redis")
    runs = collections.Counter(t.tick for t in history.received("workflow"))
    assert [tick for tick, n in runs.items() if n > 1] == ["5"]
    # The gate calls during the outage were held by daprd until Redis was back, not refused.
    held = [t for t in history.received("binding-claim") if t.gate and
            float(t.gate.split()[1].removesuffix("ms")) > 2000]
    assert held and all(t.gate and t.gate.split()[0] in ("204", "409") for t in held)


def _gaps(history: History, mechanism: str) -> list[float]:
    walls = [t.wall for t in history.received(mechanism)]
    return [b - a for a, b in zip(walls, walls[1:], strict=False)]


@pytest.mark.parametrize("mechanism", ["reminder", "job-sdk"])
def test_scheduler_kill_stalls_then_replays_in_a_burst(mechanism: str) -> None:
    history = recorded("mechanisms_kill_scheduler")
    gaps = _gaps(history, mechanism)
    assert max(gaps) > 20  # nothing for the leadership lease, about 20 s
    burst = gaps[gaps.index(max(gaps)) + 1:]
    assert len(burst) >= 10 and sum(burst[:10]) < 1.0  # missed ticks replayed back to back


def test_killed_reminder_host_moves_the_actor_and_back() -> None:
    history = recorded("mechanisms_kill_daprd")
    (killed,) = [e.attrs["replica"] for e in history.events_named("fault_start")
                 if e.attrs["target"].startswith("replica-") and e.attrs["replica"] < 3]
    start = history.events_named("fault_start")[0].wall
    end = history.events_named("fault_end")[0].wall
    during = {t.replica for t in history.received("reminder") if start < t.wall < end}
    after = {t.replica for t in history.received("reminder") if t.wall > end + 2}
    assert during and killed not in during and after == {killed}


def test_paused_reminder_host_gets_the_held_reminders_at_once() -> None:
    history = recorded("mechanisms_pause_replica")
    end = history.events_named("fault_end")[0].wall
    hosts = {t.replica for t in history.received("reminder")}
    assert hosts == {1}  # the paused replica hosted the actor and kept it
    after = [t.wall - end for t in history.received("reminder") if t.wall > end - 1]
    assert sum(1 for d in after if d < 0.2) >= 3  # the ticks due while paused, in one burst
