"""Record: what a run leaves behind, in the order it is written.

``history`` (the JSON-lines record of every trigger an app received and every event the harness
caused, and its typed events) and ``rundir`` (a run's directory and its files). May import
``scenario`` only.
"""
