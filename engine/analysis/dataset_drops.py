"""Accuracy drops from one benchmark to another: MATH-500 -> MATH-P-Hard at the dataset level
(unpaired), and the paired drops MATH-P-Simple -> MATH-P-Hard (by `problem_id`) and GSM8K ->
GSM-Symbolic P2 (each P2 variant links to its GSM8K test item through `original_id`).

Why two kinds: MATH-Perturb's unperturbed originals are not published, so MATH-500 and MATH-P-Hard
share no items and their drop is a difference between two samples (each resampled on its own);
P-Simple and P-Hard, and GSM8K and P2, share items, so their drop is paired (resample linked items
together, McNemar on the 2x2 table). With several P2 variants of one GSM8K item (the P2 instances)
the item's P2 outcome is the mean of its variants and the bootstrap resamples GSM8K items (a
cluster bootstrap); McNemar then does not apply (it needs one pair per item).

Deterministic: items are sorted by id before resampling and the generator is seeded, so the same
store gives the same intervals.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

import engine.analysis.stats as stats
from engine.analysis.accuracy import mean
from engine.analysis.drops import FEW_ITEMS
from engine.analysis.labels import role_key, setting_key
from engine.analysis.rows import ItemOutcome, ReportFilters
from engine.records import ORIGINAL

if TYPE_CHECKING:
    from engine.store.store import Store


@dataclass(frozen=True)
class DatasetLink:
    """Two benchmarks whose accuracies are compared. `via`: None (unpaired, no shared items),
    'problem_id' (the same id on both sides) or 'original_id' (a target variant names its source
    item). `target_variants`: the target rows that count ('original' or 'variants')."""

    source: str
    target: str
    via: str | None
    target_variants: str = ORIGINAL

    @property
    def label(self) -> str:
        return f"{self.source} -> {self.target}"


LINKS: tuple[DatasetLink, ...] = (
    DatasetLink("math500", "math-perturb-hard", None),
    DatasetLink("math-perturb-simple", "math-perturb-hard", "problem_id"),
    DatasetLink("gsm8k", "gsm-symbolic-p2", "original_id", target_variants="variants"),
)


@dataclass(frozen=True)
class DatasetDropRow:
    """Accuracy on two benchmarks with no shared items, per role and setting (unpaired)."""

    pair: str
    source: str
    target: str
    setting: str
    role: str
    model: str
    strategy: str
    metric: str
    n_source: int
    n_target: int
    source_accuracy: float | None
    target_accuracy: float | None
    drop: float | None  # source - target, in accuracy points
    drop_low: float | None
    drop_high: float | None
    relative_drop: float | None  # (source - target) / source
    relative_low: float | None
    relative_high: float | None
    note: str = ""


@dataclass(frozen=True)
class LinkedDropRow:
    """Accuracy on linked items of two benchmarks, per role and setting (paired)."""

    pair: str
    source: str
    target: str
    via: str
    setting: str
    role: str
    model: str
    strategy: str
    metric: str
    n: int  # linked source items
    n_target: int  # target items linked to them
    source_accuracy: float | None
    target_accuracy: float | None  # mean over source items of their targets' mean
    drop: float | None  # source - target
    drop_low: float | None
    drop_high: float | None
    relative_drop: float | None
    relative_low: float | None
    relative_high: float | None
    both_correct: int | None
    source_only: int | None
    target_only: int | None
    both_wrong: int | None
    p_value: float | None
    test: str  # exact, chi2-cc, none, or n/a
    note: str = ""


# -- the unpaired bootstrap -------------------------------------------------------------------


def _percentiles(
    estimate: float | None, values: np.ndarray, n: int, resamples: int, confidence: float
) -> stats.Interval:
    """A percentile interval from resampled statistics (NaN = undefined in that resample)."""
    if estimate is None:
        return stats.Interval(None, None, None, n)
    defined = values[~np.isnan(values)]
    undefined = int(resamples - defined.size)
    alpha = 1.0 - confidence
    if undefined > alpha / 2 * resamples or defined.size == 0:
        return stats.Interval(estimate, None, None, n, resamples=resamples, undefined=undefined)
    low, high = np.percentile(defined, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return stats.Interval(estimate, float(low), float(high), n, resamples=resamples,
                          undefined=undefined)


def unpaired_drop_ci(
    source: Sequence[float],
    target: Sequence[float],
    *,
    resamples: int = stats.BOOTSTRAP_RESAMPLES,
    confidence: float = stats.CONFIDENCE,
    seed: int = 0,
) -> tuple[stats.Interval, stats.Interval]:
    """(absolute drop, relative drop) of mean(source) -> mean(target), each sample resampled on
    its own (the samples share no items). Values in the caller's (sorted) order; one seeded
    generator draws the source indices, then the target indices."""
    a = np.asarray(source, dtype=np.float64)
    b = np.asarray(target, dtype=np.float64)
    n = a.size + b.size
    if a.size == 0 or b.size == 0:
        return stats.Interval(None, None, None, n), stats.Interval(None, None, None, n)
    rng = np.random.default_rng(seed)
    ma = a[rng.integers(0, a.size, size=(resamples, a.size))].mean(axis=-1)
    mb = b[rng.integers(0, b.size, size=(resamples, b.size))].mean(axis=-1)
    est_a, est_b = float(a.mean()), float(b.mean())
    absolute = _percentiles(est_a - est_b, ma - mb, n, resamples, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(ma > 0, (ma - mb) / np.where(ma > 0, ma, 1.0), np.nan)
    rel_est = (est_a - est_b) / est_a if est_a > 0 else None
    return absolute, _percentiles(rel_est, rel, n, resamples, confidence)


def _note(relative: stats.Interval, n: int, unit: str = "items") -> str:
    if relative.estimate is None:
        return "source accuracy 0"
    if relative.low is None:
        return f"relative interval undefined: source 0 in {relative.undefined} resamples"
    if n < FEW_ITEMS:
        return f"only {n} {unit}: optimistic interval"
    return ""


# -- link keys from the items table -----------------------------------------------------------


def link_keys(store: Store, datasets: Sequence[str]) -> dict[tuple[str, str], str]:
    """(dataset, item_id) -> the key that links the item across benchmarks.

    MATH-Perturb: `problem_id` (the item id without it). GSM-Symbolic P2 variants: their GSM8K
    test item id (`gsm8k_item_id`, else `gsm8k-test-<source_original_id>`). Any other item: its
    own id (a GSM8K item is the key its P2 variants name).
    """
    if not datasets:
        return {}
    marks = ", ".join("?" * len(datasets))
    rows = store.query(
        f"SELECT dataset, item_id, fields FROM items WHERE dataset IN ({marks}) "
        "ORDER BY dataset, item_id",
        list(datasets),
    ).rows
    out: dict[tuple[str, str], str] = {}
    for dataset, item_id, fields in rows:
        out[(dataset, item_id)] = _key_of(item_id, _fields(fields))
    return out


def _fields(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    try:
        got = json.loads(value) if value else {}
    except (TypeError, ValueError):
        return {}
    return got if isinstance(got, dict) else {}


def _key_of(item_id: str, fields: Mapping[str, Any]) -> str:
    if fields.get("problem_id") not in (None, ""):
        return f"problem-{fields['problem_id']}"
    if fields.get("gsm8k_item_id") not in (None, ""):
        return str(fields["gsm8k_item_id"])
    if fields.get("source_original_id") not in (None, ""):
        return f"gsm8k-test-{fields['source_original_id']}"
    return item_id


# -- the rows ---------------------------------------------------------------------------------

GroupKey = tuple[str, str, str, str, str]  # pair, setting, role, strategy, metric


def _side(
    outcomes: Sequence[ItemOutcome], dataset: str, variants: str
) -> dict[GroupKey, dict[str, ItemOutcome]]:
    """(pair, setting, role, strategy, metric) -> item id -> outcome, on one benchmark."""
    out: dict[GroupKey, dict[str, ItemOutcome]] = defaultdict(dict)
    for o in outcomes:
        if o.dataset != dataset:
            continue
        if (o.variant == ORIGINAL) != (variants == ORIGINAL):
            continue
        out[(o.pair, o.setting, o.role, o.strategy, o.metric)][o.item_id] = o
    return out


def _group_order(key: GroupKey) -> tuple[Any, ...]:
    pair, setting, role, strategy, metric = key
    return (pair, setting_key(setting), strategy, metric, role_key(role))


def _models(*sides: Mapping[str, ItemOutcome]) -> str:
    return ", ".join(sorted({o.model_name for side in sides for o in side.values()}))


def dataset_drop_rows(
    outcomes: Sequence[ItemOutcome], filters: ReportFilters,
    links: Sequence[DatasetLink] = LINKS,
) -> list[DatasetDropRow]:
    """The unpaired links' rows: every (role, setting, decoding) recorded on both benchmarks."""
    rows = []
    for link in (x for x in links if x.via is None):
        src, tgt = _side(outcomes, link.source, ORIGINAL), _side(outcomes, link.target,
                                                                  link.target_variants)
        for key in sorted(set(src) & set(tgt), key=_group_order):
            pair, setting, role, strategy, metric = key
            xs = [src[key][i].value for i in sorted(src[key])]
            ys = [tgt[key][i].value for i in sorted(tgt[key])]
            absolute, relative = unpaired_drop_ci(
                xs, ys, resamples=filters.resamples, seed=filters.seed)
            rows.append(DatasetDropRow(
                pair, link.source, link.target, setting, role, _models(src[key], tgt[key]),
                strategy, metric, len(xs), len(ys), mean(xs), mean(ys), absolute.estimate,
                absolute.low, absolute.high, relative.estimate, relative.low, relative.high,
                _note(relative, min(len(xs), len(ys))),
            ))
    return rows


