"""Zero-shot to few-shot on the same items, per model role."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.analysis.accuracy import compare_entries
from engine.analysis.columns import OutcomeColumns, as_columns
from engine.analysis.rows import ItemOutcome, ReportFilters, sorted_keys
from engine.records import FEW_SHOT_MODE, ZERO_SHOT_MODES


@dataclass(frozen=True)
class GainRow:
    """Zero-shot to few-shot on the same items, per role."""

    pair: str
    dataset: str
    variant: str
    role: str
    model: str
    strategy: str
    metric: str
    zero_setting: str
    few_setting: str
    n: int
    zero_accuracy: float | None
    few_accuracy: float | None
    gain: float | None  # few - zero
    gain_low: float | None
    gain_high: float | None
    p_value: float | None
    test: str


def gain_rows(
    outcomes: Sequence[ItemOutcome] | OutcomeColumns, filters: ReportFilters
) -> list[GainRow]:
    cols = as_columns(outcomes)
    index = cols.key_index()
    rows = []
    for key in sorted_keys(index):
        pair, dataset, variant, setting, role, strategy, metric = key
        if setting.partition("/")[0] != FEW_SHOT_MODE:
            continue
        for zero in ZERO_SHOT_MODES:
            zkey = (pair, dataset, variant, zero, role, strategy, metric)
            c = compare_entries(cols, index, zkey, key, filters)
            if c is None:
                continue
            models = cols.models_of(index[key])
            rows.append(
                GainRow(
                    pair, dataset, variant, role, ", ".join(models), strategy, metric, zero,
                    setting, c.n, c.a_mean, c.b_mean, c.diff.estimate, c.diff.low, c.diff.high,
                    c.test.p_value if c.test else None, c.test.method if c.test else "n/a",
                )
            )
    return rows
