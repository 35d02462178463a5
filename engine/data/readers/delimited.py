"""CSV and TSV files with a header row (MedCalc-Bench's files are CSV with very long cells)."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def read_delimited(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        for row in reader:
            # line_num is the physical line of the row's end; good enough for CSV.
            yield f"{path.name}:{reader.line_num}", dict(row)
