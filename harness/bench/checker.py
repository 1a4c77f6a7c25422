"""How fast the checkers are: histories of up to 300,000 triggers judged (time and peak memory,
against the targets of 10 s and 1 GiB), and every cited verdict rechecked.

No Dapr: the history is built in memory (a job ``@every 1s`` delivered round robin to 3
replicas, and a cron binding on every replica), like the ones real runs record.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any

from harness.bench.common import BenchSettings, Say
from harness.bench.stats import spread
from harness.check import check_run
from harness.cluster.runtime import DaprRuntime
from harness.paths import RESULTS_DIR
from harness.recheck import recheck_evidence
from harness.record.history import Event, History, Trigger
from harness.scenario.model import BindingSpec, Expectation, JobSpec, Scenario

__all__ = ["bench_checker", "synthetic_history"]

T0 = 1_800_000_000.0
LARGEST = 300_000
TARGET_S = 10.0
TARGET_MIB = 1024.0


def synthetic_history(triggers: int, replicas: int = 3) -> tuple[Scenario, History]:
    """Half the triggers a job's (one per tick), half a binding's (one per replica per tick)."""
    job_ticks, binding_ticks = triggers // 2, triggers // 2 // replicas
    records = [Trigger(mechanism="job", name="j", replica=k % replicas, pid=1, wall=T0 + k + 0.004,
                       mono=k + 0.004) for k in range(1, job_ticks + 1)]
    records += [Trigger(mechanism="binding", name="b", replica=r, pid=1, wall=T0 + k + 0.003,
                        mono=k + 0.003) for r in range(replicas) for k in range(binding_ticks)]
    end = T0 + binding_ticks - 0.5  # the job's later ticks fall after the window
    events = [Event("replica_ready", T0 - 5, -5.0, {"replica": r}) for r in range(replicas)]
    events += [Event("job_created", T0 + 0.01, 0.01, {"name": "j", "spec": {}, "sent_wall": T0,
                                                       "status": 204}),
               Event("window_start", T0, 0.0), Event("window_end", end, end - T0)]
    scenario = Scenario(name="bench", source=Path("bench.yaml"), replicas=replicas, window_s=3600,
                        jobs=(JobSpec(name="j", schedule="@every 1s"),),
                        bindings=(BindingSpec(name="b", schedule="* * * * * *"),),
                        expect={"job": Expectation(delivery="exactly_once"),
                                "binding": Expectation(delivery="once_per_replica")})
    return scenario, History(tuple(records), tuple(events))


def peak_mib() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_checker(runtime: DaprRuntime, s: BenchSettings, say: Say) -> dict[str, Any]:
    sizes = (2_000, 20_000, LARGEST) if s.profile == "full" else (2_000,)
    figures: dict[str, Any] = {"peak_memory_mib": {}}
    for size in sizes:
        scenario, history = synthetic_history(size)
        seconds = []
        for _ in range(s.trials):
            started = time.perf_counter()
            passed = check_run(scenario, history).passed  # one report alive at a time
            seconds.append(time.perf_counter() - started)
        figures[f"check_{size}_triggers_s"] = spread(seconds)
        # The peak includes the history built in memory: an upper bound on the judgment's.
        figures["peak_memory_mib"][str(size)] = round(peak_mib(), 1)
        say(f"checker: {size:,} triggers judged in {min(seconds):.2f} s (target {TARGET_S:g} s), "
            f"peak memory {peak_mib():.0f} MiB (target {TARGET_MIB:.0f} MiB)")
        assert passed, "the synthetic history is clean"
    evidence = RESULTS_DIR / "evidence"
    started = time.perf_counter()
    outcomes = recheck_evidence(evidence)
    figures["recheck"] = {"runs": len(outcomes), "seconds": round(time.perf_counter() - started, 2),
                          "differences": sum(len(o.differences) for o in outcomes)}
    say(f"checker: {len(outcomes)} cited runs rechecked in {figures['recheck']['seconds']} s")
    return figures
