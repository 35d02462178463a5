"""Accuracy per model role and setting, and base vs instruct on the same items.

Intervals: Wilson for 0/1 outcomes; percentile bootstrap over items for fractional outcomes and
for differences. McNemar (exact up to 25 discordant pairs) for paired 0/1 outcomes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import engine.analysis.stats as stats
from engine.analysis.labels import role_key
from engine.analysis.rows import (
    ItemOutcome,
    OutcomeKey,
    ReportFilters,
    index_outcomes,
    sorted_keys,
)
from engine.analysis.stats import Interval, Proportion


@dataclass(frozen=True)
class AccuracyRow:
    """Accuracy of one model role in one setting (dataset x variant x mode x strategy x metric)."""

    pair: str
    dataset: str
    variant: str
    setting: str
    role: str
    model: str
    strategy: str
    metric: str
    n: int
    correct: int | None  # None for fractional outcomes
    accuracy: float | None
    low: float | None
    high: float | None
    interval: str  # wilson or bootstrap-percentile


@dataclass(frozen=True)
class PairedRow:
    """Base vs instruct on the same items: difference, 2x2 agreement table and McNemar's test."""

    pair: str
    dataset: str
    variant: str
    setting: str
    strategy: str
    metric: str
    instruct_role: str
    n: int
    base_accuracy: float | None
    instruct_accuracy: float | None
    difference: float | None  # instruct - base
    diff_low: float | None
    diff_high: float | None
    both_correct: int | None
    base_only: int | None
    instruct_only: int | None
    both_wrong: int | None
    p_value: float | None
    test: str  # exact, chi2-cc, none, or n/a (fractional outcomes)


def accuracy_of(values: Sequence[float], filters: ReportFilters) -> Proportion | Interval:
    """Wilson for 0/1 outcomes, a bootstrap interval of the mean otherwise."""
    if all(v in (0.0, 1.0) for v in values):
        return stats.proportion(int(sum(values)), len(values))
    return stats.mean_ci(values, resamples=filters.resamples, seed=filters.seed)


def accuracy_rows(outcomes: Sequence[ItemOutcome], filters: ReportFilters) -> list[AccuracyRow]:
    index = index_outcomes(outcomes)
    rows = []
    for key in sorted_keys(index):
        pair, dataset, variant, setting, role, strategy, metric = key
        items = list(index[key].values())
        values = [o.value for o in items]
        acc = accuracy_of(values, filters)
        models = sorted({o.model_name for o in items})
        if isinstance(acc, Proportion):
            correct, est, lo, hi, how = acc.successes, acc.p, acc.low, acc.high, acc.method
        else:
            correct, est, lo, hi, how = None, acc.estimate, acc.low, acc.high, acc.method
        rows.append(
            AccuracyRow(
                pair, dataset, variant, setting, role, ", ".join(models), strategy, metric,
                len(values), correct, est, lo, hi, how,
            )
        )
    return rows


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass(frozen=True)
class Comparison:
    """Two sets of item outcomes on the items both have: means, a bootstrap interval of the
    difference (b - a), and McNemar's test when every outcome is 0/1."""

    n: int
    a_mean: float | None
    b_mean: float | None
    diff: Interval
    test: stats.McNemar | None


def compare_items(
    a: Mapping[str, float], b: Mapping[str, float], filters: ReportFilters
) -> Comparison | None:
    """Outcome values by item id on both sides; None when they share no items."""
    common = sorted(set(a) & set(b))
    if not common:
        return None
    xs, ys = [a[i] for i in common], [b[i] for i in common]
    diff = stats.paired_difference_ci(xs, ys, resamples=filters.resamples, seed=filters.seed)
    binary = all(v in (0.0, 1.0) for v in xs + ys)
    test = stats.mcnemar([bool(v) for v in xs], [bool(v) for v in ys]) if binary else None
    return Comparison(len(xs), mean(xs), mean(ys), diff, test)


def compare_entries(
    index: Mapping[OutcomeKey, dict[str, ItemOutcome]],
    a: OutcomeKey,
    b: OutcomeKey,
    filters: ReportFilters,
) -> Comparison | None:
    """`compare_items` on two entries of an outcome index; None when either is missing."""
    if a not in index or b not in index:
        return None
    return compare_items(
        {i: o.value for i, o in index[a].items()}, {i: o.value for i, o in index[b].items()},
        filters,
    )


def paired_rows(outcomes: Sequence[ItemOutcome], filters: ReportFilters) -> list[PairedRow]:
    index = index_outcomes(outcomes)
    rows = []
    for key in sorted_keys(index):
        pair, dataset, variant, setting, role, strategy, metric = key
        if role != "base":
            continue
        for other in sorted({k[4] for k in index if k[4] != "base"}, key=role_key):
            okey = (pair, dataset, variant, setting, other, strategy, metric)
            c = compare_entries(index, key, okey, filters)
            if c is None:
                continue
            test = c.test
            rows.append(
                PairedRow(
                    pair, dataset, variant, setting, strategy, metric, other, c.n,
                    c.a_mean, c.b_mean, c.diff.estimate, c.diff.low, c.diff.high,
                    test.both if test else None,
                    test.a_only if test else None,
                    test.b_only if test else None,
                    test.neither if test else None,
                    test.p_value if test else None,
                    test.method if test else "n/a",
                )
            )
    return rows
