"""How many generated examples each ground-truth property actually judged (after every
``assume``), per anomaly kind; tests/unit/conftest.py prints them at the end of the session."""

from __future__ import annotations

from collections import Counter, defaultdict

__all__ = ["EFFECTIVE", "note", "summary"]

EFFECTIVE: defaultdict[str, Counter[str]] = defaultdict(Counter)


def note(prop: str, kind: str | None) -> None:
    """One example of ``prop`` got past its filters and is about to be asserted on."""
    EFFECTIVE[prop][kind or "clean"] += 1


def summary() -> list[str]:
    lines = []
    for prop, kinds in sorted(EFFECTIVE.items()):
        detail = ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items()))
        lines.append(f"{prop}: {sum(kinds.values())} effective examples ({detail})")
    return lines
