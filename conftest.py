"""pytest collects scenarios/*.yaml: each scenario (each sweep value) is one test item.

A scenario's verdict comes from the checker; a failure prints expected vs observed per
mechanism. Real Dapr is required: if it cannot be found the item fails with the reason.

Field scenarios (scenarios/field/*.yaml) are items too, on the pinned Dapr version: the item
passes when the run shows what the report says that version does (reproduced or not). Only
short ones (window and grace together at most FIELD_CI_S, one scheduler, no fault) are
collected when pytest walks the directory, so CI stays short; a longer one runs when its file
is named (`pytest scenarios/field/x.yaml`). Other versions run with `python3 -m harness field`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.paths import FIELD_DIR, SCENARIOS_DIR

_runtime_cache: list[Any] = []
FIELD_CI_S = 10.0  # window + grace of a field scenario collected without being named


def pytest_sessionstart(session: pytest.Session) -> None:
    """A test session is a start of the harness too: end what dead runners left running."""
    from harness.cluster.reaper import reap_orphans

    reap_orphans(lambda line: print(f"\n[harness] {line}", flush=True))


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix == ".yaml" and file_path.parent == SCENARIOS_DIR:
        return ScenarioFile.from_parent(parent, path=file_path)
    if file_path.suffix == ".yaml" and file_path.parent == FIELD_DIR:
        return FieldFile.from_parent(parent, path=file_path)
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything that starts real processes carries the ``dapr`` marker, so that
    ``pytest -m "not dapr"`` runs only the pure tests."""
    dapr_tests = Path(__file__).parent / "tests" / "dapr"
    for item in items:
        if isinstance(item, ScenarioItem) or dapr_tests in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.dapr)


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


class FieldFile(pytest.File):
    """A field scenario: one item on the pinned version, if its report applies there and the
    run is short or the file was named."""

    def collect(self) -> Iterator[FieldItem]:
        from harness.cluster.versions import DEFAULT_DAPR_VERSION
        from harness.scenario.loading import load_field_scenarios
        from harness.scenario.model import ScenarioError
        from harness.scenario.timing import grace_period

        try:
            scenarios = [s for s in load_field_scenarios(self.path.parent)
                         if s.source == self.path]
        except ScenarioError as exc:
            raise self.CollectError(str(exc)) from None
        for scenario in scenarios:
            short = (scenario.window_s + grace_period(scenario) <= FIELD_CI_S
                     and scenario.schedulers == 1 and not scenario.faults)
            named = self.session.isinitpath(self.path)
            if DEFAULT_DAPR_VERSION in scenario.report.versions and (short or named):
                yield FieldItem.from_parent(self, name=f"{scenario.id}[{DEFAULT_DAPR_VERSION}]",
                                            scenario=scenario)


class FieldMismatch(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text)


class FieldItem(ScenarioItem):
    def runtest(self) -> None:
        from harness.reports.field import observe
        from harness.runner import run_scenario

        result = run_scenario(self.scenario, dapr_runtime())
        self.user_properties.append(("run_dir", str(result.run.root)))
        version = result.summary.dapr.version
        expected = self.scenario.report.expected.get(version, "n/a")
        seen = observe(self.scenario.report, result.summary)
        if seen.outcome != expected:
            raise FieldMismatch(
                f"{self.scenario.name} on Dapr {version}: the report says {expected}, the run "
                f"shows {seen.outcome} ({'; '.join(seen.figures)}{'; ' + seen.why if seen.why else ''})"
                f"; run {result.run.root}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, FieldMismatch):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)