def linked_drop_rows(
    outcomes: Sequence[ItemOutcome], filters: ReportFilters, keys: Mapping[tuple[str, str], str],
    links: Sequence[DatasetLink] = LINKS,
) -> list[LinkedDropRow]:
    """The paired links' rows: source items with at least one linked target item.

    `keys` maps (dataset, item_id) to its link key (`link_keys`); an item missing from it links
    by its own id."""
    rows = []
    for link in (x for x in links if x.via is not None):
        src, tgt = _side(outcomes, link.source, ORIGINAL), _side(outcomes, link.target,
                                                                  link.target_variants)
        for key in sorted(set(src) & set(tgt), key=_group_order):
            row = _linked_row(link, key, src[key], tgt[key], keys, filters)
            if row is not None:
                rows.append(row)
    return rows


def _linked_row(
    link: DatasetLink, key: GroupKey, src: Mapping[str, ItemOutcome],
    tgt: Mapping[str, ItemOutcome], keys: Mapping[tuple[str, str], str], filters: ReportFilters,
) -> LinkedDropRow | None:
    pair, setting, role, strategy, metric = key
    by_link: dict[str, list[float]] = defaultdict(list)
    for item_id in sorted(tgt):
        by_link[keys.get((link.target, item_id), item_id)].append(tgt[item_id].value)
    sources: dict[str, float] = {}
    for item_id in sorted(src):
        k = keys.get((link.source, item_id), item_id)
        if k in by_link:
            sources[k] = src[item_id].value
    if not sources:
        return None
    order = sorted(sources)
    xs = [sources[k] for k in order]
    ys = [float(np.mean(by_link[k])) for k in order]
    n_target = sum(len(by_link[k]) for k in order)
    kw: dict[str, Any] = {"resamples": filters.resamples, "seed": filters.seed}
    absolute = stats.paired_difference_ci(ys, xs, **kw)  # mean(xs) - mean(ys)
    relative = stats.relative_drop_ci(xs, ys, **kw)
    one_to_one = n_target == len(order)
    binary = all(v in (0.0, 1.0) for v in xs + ys)
    test = stats.mcnemar([bool(v) for v in xs], [bool(v) for v in ys]) if (
        one_to_one and binary) else None
    note = _note(relative, len(order))
    if not one_to_one:
        extra = "several variants per item: no McNemar"
        note = f"{note}; {extra}" if note else extra
    return LinkedDropRow(
        pair, link.source, link.target, link.via or "", setting, role, _models(src, tgt),
        strategy, metric, len(order), n_target, mean(xs), mean(ys), absolute.estimate,
        absolute.low, absolute.high, relative.estimate, relative.low, relative.high,
        test.both if test else None, test.a_only if test else None,
        test.b_only if test else None, test.neither if test else None,
        test.p_value if test else None, test.method if test else "n/a", note,
    )


def linked_datasets(links: Sequence[DatasetLink] = LINKS) -> list[str]:
    """The benchmarks the paired links read item fields of."""
    return sorted({d for x in links if x.via is not None for d in (x.source, x.target)})


def cross_dataset_drops(
    store: Store, outcomes: Sequence[ItemOutcome], filters: ReportFilters
) -> tuple[list[DatasetDropRow], list[LinkedDropRow]]:
    """Both tables of a report (the item fields of the linked benchmarks come from the store)."""
    present = {o.dataset for o in outcomes}
    keys = link_keys(store, [d for d in linked_datasets() if d in present])
    return dataset_drop_rows(outcomes, filters), linked_drop_rows(outcomes, filters, keys)
