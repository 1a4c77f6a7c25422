"""Run: what happens during a run's window.

``driver`` (Jobs API calls, cron binding components), ``nemesis`` (faults on the timeline),
``app`` (the sample Task API that records every trigger before it answers), ``history`` (the
JSON-lines record apps and harness append to) and ``rundir`` (a run's directory and files).
The orchestration of one run is ``harness.runner``.
"""
