"""`ReportTable`: one result table held two ways, raw values and display strings.

Analyses that define their own layout (a preset's paper table) build one; the renderers in
engine.render print any of them as a terminal table, Markdown, JSON or CSV.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class ReportTable:
    """One table two ways: raw values (csv/json) and display strings (terminal/markdown)."""

    key: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    display_columns: list[str]
    display_rows: list[list[str]]
    note: str = ""
    right: set[int] = field(default_factory=set)  # display columns to right-align
    display: bool = True  # False: data only (csv/json), too long for the terminal
    source: str = ""  # footer: what the table was computed from (engine.analysis.provenance)


def raw_rows(rows: Sequence[Any]) -> tuple[list[str], list[list[Any]]]:
    """Column names and values of a list of flat dataclass rows (the raw side of a table)."""
    if not rows:
        return [], []
    cols = [f.name for f in fields(rows[0])]
    return cols, [[getattr(r, c) for c in cols] for r in rows]
