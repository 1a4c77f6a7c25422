"""Reports: renderers of typed run summaries (``harness.summary``) into Markdown and plots.

``comparison`` (the comparison table, timelines, the README headline), ``claims``, ``faults``,
``bench``, ``adr`` (the decision record), ``compare`` (two runs side by side) and ``failure``
(what a failing scenario prints). They read summaries only; they never run anything.
"""
