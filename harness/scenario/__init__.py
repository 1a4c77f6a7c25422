"""Scenario: what to run, as pure data validated up front. Imports nothing of the harness but
``paths`` and ``errors``.

``model`` (the schema: jobs, bindings, tasks, app handlers, faults, probes, expectations,
claims), ``loading`` (YAML read with hostile-file guards; every error one line naming the file,
the field, the value and what is allowed), ``rules`` (checks across fields), ``schedule``
(Dapr's schedule languages and tick times), ``mechanisms`` and ``faults`` (the two catalogs
every other role reads), ``timing`` (grace period and retry policy, from the scenario alone).
"""
