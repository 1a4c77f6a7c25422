"""Drive: what happens on a run's timeline, against a running cluster.

``driver`` (the Jobs API calls and the cron binding components), ``tasks`` (the other
mechanisms started on the timeline), ``nemesis`` (faults begun and ended on the timeline) and
``replay`` (a finished run repeated by hand with the real CLI). May import ``scenario``,
``record``, ``cluster`` and ``apps``.
"""
