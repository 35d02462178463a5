"""A report printed: rich text for the terminal, Markdown, JSON and CSV (one text or a directory
of files), all from the same `ReportTable`s."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.analysis.report import Report
from engine.analysis.rows import describe_filters
from engine.analysis.table import ReportTable
from engine.render.tables import report_tables, rich_tables

if TYPE_CHECKING:
    from rich.console import Console


def print_report(report: Report, console: Console) -> None:
    console.print(f"[bold]tunelens report[/] ({describe_filters(report.filters)})")
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}")
    for renderable in rich_tables(report_tables(report)):
        console.print(renderable)
        console.print()


def tables_markdown(tables: Sequence[ReportTable], heading: str, notes: Sequence[str] = ()) -> str:
    lines = [f"# {heading}", ""]
    lines += [f"- note: {n}" for n in notes]
    if notes:
        lines.append("")
    for t in tables:
        if not t.display:
            continue
        lines += [f"## {t.title}", ""]
        if not t.display_rows:
            lines += [f"_{t.note or 'nothing to show'}_", ""]
            continue
        esc = [[c.replace("|", "\\|") for c in row] for row in t.display_rows]
        lines.append("| " + " | ".join(t.display_columns) + " |")
        lines.append(
            "|" + "|".join("---:" if i in t.right else "---" for i in range(len(t.display_columns)))
            + "|"
        )
        lines += ["| " + " | ".join(row) + " |" for row in esc]
        if t.note:
            lines += ["", f"_{t.note}_"]
        if t.source:
            lines += ["", f"_{t.source}_"]
        lines.append("")
    return "\n".join(lines)


def tables_json(tables: Sequence[ReportTable], extra: dict[str, Any] | None = None) -> str:
    doc: dict[str, Any] = dict(extra or {})
    doc["tables"] = {
        t.key: [dict(zip(t.columns, row, strict=True)) for row in t.rows] for t in tables
    }
    return json.dumps(doc, indent=2, default=_json_default)


def _json_default(value: Any) -> Any:
    return str(value)


def _csv_rows(rows: Sequence[Sequence[Any]]) -> Iterable[list[Any]]:
    """Lists (a run's modes) as JSON, not Python reprs."""
    for row in rows:
        yield [json.dumps(v) if isinstance(v, list | dict) else v for v in row]


def tables_csv(tables: Sequence[ReportTable]) -> str:
    """All tables in one text: a '# key' line, the header and the rows, a blank line between."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for t in tables:
        if not t.rows:
            continue
        buf.write(f"# {t.key}\n")
        w.writerow(t.columns)
        w.writerows(_csv_rows(t.rows))
        buf.write("\n")
    return buf.getvalue()


def write_csv_dir(tables: Sequence[ReportTable], directory: Path) -> list[Path]:
    """One CSV file per non-empty table (accuracy.csv, paired.csv, ...)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for t in tables:
        if not t.rows:
            continue
        path = directory / f"{t.key}.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(t.columns)
            w.writerows(_csv_rows(t.rows))
        paths.append(path)
    return paths


def to_markdown(report: Report) -> str:
    heading = f"tunelens report ({describe_filters(report.filters)})"
    return tables_markdown(report_tables(report), heading, report.notes)


def to_json(report: Report) -> str:
    sources = {
        key: {k: v for k, v in asdict(s).items() if k != "key"}
        for key, s in report.sources.tables.items()
    }
    return tables_json(
        report_tables(report),
        {"filters": asdict(report.filters), "notes": report.notes, "sources": sources},
    )


def to_csv(report: Report) -> str:
    return tables_csv(report_tables(report))


RENDERERS: dict[str, Callable[[Report], str]] = {
    "csv": to_csv,
    "json": to_json,
    "markdown": to_markdown,
}
