"""Which side limits a benchmark figure (harness/bench/cpu.py limiting_side)."""

from __future__ import annotations

from harness.bench.cpu import limiting_side


def test_a_busy_machine_is_the_limit_and_other_work_is_named() -> None:
    side = limiting_side({"daprd": 60.0, "loadgen": 40.0, "machine_busy_pct": 95.0}, cores=2)
    assert side.startswith("machine CPU (95% of 2 cores")
    assert "other work 45%" in side and "busiest daprd 60%" in side


def test_otherwise_the_busiest_process_kind() -> None:
    assert limiting_side({"daprd": 80.0, "app": 120.0, "machine_busy_pct": 70.0}, cores=2) == \
        "app (120% of a core)"


def test_nothing_busy_means_latency_bound() -> None:
    assert limiting_side({"daprd": 3.0, "machine_busy_pct": 5.0}, cores=2).startswith("none")


def test_a_figure_that_reached_the_offered_rate_is_not_a_ceiling() -> None:
    cpu = {"daprd": 80.0, "machine_busy_pct": 99.0}
    assert limiting_side(cpu, 2, offered=1000.0, achieved=990.0).startswith("the offered rate (1000/s")
    assert limiting_side(cpu, 2, offered=1000.0, achieved=900.0).startswith("machine CPU")
