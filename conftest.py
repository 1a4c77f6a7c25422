"""pytest collects scenarios/*.yaml: each scenario (each sweep value) is one test item.

A scenario's verdict comes from the checker; a failure prints expected vs observed per
mechanism. Real Dapr is required: if it cannot be found the item fails with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.paths import SCENARIOS_DIR

_runtime_cache: list[Any] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    """A test session is a start of the harness too: end what dead runners left running."""
    from harness.cluster.reaper import reap_orphans

    reap_orphans(lambda line: print(f"\n[harness] {line}", flush=True))


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix == ".yaml" and file_path.parent == SCENARIOS_DIR:
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


ALL_SCENARIOS_ENV = "DAPR_HARNESS_ALL_SCENARIOS"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything that starts real processes carries the ``dapr`` marker, so that
    ``pytest -m "not dapr"`` runs only the pure tests. Evidence scenarios (``ci: false``) are
    deselected, and counted so, unless DAPR_HARNESS_ALL_SCENARIOS=1."""
    dapr_tests = Path(__file__).parent / "tests" / "dapr"
    for item in items:
        if isinstance(item, ScenarioItem) or dapr_tests in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.dapr)
    if os.environ.get(ALL_SCENARIOS_ENV) == "1":
        return
    evidence = [i for i in items if isinstance(i, ScenarioItem) and not i.scenario.ci]
    if evidence:
        config.hook.pytest_deselected(items=evidence)
        items[:] = [i for i in items if i not in evidence]


def dapr_runtime() -> Any:
    """Located once per session; a missing Dapr fails every scenario with one clear message."""
    from harness.cluster.runtime import locate_runtime

    if not _runtime_cache:
        _runtime_cache.append(locate_runtime())
    return _runtime_cache[0]


class ScenarioFailed(Exception):
    def __init__(self, result: Any) -> None:
        super().__init__(result.run.root)
        self.result = result


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[ScenarioItem]:
        from harness.scenario.model import ScenarioError
        from harness.scenario.loading import load_scenario

        try:
            scenarios = load_scenario(self.path)
        except ScenarioError as exc:
            raise self.CollectError(str(exc)) from None
        for scenario in scenarios:
            yield ScenarioItem.from_parent(self, name=scenario.id, scenario=scenario)


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.add_marker(pytest.mark.timeout(scenario.window_s + 180))

    def runtest(self) -> None:
        from harness.runner import run_scenario

        result = run_scenario(self.scenario, dapr_runtime())
        self.user_properties.append(("run_dir", str(result.run.root)))
        if not result.passed:
            raise ScenarioFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailed):
            from harness.reports.failure import failure_report

            return failure_report(excinfo.value.result.summary)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario {self.name}"
