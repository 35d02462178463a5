"""The report of recorded runs: accuracy, base vs instruct, perturbation drops, few-shot gains, the
convergence analysis, grader agreement and token distribution shift, in one `Report`.

Why it is built this way: every analysis starts from one item outcome per (item, model, setting,
decoding metric) (engine.analysis.rows), held as arrays (engine.analysis.columns: DuckDB
de-duplicates and collapses greedy answers, numpy groups and pairs; a million answers in well
under a second), each analysis has a module of its own, and `build_report` returns plain
dataclasses, so the app's Report screen and the CLI share them.
Turning a report into tables, text, CSV, JSON, Markdown or plots is engine.render's job.

Choices worth knowing when reading a report:
- Answers are de-duplicated (the newest answer to a question and setting counts); cancelled
  answers are left out. Filter with `--run` to compare specific runs.
- Intervals: Wilson for 0/1 outcomes; percentile bootstrap over items for fractional outcomes,
  differences and relative drops. McNemar (exact up to 25 discordant pairs) for paired 0/1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.analysis.accuracy import AccuracyRow, PairedRow, accuracy_rows, paired_rows
from engine.analysis.agreement import AgreementRow, Disagreement, grader_agreement
from engine.analysis.columns import LazyOutcomes, load_columns
from engine.analysis.convergence import Convergence, convergence
from engine.analysis.dataset_drops import (
    LINKS,
    DatasetDropRow,
    LinkedDropRow,
    cross_dataset_drops,
)
from engine.analysis.drops import DropRow, drop_rows
from engine.analysis.gains import GainRow, gain_rows
from engine.analysis.provenance import Sources, report_sources
from engine.analysis.rows import ItemOutcome, ReportFilters, RunInfo, load_runs
from engine.analysis.shift import ShiftReport, shift_report

if TYPE_CHECKING:
    from engine.store.store import Store


@dataclass
class Report:
    """Everything `tunelens report` shows; the app's Report screen renders the same object."""

    filters: ReportFilters
    runs: list[RunInfo]
    accuracy: list[AccuracyRow]
    paired: list[PairedRow]
    drops: list[DropRow]
    gains: list[GainRow]
    convergence: list[Convergence]
    agreement: list[AgreementRow]
    disagreements: list[Disagreement]
    shift: ShiftReport | None
    # built on first use (engine.analysis.columns.LazyOutcomes): the csv/json per-item table
    outcomes: Sequence[ItemOutcome] = field(repr=False, default_factory=list)
    notes: list[str] = field(default_factory=list)
    dataset_drops: list[DatasetDropRow] = field(default_factory=list)  # MATH-500 -> MATH-P-Hard
    linked_drops: list[LinkedDropRow] = field(default_factory=list)  # P-Simple->Hard, GSM8K->P2
    sources: Sources = field(default_factory=Sources)  # what each table was computed from

    @property
    def empty(self) -> bool:
        return not self.accuracy


def build_report(store: Store, filters: ReportFilters | None = None) -> Report:
    """Read the selected answers and compute every analysis that applies to them (blocking: a
    front with an event loop calls it from a worker thread)."""
    filters = filters or ReportFilters()
    runs = load_runs(store, filters)
    columns, answers, duplicates = load_columns(store, filters)
    notes: list[str] = []
    if duplicates:
        notes.append(
            f"{duplicates} older answers to the same question and settings were left out "
            "(newest kept); use --run to pick runs"
        )
    if filters.grader:
        notes.append(f"verdicts of grader '{filters.grader}' (from the grades table)")
    agreement, disagreements = grader_agreement(store, filters)
    report = Report(
        filters=filters,
        runs=runs,
        accuracy=accuracy_rows(columns, filters),
        paired=paired_rows(columns, filters),
        drops=drop_rows(columns, filters),
        gains=gain_rows(columns, filters),
        convergence=convergence(columns),
        agreement=agreement,
        disagreements=disagreements,
        shift=shift_report(store, filters),
        outcomes=LazyOutcomes(columns),
        notes=notes,
    )
    # the cross-dataset tables read ItemOutcome objects: only those of linked benchmarks present
    present = {k[1] for k in columns.keys}
    linked = {d for x in LINKS if x.source in present and x.target in present
              for d in (x.source, x.target)}
    subset = columns.outcomes_of(linked) if linked else []
    report.dataset_drops, report.linked_drops = cross_dataset_drops(store, subset, filters)
    report.sources = report_sources(store, filters, report.shift is not None,
                                    [(r.grader_a, r.grader_b) for r in agreement])
    if not answers:
        report.notes.append("no recorded answers match the filters")
    return report
