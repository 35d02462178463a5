"""The embedded default dataset: easy word-problem templates written for tunelens (offline)."""
