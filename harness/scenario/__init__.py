"""Scenario: what to run, as pure data validated up front.

``model`` holds the schema (jobs, bindings, app handlers, faults, probes, expectations, claims)
and the loader whose every error is one line naming the file, the field and what is allowed;
``schedule`` parses Dapr's schedule languages and computes tick times; ``faults`` is the fault
catalog every other role reads.
"""
