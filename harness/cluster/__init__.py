"""Cluster: the real processes a run needs, started and stopped. May import ``scenario`` and
``record``.

``process`` (one process group each, tagged with the run), ``watchdog`` and ``reaper`` (a run
dies with its runner; what a dead run left is ended), ``ports`` (reserved until exec),
``services`` (placement, scheduler members), ``replicas`` (an app and its daprd, started from
small frozen options under a launcher), ``controlplane`` (the cluster: start, kill, pause,
restart, scale), ``redis`` and ``components`` (the run's Redis and the stores it backs), and
``runtime``/``build``/``gomod``/``versions``/``flags``/``bootstrap`` (locating or building Dapr
and the CLI, fitting flags to each version, installing the dependencies).
"""
