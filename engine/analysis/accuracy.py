"""Accuracy per model role and setting, and base vs instruct on the same items.

Intervals: Wilson for 0/1 outcomes; percentile bootstrap over items for fractional outcomes and
for differences. McNemar (exact up to 25 discordant pairs) for paired 0/1 outcomes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

import engine.analysis.stats as stats
from engine.analysis.columns import OutcomeColumns, as_columns
from engine.analysis.labels import role_key
from engine.analysis.rows import ItemOutcome, OutcomeKey, ReportFilters, sorted_keys
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


def is_binary(values: np.ndarray) -> bool:
    return bool(np.all((values == 0.0) | (values == 1.0)))


def accuracy_of(
    values: Sequence[float] | np.ndarray, filters: ReportFilters
) -> Proportion | Interval:
    """Wilson for 0/1 outcomes, a bootstrap interval of the mean otherwise."""
    arr = np.asarray(values, dtype=np.float64)
    if is_binary(arr):
        return stats.proportion(int(arr.sum()), len(arr))
    return stats.mean_ci(arr, resamples=filters.resamples, seed=filters.seed)


def accuracy_rows(
    outcomes: Sequence[ItemOutcome] | OutcomeColumns, filters: ReportFilters
) -> list[AccuracyRow]:
    cols = as_columns(outcomes)
    index = cols.key_index()
    rows = []
    for key in sorted_keys(index):
        pair, dataset, variant, setting, role, strategy, metric = key
        _, values, _ = cols.entry(index[key])
        acc = accuracy_of(values, filters)
        models = cols.models_of(index[key])
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


def mean(values: Sequence[float] | np.ndarray) -> float | None:
    """The mean as `sum(values) / len(values)` adds up (left to right), to the same float."""
    if len(values) == 0:
        return None
    arr = np.asarray(values, dtype=np.float64)
    if is_binary(arr):
        return int(arr.sum()) / len(arr)  # exact count: the same float as the sum of 0.0/1.0
    return sum(arr.tolist()) / len(arr)


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
    xs = np.asarray([a[i] for i in common], dtype=np.float64)
    ys = np.asarray([b[i] for i in common], dtype=np.float64)
    return compare_values(xs, ys, filters)


def compare_values(xs: np.ndarray, ys: np.ndarray, filters: ReportFilters) -> Comparison:
    """Paired outcomes (xs[i], ys[i] are item i, items in id order): the Comparison."""
    diff = stats.paired_difference_ci(xs, ys, resamples=filters.resamples, seed=filters.seed)
    test = None
    if is_binary(xs) and is_binary(ys):
        x, y = xs == 1.0, ys == 1.0
        both, a_only, b_only = int(np.sum(x & y)), int(np.sum(x & ~y)), int(np.sum(y & ~x))
        neither = len(xs) - both - a_only - b_only
        test = stats.McNemar(both, a_only, b_only, neither, *stats.mcnemar_counts(a_only, b_only))
    return Comparison(len(xs), mean(xs), mean(ys), diff, test)


def compare_entries(
    cols: OutcomeColumns,
    index: Mapping[OutcomeKey, int],
    a: OutcomeKey,
    b: OutcomeKey,
    filters: ReportFilters,
) -> Comparison | None:
    """Two keys' outcomes on the items both have; None when either is missing or none shared."""
    if a not in index or b not in index:
        return None
    items_a, values_a, _ = cols.entry(index[a])
    items_b, values_b, _ = cols.entry(index[b])
    _, ia, ib = np.intersect1d(items_a, items_b, assume_unique=True, return_indices=True)
    if not len(ia):
        return None
    return compare_values(values_a[ia], values_b[ib], filters)


def paired_rows(
    outcomes: Sequence[ItemOutcome] | OutcomeColumns, filters: ReportFilters
) -> list[PairedRow]:
    cols = as_columns(outcomes)
    index = cols.key_index()
    others = sorted({k[4] for k in index if k[4] != "base"}, key=role_key)
    rows = []
    for key in sorted_keys(index):
        pair, dataset, variant, setting, role, strategy, metric = key
        if role != "base":
            continue
        for other in others:
            okey = (pair, dataset, variant, setting, other, strategy, metric)
            c = compare_entries(cols, index, key, okey, filters)
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
