"""Readers: one per file format, plus the Hugging Face Hub; each yields (location, row) pairs."""

from engine.data.readers.files import read_rows, require_columns
from engine.data.readers.hub import hub_rows
from engine.data.readers.text import not_utf8, not_utf8_line

__all__ = ["hub_rows", "not_utf8", "not_utf8_line", "read_rows", "require_columns"]
