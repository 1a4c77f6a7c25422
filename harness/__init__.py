"""A test harness that produces evidence about how Dapr schedules work across replicas.

Roles, one sub-package each, imported only in the order data flows: ``scenario`` (pure data,
validated up front) -> ``record`` (the history and the run directory) -> ``cluster`` (real
processes: scheduler, placement, Redis, replicas) -> ``apps`` (what runs inside a replica) ->
``drive`` (driver, tasks, nemesis) -> ``check`` (verdicts behind one protocol) -> ``summary``
(the typed record of a run) -> ``reports`` and ``recheck`` -> ``runner`` (one scenario end to
end) -> ``bench`` and ``matrix`` -> ``cli``. tests/unit/test_structure.py checks the order.

Only the standard library may be imported here at module level: ``python3 -m harness setup``
must start on a machine without the dependencies, so the public names below load lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Scenario": "harness.scenario.model", "ScenarioError": "harness.scenario.model",
    "load_scenario": "harness.scenario.loading", "load_scenarios": "harness.scenario.loading",
    "FAULTS": "harness.scenario.faults",
    "Cluster": "harness.cluster.controlplane", "locate_runtime": "harness.cluster.runtime",
    "History": "harness.record.history", "load_history": "harness.record.history",
    "CheckReport": "harness.check", "check_run": "harness.check",
    "RunSummary": "harness.summary", "load_summaries": "harness.summary",
    "RunResult": "harness.runner", "run_scenario": "harness.runner",
    "recheck_evidence": "harness.recheck",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
