"""The convergence analysis (Bigoulaeva et al. 2025): across tasks, does the instruct model's
zero-shot accuracy track the base model's few-shot accuracy? The base zero-shot correlation is
the baseline to beat."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import engine.analysis.stats as stats
from engine.analysis.columns import OutcomeColumns, as_columns
from engine.analysis.labels import variant_key
from engine.analysis.rows import ItemOutcome
from engine.analysis.stats import Correlation
from engine.records import FEW_SHOT_MODE, ZERO_SHOT_MODES


@dataclass(frozen=True)
class ConvergenceTask:
    dataset: str
    variant: str
    n: int
    instruct_zero: float
    base_few: float
    base_zero: float | None


@dataclass(frozen=True)
class Convergence:
    """Across tasks: does the instruct model's zero-shot accuracy track the base model's few-shot
    accuracy (Bigoulaeva et al. 2025)? The base zero-shot correlation is the baseline to beat."""

    pair: str
    strategy: str
    metric: str
    instruct_role: str
    instruct_setting: str
    base_few_setting: str
    base_zero_setting: str | None
    tasks: list[ConvergenceTask]
    few: Correlation  # instruct zero-shot vs base few-shot
    zero: Correlation | None  # instruct zero-shot vs base zero-shot (baseline)


def task_means(
    cols: OutcomeColumns,
) -> tuple[dict[tuple[Any, ...], float], dict[tuple[Any, ...], int]]:
    """Mean and count of every outcome (not one per item) by (pair, strategy, metric, role,
    setting, dataset, variant); means add up in listing order, as `sum(values) / n` did."""
    counts = np.bincount(cols.key, minlength=len(cols.keys))
    sums = np.bincount(cols.key, weights=cols.value, minlength=len(cols.keys))
    binary = np.bincount(
        cols.key, weights=((cols.value != 0.0) & (cols.value != 1.0)).astype(np.float64),
        minlength=len(cols.keys),
    ) == 0
    by_key = None
    mean: dict[tuple[Any, ...], float] = {}
    size: dict[tuple[Any, ...], int] = {}
    for k, (pair, dataset, variant, setting, role, strategy, metric) in enumerate(cols.keys):
        n = int(counts[k])
        if not n:
            continue
        if binary[k]:
            m = int(sums[k]) / n
        else:
            if by_key is None:
                keys_listed = cols.key[cols.order]
                by = np.argsort(keys_listed, kind="stable")
                by_key = (cols.order[by], keys_listed[by])
            pos, ks = by_key
            lo, hi = np.searchsorted(ks, k), np.searchsorted(ks, k, side="right")
            m = sum(cols.value[pos[lo:hi]].tolist()) / n
        name = (pair, strategy, metric, role, setting, dataset, variant)
        mean[name], size[name] = m, n
    return mean, size


def convergence(outcomes: Sequence[ItemOutcome] | OutcomeColumns) -> list[Convergence]:
    """One analysis per (pair, strategy, metric, instruct zero-shot setting, base few-shot setting);
    tasks are the dataset x variant groups where both accuracies exist."""
    mean, size = task_means(as_columns(outcomes))
    acc = mean
    combos: set[tuple[Any, ...]] = set()
    for pair, strategy, metric, role, setting, _d, _v in acc:
        if role.startswith("instruct") and setting in ZERO_SHOT_MODES:
            for p2, s2, m2, r2, set2, _d2, _v2 in acc:
                if (p2, s2, m2, r2) == (pair, strategy, metric, "base") and set2.startswith(
                    FEW_SHOT_MODE
                ):
                    combos.add((pair, strategy, metric, role, setting, set2))
    results = []
    for pair, strategy, metric, role, zero, few in sorted(combos):
        tasks = []
        task_keys = sorted(
            {(k[5], k[6]) for k in acc if k[:5] == (pair, strategy, metric, role, zero)},
            key=lambda t: (t[0], variant_key(t[1])),
        )
        for dataset, variant in task_keys:
            ikey = (pair, strategy, metric, role, zero, dataset, variant)
            bkey = (pair, strategy, metric, "base", few, dataset, variant)
            zkey = (pair, strategy, metric, "base", zero, dataset, variant)
            if bkey not in mean:
                continue
            tasks.append(
                ConvergenceTask(
                    dataset, variant, size[ikey], mean[ikey], mean[bkey], mean.get(zkey)
                )
            )
        if not tasks:
            continue
        x = [t.instruct_zero for t in tasks]
        few_corr = stats.correlation(
            x, [t.base_few for t in tasks], labels=(f"{role} {zero}", f"base {few}")
        )
        with_zero = [t for t in tasks if t.base_zero is not None]
        zero_corr = (
            stats.correlation(
                [t.instruct_zero for t in with_zero],
                [t.base_zero or 0.0 for t in with_zero],
                labels=(f"{role} {zero}", f"base {zero}"),
            )
            if with_zero
            else None
        )
        results.append(
            Convergence(
                pair, strategy, metric, role, zero, few, zero if with_zero else None, tasks,
                few_corr, zero_corr,
            )
        )
    return results
