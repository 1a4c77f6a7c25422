"""The independent judge: a reference model of Dapr 1.18.3's delivery (``model``) and a generator
of ground-truth histories from it (``generate``), kept apart from the checker (harness/check/):
nothing here reads the checker's internals, so a property that compares the two compares two
readings of Dapr's source, not one reading with itself."""
