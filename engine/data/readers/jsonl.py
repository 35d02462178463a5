"""JSON Lines (one object per line) and JSON (an array of objects, or an object holding one)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.errors import DatasetError


def read_jsonl(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    name = path.name
    with path.open(encoding="utf-8-sig") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{name}:{lineno}: invalid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise DatasetError(f"{name}:{lineno}: expected a JSON object per line")
            yield f"{name}:{lineno}", row


def read_json(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    name = path.name
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{name}:{exc.lineno}: invalid JSON ({exc.msg})") from None
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        data = lists[0] if len(lists) == 1 else None
    if not isinstance(data, list):
        raise DatasetError(f"{name}: expected a JSON array of objects")
    for index, row in enumerate(data):
        if not isinstance(row, dict):
            raise DatasetError(f"{name}: element {index} is not a JSON object")
        yield f"{name}[{index}]", row
