"""A load set's run written in code: N jobs @every 1s created at once, every tick delivered
(except those asked to be lost or sent twice), for the checker and report tests (no Dapr)."""

from __future__ import annotations

from pathlib import Path

from harness.record.history import Event, History, Trigger
from harness.scenario.model import Expectation, LoadSet, Scenario

T0 = 1_795_000_000.0  # window_start


def load_scenario(jobs: int, window_s: float = 10, replicas: int = 3) -> Scenario:
    return Scenario(
        name="load-fake", source=Path("scenarios/load/load-fake.yaml"), replicas=replicas,
        window_s=window_s, grace_s=5,
        load=(LoadSet(name="load", jobs=jobs, schedule="@every 1s"),),
        expect={"job": Expectation(delivery="exactly_once", min_ticks=int(window_s) - 2)},
    ).with_load_expanded()


def load_history(scenario: Scenario, *, lost: frozenset[tuple[str, int]] = frozenset(),
                 twice: frozenset[tuple[str, int]] = frozenset(), late_s: float = 0.02) -> History:
    """Each job created at T0 + 0.001 i, its k-th tick (k >= 1) delivered ``late_s`` late, on
    replica i % replicas, with app_ms i % 7 / 10."""
    events = [Event("replica_ready", T0 - 2, T0 - 2, {"replica": r}) for r in range(scenario.replicas)]
    events.append(Event("window_start", T0, T0, {"window_s": scenario.window_s}))
    triggers = []
    end = T0 + scenario.window_s
    for i, job in enumerate(scenario.jobs):
        sent = T0 + 0.001 * i
        events.append(Event("job_created", sent + 0.002, sent + 0.002,
                            {"name": job.name, "spec": job.body(), "sent_wall": sent, "status": 204}))
        k = 1
        while sent + k < end + 3:
            if (job.name, k) not in lost:
                wall = sent + k + late_s
                for _ in range(2 if (job.name, k) in twice else 1):
                    triggers.append(Trigger(mechanism="job", name=job.name, replica=i % scenario.replicas,
                                            pid=100, wall=wall, mono=wall - T0, app_ms=(i % 7) / 10))
            k += 1
    events += [Event("window_end", end, end, {}), Event("recording_end", end + 5, end + 5, {"grace_s": 5})]
    return History(triggers=tuple(sorted(triggers, key=lambda t: t.wall)), events=tuple(events))
