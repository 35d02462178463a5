"""`tunelens reproduce` studies written down as runs: which configurations, items and exemplars
each one needs (the front runs them with the ordinary runner; engine.analysis.studies tabulates)."""
