"""Cluster: the real processes a run needs, started and stopped.

``process`` (one process group each, tagged with the run), ``ports`` (reserved until exec),
``controlplane`` (placement, the scheduler members and the app replicas with their daprd
sidecars: start, kill, pause, restart, scale), ``reaper`` (ends what a dead run left), and
``runtime``/``build``/``versions``/``bootstrap`` (locating or building Dapr and installing the
Python dependencies).
"""
