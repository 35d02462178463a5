"""Original vs perturbed items: the relative accuracy drop, each variant paired with its own
original (percentile bootstrap over original items)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

import engine.analysis.stats as stats
from engine.analysis.accuracy import mean
from engine.analysis.columns import OutcomeColumns, as_columns
from engine.analysis.rows import ItemOutcome, ReportFilters, sorted_keys
from engine.records import ORIGINAL

FEW_ITEMS = 10  # below this a percentile bootstrap interval is too narrow to trust


@dataclass(frozen=True)
class DropRow:
    """Original vs perturbed items (each variant paired with its own original)."""

    pair: str
    dataset: str
    perturbation: str
    setting: str
    role: str
    model: str
    strategy: str
    metric: str
    n: int
    original_accuracy: float | None
    perturbed_accuracy: float | None
    relative_drop: float | None  # (orig - pert) / orig
    drop_low: float | None
    drop_high: float | None
    note: str = ""


def drop_rows(
    outcomes: Sequence[ItemOutcome] | OutcomeColumns, filters: ReportFilters
) -> list[DropRow]:
    """Each perturbed item paired with its original, variants in item id order."""
    cols = as_columns(outcomes)
    index = cols.key_index()
    rows = []
    for key in sorted_keys(index):
        pair, dataset, variant, setting, role, strategy, metric = key
        if variant == ORIGINAL:
            continue
        okey = (pair, dataset, ORIGINAL, setting, role, strategy, metric)
        if okey not in index:
            continue
        orig_items, orig_values, _ = cols.entry(index[okey])
        _, values, pos = cols.entry(index[key])
        wanted = cols.original[pos]
        at = np.minimum(np.searchsorted(orig_items, wanted), len(orig_items) - 1)
        found = (wanted >= 0) & (orig_items[at] == wanted)
        if not found.any():
            continue
        xs, ys = orig_values[at[found]], values[found]
        n = len(xs)
        drop = stats.relative_drop_ci(xs, ys, resamples=filters.resamples, seed=filters.seed)
        note = ""
        if drop.estimate is None:
            note = "original accuracy 0"
        elif drop.low is None:
            note = f"interval undefined: original accuracy 0 in {drop.undefined} resamples"
        elif n < FEW_ITEMS:
            note = f"only {n} items: the interval is optimistic"
        models = cols.models_of(index[key])
        rows.append(
            DropRow(
                pair, dataset, variant, setting, role, ", ".join(models), strategy, metric,
                n, mean(xs), mean(ys), drop.estimate, drop.low, drop.high, note,
            )
        )
    return rows
