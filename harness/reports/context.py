"""What every table of figures states about the runs behind it: Dapr version, the replicas that
actually ran, schedule, window and harness commit.

``context_table`` keeps a context item as a column where the rows differ and states it once in
a caption line above the table where they agree, so a table is never read without it. The
caption starts with ``CAPTION`` (the tests find it there). Ambiguous counts are shown as
``low-high`` everywhere by ``count_cell``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from harness.check import Bound, MechanismResult
from harness.summary import FaultRecord, RunSummary

__all__ = ["CAPTION", "CONTEXT", "Context", "commit_cell", "context_of", "context_table", "count_cell",
           "fault_text", "faults_cell", "markdown_table", "replicas_cell", "schedules_cell", "unique"]

CONTEXT = ("Dapr", "replicas", "schedule", "window", "commit")
CAPTION = "Context (same for every row):"
SCHEDULES_SHOWN = 4


def unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def count_cell(value: Bound | int) -> str:
    """A count: ``low-high`` where the two readings of the record differ."""
    return str(value)


def commit_cell(summary: RunSummary) -> str:
    source = summary.provenance
    return f"{source.commit or '?'}{' (dirty)' if source.dirty else ''}"


def replicas_cell(summary: RunSummary) -> str:
    """The replicas that ran: a second app's replicas named, scale-out and scale-in shown."""
    grpc = max((e.replicas for e in summary.mechanisms if e.mechanism == "job-sdk"), default=0)
    http_entries = [e for e in summary.mechanisms if e.mechanism != "job-sdk"]
    http = summary.replicas if http_entries or not grpc else 0
    changed = sum(1 for f in summary.faults if f.kind == "scale_out") - sum(
        1 for f in summary.faults if f.kind == "scale_in")
    text = f"{http}→{http + changed}" if changed else str(http)
    if grpc:
        text = f"{text} HTTP + {grpc} gRPC" if http else f"{grpc} gRPC"
    return text


def schedules_cell(entries: Sequence[MechanismResult]) -> str:
    """``job @every 2s; binding */2 * * * * *`` (each schedule once, its mechanisms before it)."""
    by_schedule: dict[str, list[str]] = {}
    for entry in entries:
        names = by_schedule.setdefault(entry.schedule, [])
        if entry.mechanism not in names:
            names.append(entry.mechanism)
    if len(by_schedule) == 1:
        return f"`{next(iter(by_schedule))}`"
    shown = list(by_schedule.items())[:SCHEDULES_SHOWN]
    more = len(by_schedule) - len(shown)
    return "; ".join(f"{', '.join(names[:3])}{' ...' if len(names) > 3 else ''} `{schedule}`"
                     for schedule, names in shown) + (f"; {more} more in the scenario file"
                                                      if more else "")


def window_cell(summary: RunSummary) -> str:
    return f"{summary.window_s:g} s"


@dataclass(frozen=True)
class Context:
    dapr: str
    replicas: str
    schedule: str
    window: str
    commit: str

    def values(self) -> tuple[str, ...]:
        return self.dapr, self.replicas, self.schedule, self.window, self.commit

    @classmethod
    def joined(cls, contexts: Sequence[Context]) -> Context:
        """Several runs' contexts in one (each differing value once, ``/`` between)."""
        return cls(*(" / ".join(unique(c.values()[i] for c in contexts)) or "?"
                     for i in range(len(CONTEXT))))


def context_of(summary: RunSummary, entries: Sequence[MechanismResult] | None = None) -> Context:
    """The context of a run, or of some of its mechanism entries (their schedules only)."""
    chosen = summary.mechanisms if entries is None else entries
    return Context(summary.dapr.version, replicas_cell(summary), schedules_cell(chosen) or "-",
                   window_cell(summary), commit_cell(summary))


def context_table(headers: Sequence[str], rows: Sequence[Sequence[object]],
                  contexts: Sequence[Context], *, after: int = 1) -> str:
    """A GitHub table of ``rows`` with the context columns that differ between rows inserted
    after column ``after``; the ones every row shares go in a caption line above it."""
    if len(rows) != len(contexts):
        raise ValueError(f"{len(rows)} rows but {len(contexts)} contexts")
    varying = [i for i in range(len(CONTEXT)) if len({c.values()[i] for c in contexts}) > 1]
    shared = [i for i in range(len(CONTEXT)) if i not in varying]
    cells = [[*row[:after], *(ctx.values()[i] for i in varying), *row[after:]]
             for row, ctx in zip(rows, contexts)]
    names = [*headers[:after], *(CONTEXT[i] for i in varying), *headers[after:]]
    table = markdown_table(names, cells)
    if not contexts:
        return table
    first = contexts[0].values()
    caption = f"{CAPTION} " + " · ".join(f"{CONTEXT[i]} {first[i]}" for i in shared)
    return f"{caption}\n\n{table}" if shared else table


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub table without padding (wide cells stay readable in the file); pipes in cells
    are escaped by the callers that put free text in them."""
    lines = ["| " + " | ".join(str(h) for h in headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fault_text(fault: FaultRecord) -> str:
    """A fault as asked and as carried out: ``kill_daprd r1 @8s: asked 4 s, held 4.58 s``."""
    where = ("" if fault.replica is None else f" r{fault.replica}") + (
        "" if fault.member is None else f" member {fault.member}")
    start = f"{fault.start_s:g}" if fault.asked_at_s is None else f"{fault.asked_at_s:g}"
    if fault.asked_known and fault.asked_duration_s is None:
        asked = "asked: undone at once"
    elif fault.asked_duration_s is not None:
        asked = f"asked {fault.asked_duration_s:g} s"
    else:
        asked = "asked ?"
    return f"{fault.kind}{where} @{start}s: {asked}, held {fault.duration_s:.2f} s"


def faults_cell(summary: RunSummary) -> str:
    return ", ".join(fault_text(f) for f in summary.faults) or "-"
