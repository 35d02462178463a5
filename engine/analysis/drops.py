"""Original vs perturbed items: the relative accuracy drop, each variant paired with its own
original (percentile bootstrap over original items)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import engine.analysis.stats as stats
from engine.analysis.accuracy import mean
from engine.analysis.rows import ItemOutcome, ReportFilters, index_outcomes, sorted_keys
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


def drop_rows(outcomes: Sequence[ItemOutcome], filters: ReportFilters) -> list[DropRow]:
    index = index_outcomes(outcomes)
    rows = []
    for key in sorted_keys(index):
        pair, dataset, variant, setting, role, strategy, metric = key
        if variant == ORIGINAL:
            continue
        okey = (pair, dataset, ORIGINAL, setting, role, strategy, metric)
        if okey not in index:
            continue
        originals = index[okey]
        pairs = [
            (originals[v.original_id].value, v.value)
            for v in index[key].values()
            if v.original_id in originals
        ]
        if not pairs:
            continue
        xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
        drop = stats.relative_drop_ci(xs, ys, resamples=filters.resamples, seed=filters.seed)
        note = ""
        if drop.estimate is None:
            note = "original accuracy 0"
        elif drop.low is None:
            note = f"interval undefined: original accuracy 0 in {drop.undefined} resamples"
        elif len(pairs) < FEW_ITEMS:
            note = f"only {len(pairs)} items: the interval is optimistic"
        models = sorted({v.model_name for v in index[key].values()})
        rows.append(
            DropRow(
                pair, dataset, variant, setting, role, ", ".join(models), strategy, metric,
                len(pairs), mean(xs), mean(ys), drop.estimate, drop.low, drop.high, note,
            )
        )
    return rows
