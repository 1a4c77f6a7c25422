"""Records for hand-built histories and scenario documents, shared by the unit tests."""

from __future__ import annotations

from typing import Any

import yaml

from harness.record.history import Event, History, Trigger

T0 = 1_764_000_000.0  # 2025-11-24T16:00:00Z, on a whole minute (so on an even second)


def ev(event: str, wall: float, **attrs: Any) -> Event:
    return Event(event=event, wall=wall, mono=wall - T0 + 50.0, attrs=attrs)


def trig(mechanism: str, name: str, replica: int, wall: float, outcome: str = "ok",
         status: int | None = None) -> Trigger:
    """A trigger; a failed one is answered 500 unless ``status`` says otherwise."""
    if status is None:
        status = 500 if outcome == "failed" else 200
    return Trigger(mechanism=mechanism, name=name, replica=replica, pid=4000 + replica,  # type: ignore[arg-type]
                   wall=wall, mono=wall - T0 + 50.0, outcome=outcome, status=status)  # type: ignore[arg-type]


def history(*records: Trigger | Event) -> History:
    return History(triggers=tuple(r for r in records if isinstance(r, Trigger)),
                   events=tuple(r for r in records if isinstance(r, Event)))


class _PlainDumper(yaml.SafeDumper):
    """safe_dump, except that a value used twice is written out twice: scenario files refuse
    YAML anchors and aliases, which safe_dump emits for a repeated object."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def plain_yaml(doc: Any) -> str:
    return yaml.dump(doc, Dumper=_PlainDumper, allow_unicode=True, sort_keys=False)
