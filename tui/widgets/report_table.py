"""A report table as the Report screen lays it out: title, grid and notes, fitted to 80 columns.

The numbers and labels are the engine's (`engine.analysis.report.ReportTable`); this only
decides which columns show where.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.widget import Widget
from textual.widgets import DataTable, Static

if TYPE_CHECKING:
    from engine.analysis import ReportTable


def section_title(title: str, id: str | None = None) -> Static:
    """A section's heading in the report page (n / p jump between them)."""
    return Static(Text(title), classes="report-title", id=id)


LAST_COLUMNS = ("model", "note")  # long texts: after the numbers, so those fit in 80 columns


@dataclass(frozen=True)
class CompactTable:
    """How a report table is laid out on the screen (its content is the engine's)."""

    columns: list[int]  # display columns shown in the grid, in this order
    same: list[tuple[str, str]]  # (column, value) of label columns equal in every row
    notes: list[str]  # a note column's text when every row has the same one


def compact_columns(table: ReportTable) -> CompactTable:
    """Presentation only, for narrow terminals.

    A label column with one value throughout (one dataset, one decoding) is said once above
    the table instead of on every row; a note shared by every row (a single-row table's, too)
    goes below it, where it can wrap; long model names and per-row notes go after the numbers.
    Numeric (right-aligned) columns always stay.
    """
    cols, rows = table.display_columns, table.display_rows
    keep: list[int] = []
    same: list[tuple[str, str]] = []
    notes: list[str] = []
    for i, col in enumerate(cols):
        values = {row[i] for row in rows}
        if col == "note" and len(values) == 1:
            notes += [v for v in values if v]
        elif len(rows) > 1 and len(values) == 1 and i not in table.right:
            same.append((col, next(iter(values))))
        else:
            keep.append(i)
    keep.sort(key=lambda i: cols[i] in LAST_COLUMNS)
    return CompactTable(keep, same, notes)


def report_section(table: ReportTable) -> list[Widget]:
    """A title, the table (or why it is empty), and its notes."""
    widgets: list[Widget] = [section_title(table.title)]
    notes = [table.note] if table.note else []
    if table.display_rows:
        layout = compact_columns(table)
        if layout.same:
            widgets.append(Static(Text(" · ".join(f"{c} {v}" for c, v in layout.same)),
                                  classes="report-note"))
        grid: DataTable[Any] = DataTable(cursor_type="none", zebra_stripes=True,
                                         classes="report-table", id=f"table-{table.key}")
        for i in layout.columns:
            grid.add_column(Text(table.display_columns[i],
                                 justify="right" if i in table.right else "left"))
        for row in table.display_rows:
            grid.add_row(*[Text(row[i], justify="right" if i in table.right else "left")
                           for i in layout.columns])
        widgets.append(grid)
        if layout.notes:
            widgets.append(Static(Text("note: " + "; ".join(layout.notes)),
                                  classes="report-notes"))
    elif not notes:
        notes = ["nothing to show"]
    if notes:
        widgets.append(Static(Text(" ".join(notes)), classes="report-note"))
    if table.source and table.display_rows:
        widgets.append(Static(Text(table.source, style="dim"), classes="report-note"))
    return widgets
