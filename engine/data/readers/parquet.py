"""Parquet files (the Hub's own format), read with pyarrow when it is installed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.data.readers.messages import one_line
from engine.errors import DatasetError


def read_parquet(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    name = path.name
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DatasetError(f"{name}: reading Parquet needs pyarrow (pip install pyarrow)") from None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for broken files
        raise DatasetError(f"{name}: not a readable Parquet file ({one_line(exc)})") from None
    for index, row in enumerate(table.to_pylist()):
        yield f"{name}:row {index}", row
