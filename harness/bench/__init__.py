"""Bench: benchmarks on real Dapr that print figures (speed is never asserted in tests).

``runner`` runs each benchmark and writes ``results/bench.json``; ``loadgen`` drives load;
``harness.reports.bench`` renders ``results/bench.md``.
"""
