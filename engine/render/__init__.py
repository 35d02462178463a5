"""A report made readable: tables, terminal text, Markdown, JSON, CSV and plots. Reads
engine.analysis results; computes nothing of its own.
"""

from engine.render.formats import (
    RENDERERS,
    print_report,
    tables_csv,
    tables_json,
    tables_markdown,
    to_csv,
    to_json,
    to_markdown,
    write_csv_dir,
)
from engine.render.outputs import check_output_dir, check_output_file
from engine.render.plots import TerminalPlot, draw_plotext, terminal_plots, write_plots
from engine.render.tables import report_tables, rich_tables, shift_tables

__all__ = [
    "RENDERERS",
    "TerminalPlot",
    "check_output_dir",
    "check_output_file",
    "draw_plotext",
    "print_report",
    "report_tables",
    "rich_tables",
    "shift_tables",
    "tables_csv",
    "tables_json",
    "tables_markdown",
    "terminal_plots",
    "to_csv",
    "to_json",
    "to_markdown",
    "write_csv_dir",
    "write_plots",
]
