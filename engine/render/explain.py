"""`tunelens report --explain`: for every table and figure of a report, the SQL query that yields
the rows it was computed from, with their count, as text a user can paste into `tunelens query`.

Why here: the figures are defined in engine.render.plots; their sources, like the tables', come
from engine.analysis.provenance (the figure's scope narrowed to its pair, dataset and decoding).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.analysis.provenance import Source, source_of
from engine.analysis.report import Report
from engine.render.tables import report_tables

if TYPE_CHECKING:
    from engine.store.store import Store


@dataclass(frozen=True)
class Explained:
    kind: str  # table or figure
    name: str  # the table key, or the figure's file stem
    title: str
    source: Source


def explain_sources(store: Store, report: Report) -> list[Explained]:
    """Every table (in report order), then every figure that `--plot-dir` would write."""
    from engine.render.plots import build_figures, close_figures

    out = []
    for t in report_tables(report):
        source = report.sources.get(t.key)
        if source is not None:
            out.append(Explained("table", t.key, t.title, source))
    figures = build_figures(report)
    try:
        for f in figures:
            src = source_of(store, report.filters, f.stem, f.title, f.scope, f.restrict)
            out.append(Explained("figure", f.stem, f.title, src))
    finally:
        close_figures(figures)
    return out


def explain_text(store: Store, report: Report) -> str:
    """One block per table and figure: a `--` comment line (what, n rows), the query and `;`."""
    blocks = []
    for e in explain_sources(store, report):
        s = e.source
        head = f"-- {e.kind} {e.name} ({e.title}): {s.n} {s.unit}"
        blocks.append(f"{head}\n-- {s.footer()}\n{s.sql.strip()};\n")
    return "\n".join(blocks)
