"""Writing a command's result: text to a file or stdout, report tables in the chosen format."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.analysis import ReportTable


def emit(text: str, out: str | None) -> None:
    """Write `text` to `out` (and say so on stderr), or to stdout when no path is given."""
    if out:
        Path(out).write_text(text, encoding="utf-8")
        print(f"wrote {out}", file=sys.stderr)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def emit_tables(
    tables: Sequence[ReportTable],
    fmt: str,
    *,
    heading: str,
    extra: dict[str, Any] | None = None,
) -> None:
    """Print report tables: rich tables on the terminal, or csv/json/markdown text on stdout.

    `heading` titles the markdown document; `extra` adds top-level keys to the json one.
    """
    from engine.render import rich_tables, tables_csv, tables_json, tables_markdown

    if fmt == "table":
        from rich.console import Console

        console = Console()
        for renderable in rich_tables(tables):
            console.print(renderable)
        return
    render = {
        "csv": lambda: tables_csv(tables),
        "json": lambda: tables_json(tables, extra),
        "markdown": lambda: tables_markdown(tables, heading),
    }[fmt]
    emit(render(), None)
