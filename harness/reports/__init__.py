"""Reports: renderers of typed run summaries (``harness.summary``) into Markdown and plots.

``comparison`` (the comparison table, the README headline), ``claims``, ``faults``,
``bench``, ``adr`` (the decision record), ``compare`` (two runs side by side), ``failure``
(what a failing scenario prints), ``timeline`` (a run's timeline as data, judged again from its
stored history), ``plots`` (timelines and lateness as PNG), ``svg`` (a timeline as inline SVG)
and ``page`` (``results/index.html``: every report and timeline on one self-contained page).
They read summaries and stored histories only; they never run anything.
"""
