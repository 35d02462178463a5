"""A local data file, read by the reader its suffix names; the first row's columns checked."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from engine.data.readers.delimited import read_delimited
from engine.data.readers.jsonl import read_json, read_jsonl
from engine.data.readers.parquet import read_parquet
from engine.data.readers.text import not_utf8
from engine.errors import DatasetError

Reader = Callable[[Path], Iterator[tuple[str, dict[str, Any]]]]

READERS: dict[str, Reader] = {
    ".jsonl": read_jsonl, ".ndjson": read_jsonl,
    ".json": read_json,
    ".csv": read_delimited, ".tsv": read_delimited,
    ".parquet": read_parquet, ".pq": read_parquet,
}


def read_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (location, row) from a JSONL/JSON/CSV/Parquet file; location is 'file:line'."""
    if not path.exists():
        raise DatasetError(f"{path}: no such file")
    if path.is_dir():
        raise DatasetError(f"{path}: is a directory; pass the data file itself")
    suffix = path.suffix.lower()
    reader = READERS.get(suffix)
    if reader is None:
        raise DatasetError(
            f"{path.name}: unsupported file type {suffix or '(none)'!r}; "
            "expected .jsonl, .json, .csv, .tsv or .parquet"
        )
    try:
        yield from reader(path)
    except UnicodeDecodeError:
        raise DatasetError(not_utf8(path)) from None


def require_columns(source: str, row: Mapping[str, Any], columns: Iterable[str],
                    hint: str = "") -> None:
    """A one-line error naming the first missing column and the columns the row has."""
    for column in columns:
        if column not in row:
            found = ", ".join(repr(k) for k in list(row)[:12])
            extra = f"; {hint}" if hint else ""
            raise DatasetError(f"{source}: no column {column!r} (found: {found}){extra}")
