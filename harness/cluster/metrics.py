"""Prometheus metrics of daprd and the scheduler, to cross-check the app's own record."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["metric_total", "scrape"]


def scrape(port: int, timeout_s: float = 2.0) -> dict[str, float]:
    """Every sample of the endpoint, summed over labels, keyed by sample name."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=timeout_s).text
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


def metric_total(samples: dict[str, float], name: str) -> float:
    """A metric's value, whether exposed as ``name`` or ``name_total`` (counters)."""
    return samples.get(name, samples.get(f"{name}_total", 0.0))
