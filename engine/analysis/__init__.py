"""Analyses of recorded runs: the report (accuracy, base vs instruct, drops, gains, convergence,
grader agreement, token shift), regrading, and the presets' paper tables. No model, no front end.
"""

from engine.analysis.presets import PresetTable, preset_table
from engine.analysis.regrade import RegradeResult, regrade
from engine.analysis.report import Report, build_report
from engine.analysis.rows import (
    Answer,
    ItemOutcome,
    ReportFilters,
    describe_filters,
    item_outcomes,
    load_answers,
)
from engine.analysis.shift import ShiftReport, TokenShift, shift_for_generation, shift_report
from engine.analysis.table import ReportTable

__all__ = [
    "Answer",
    "ItemOutcome",
    "PresetTable",
    "RegradeResult",
    "Report",
    "ReportFilters",
    "ReportTable",
    "ShiftReport",
    "TokenShift",
    "build_report",
    "describe_filters",
    "item_outcomes",
    "load_answers",
    "preset_table",
    "regrade",
    "shift_for_generation",
    "shift_report",
]
