"""Readers: one per file format, plus the Hugging Face Hub; each yields (location, row) pairs."""

from engine.data.readers.files import read_rows, require_columns
from engine.data.readers.hub import hub_rows

__all__ = ["hub_rows", "read_rows", "require_columns"]
