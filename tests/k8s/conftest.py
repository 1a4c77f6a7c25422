"""Tests marked k8s need the harness's engine (`python3 -m harness k8s up`); they run only when
the -m expression names k8s (`pytest -m k8s`), so the default and CI runs never collect them."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "k8s" in (config.option.markexpr or ""):
        return
    chosen = [item for item in items if item.get_closest_marker("k8s") is None]
    if len(chosen) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in chosen])
        items[:] = chosen
