"""Fake finished runs for the report tests: a history written in code, checked by the real
checkers, summarised as the runner does (no Dapr)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.check import Accounting, Bound, CheckerResult, MechanismResult, TickView, check_run
from harness.record.history import Event, HistoryWriter, Trigger, load_history
from harness.scenario.model import BindingSpec, Expectation, FaultSpec, JobSpec, Scenario
from harness.summary import DaprInfo, Provenance, RunSummary, assemble_summary

T0 = 1_795_000_000.0  # window_start wall time of the fake runs
DAPR = DaprInfo(runtime="1.18.3", daprd="1.18.3", scheduler="1.18.3", placement="1.18.3",
                source="project build", adaptations=["daprd built from Go modules"])
MACHINE = {"hostname": "testbox", "cpus": 2, "memory_gib": 23.4, "platform": "Linux-6.1-x86_64"}

HistoryFn = Callable[[HistoryWriter], None]


def comparison_scenario(name: str = "comparison", replicas: int = 3,
                        faults: tuple[FaultSpec, ...] = ()) -> Scenario:
    return Scenario(
        name=name, source=Path(f"scenarios/{name}.yaml"), description=f"fake {name} run",
        replicas=replicas, window_s=24,
        jobs=(JobSpec(name="tick", schedule="@every 2s"),),
        bindings=(BindingSpec(name="cron-tick", schedule="@every 1s"),),
        expect={"job": Expectation(delivery="exactly_once", min_ticks=10),
                "binding": Expectation(delivery="once_per_replica", min_ticks=10)},
        faults=faults)


def comparison_history(replicas: int, *, fault: bool = False, skip_tick: int | None = None) -> HistoryFn:
    """Job `tick` every 2s round robin (30 ms late), binding `cron-tick` every 1s on every
    replica (phase 0.2 s), one failed job attempt retried, one refused request, optionally one fault."""
    def write(writer: HistoryWriter) -> None:
        def event(what: str, wall: float, **attrs: Any) -> None:
            writer.append(Event(event=what, wall=wall, mono=wall - T0, attrs=attrs))

        def trigger(kind: str, name: str, replica: int, wall: float, **extra: Any) -> None:
            writer.append(Trigger(mechanism=kind, name=name, replica=replica,  # type: ignore[arg-type]
                                  pid=1000 + replica, wall=wall, mono=wall - T0, **extra))

        for r in range(replicas):
            event("replica_ready", T0 - 3 + r * 0.1, replica=r)
        event("job_created", T0 - 1.95, name="tick", spec={"schedule": "@every 2s"},
              sent_wall=T0 - 2, status=204)
        event("window_start", T0)
        for k in range(1, 13):
            if k not in (skip_tick, 3):
                trigger("job", "tick", k % replicas, T0 - 2 + 2 * k + 0.03)
        # Tick T0+4 fails once and Dapr's default policy retries it one interval later.
        trigger("job", "tick", 0, T0 + 4.03, status=500, outcome="failed")
        trigger("job", "tick", 0, T0 + 5.03)
        for k in range(25):
            for r in range(replicas):
                trigger("binding", "cron-tick", r, T0 + k + 0.2 + 0.01 * r)
        trigger("job", "tick", 1, T0 + 7.1, status=401, outcome="refused")
        if fault:
            event("fault_start", T0 + 8, fault="kill_daprd", target="replica-1", replica=1)
            event("fault_end", T0 + 12, fault="kill_daprd", target="replica-1", replica=1)
        event("window_end", T0 + 24)
        event("recording_end", T0 + 25)
    return write


def fake_run(runs_dir: Path, run_id: str, scenario: Scenario, write_history: HistoryFn,
             started_at: str, *, commit: str = "9a5873d", dirty: bool = False,
             mismatches: list[str] | None = None) -> RunSummary:
    """A run directory as the runner leaves it: history, scenario and summary."""
    run_dir = runs_dir / run_id
    run_dir.mkdir(parents=True)
    with HistoryWriter(run_dir / "history.jsonl") as writer:
        write_history(writer)
    (run_dir / "scenario.json").write_text(scenario.model_dump_json(indent=2))
    report = check_run(scenario, load_history(run_dir / "history.jsonl"))
    metrics = {"history_triggers": 12, "mismatches": mismatches or []}
    summary = assemble_summary(
        report, scenario, run_id=run_id,
        extra_checkers=[CheckerResult("metrics", "n/a", list(mismatches or []), metrics)],
        scenario_file=f"scenarios/{scenario.name}.yaml", started_at=started_at,
        finished_at=started_at, duration_s=31.2, dapr=DAPR,
        provenance=Provenance(commit=commit, dirty=dirty, diff_sha256="ab" * 32 if dirty else None),
        machine=MACHINE, timings={"startup_s": 1.0, "window_s": 25.0, "teardown_s": 0.3},
        metrics_check=metrics)
    summary.write(run_dir / "summary.json")
    return summary


def mechanism_result(mechanism: str = "job", name: str = "tick", *, ticks: int = 10,
                     once: int | None = None, lost: tuple[int, int] = (0, 0),
                     duplicated: tuple[int, int] = (0, 0), per_replica: dict[int, int] | None = None,
                     replicas: int = 3, view: str | None = None, **fields: Any) -> MechanismResult:
    """A mechanism result with the given counts and harmless defaults for the rest."""
    view = view or ("per replica" if mechanism == "binding" else "across replicas")
    tick_view = TickView(ticks=ticks, once=Bound(*(2 * (ticks - lost[1] - duplicated[1],)))
                         if once is None else Bound(once, once),
                         duplicated=Bound(*duplicated), extra=Bound(*duplicated), lost=Bound(*lost))
    defaults: dict[str, Any] = dict(
        schedule="@every 2s", window_s=24.0, grace_s=6.0, triggers=ticks,
        per_replica=per_replica or {0: ticks}, accounting=Accounting(judged=ticks),
        across=tick_view, per_replica_view=tick_view, attempts=ticks, deliveries=ticks,
        failed=0, retries=0, gated_out=0, early=0, late=0, replayed=0,
        lateness_ms={"p50": 4.0, "p90": 5.0, "p99": 5.0, "max": 5.0}, lateness_samples_ms=[4.0],
    )
    return MechanismResult(mechanism=mechanism, name=name, view=view, replicas=replicas,
                           **(defaults | fields))
