"""Dapr components a run renders from the templates in components/ into its resources dir.

The run's Redis (harness/cluster/redis.py) backs two: ``state.redis`` with
``actorStateStore: true`` (actor reminders and workflows need an actor state store; the
binding-claim handler saves its first-write keys there) and ``lock.redis`` (the binding-lock
handler's distributed lock; built into daprd only with the ``allcomponents`` tag).
"""

from __future__ import annotations

from pathlib import Path

from harness.paths import COMPONENTS_DIR
from harness.scenario.mechanisms import LOCK_STORE, STATE_STORE

__all__ = ["LOCK_TEMPLATE", "STATE_TEMPLATE", "install_redis_components", "render_component"]

STATE_TEMPLATE = "redis-state.yaml"
LOCK_TEMPLATE = "redis-lock.yaml"


def render_component(template: str, **values: str) -> str:
    return (COMPONENTS_DIR / template).read_text().format(**values)


def install_redis_components(resources: Path, redis_address: str) -> list[Path]:
    """Write the state store and the lock store for a Redis at ``host:port``."""
    resources.mkdir(parents=True, exist_ok=True)
    written = []
    for template, name in ((STATE_TEMPLATE, STATE_STORE), (LOCK_TEMPLATE, LOCK_STORE)):
        path = resources / f"{name}.yaml"
        path.write_text(render_component(template, name=name, address=redis_address))
        written.append(path)
    return written
