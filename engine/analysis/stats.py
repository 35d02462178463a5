"""The statistics behind tunelens reports, kept small and checked against known values.

Why a module of its own: a base-vs-instruct difference measured on 10 or 100 items is mostly noise
unless it comes with an interval and a paired test. Everything here works on per-item outcomes
(0/1 verdicts, or fractions such as an unbiased pass@k) so that the report can resample *items*,
the unit that was sampled from the benchmark.

Speed (issue 14): a report over a million answers must not wait for `scipy.stats` to import
(0.6 s) or for a 2000 x 125,000 resampling matrix. The Wilson interval is written out (the same
float operations as scipy's), McNemar's p-values come from scipy.special's binomial and
chi-square functions (what scipy.stats calls), correlations still import scipy.stats, and the
bootstrap draws per-pattern counts when the item matrix would be large (see `resample_means`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = [
    "EXACT_MCNEMAR_MAX",
    "MIN_TASKS",
    "Correlation",
    "Interval",
    "McNemar",
    "Proportion",
    "bootstrap_ci",
    "bootstrap_items_ci",
    "correlation",
    "correlation_ci",
    "independent_difference_ci",
    "independent_relative_drop_ci",
    "majority_vote",
    "mcnemar",
    "mcnemar_counts",
    "mean_ci",
    "mean_difference",
    "paired_difference_ci",
    "pass_at_k",
    "proportion",
    "relative_drop",
    "relative_drop_ci",
    "resample_means",
]

CONFIDENCE = 0.95
# Discordant pairs up to this count get the exact binomial McNemar test; above it the
# continuity-corrected chi-square approximation is accurate (and is what statsmodels offers too).
EXACT_MCNEMAR_MAX = 25
# Fewer tasks than this and a correlation coefficient says nothing; the report says so instead.
MIN_TASKS = 5
BOOTSTRAP_RESAMPLES = 2000
# The normal quantile for a two-sided 95% interval, as scipy.special.ndtri(0.975) gives it.
Z_95 = 1.959963984540054
# Up to this many resampled item indices (items x resamples) the bootstrap draws indices; above,
# it draws how often each distinct item pattern is picked (see `resample_means`).
EXACT_RESAMPLING_MAX = 1 << 21


# -- proportions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proportion:
    """k successes out of n with a confidence interval (Wilson score, no continuity correction)."""

    successes: int
    n: int
    p: float | None
    low: float | None
    high: float | None
    method: str = "wilson"

    def __str__(self) -> str:
        if self.p is None:
            return "n/a (n=0)"
        return f"{self.p:.1%} [{self.low:.1%}, {self.high:.1%}]"


def proportion(successes: int, n: int, confidence: float = CONFIDENCE) -> Proportion:
    """Accuracy with a Wilson interval: well-behaved at 0/n and n/n, unlike the normal one.

    Written out as scipy.stats.binomtest(k, n).proportion_ci(method="wilson") computes it (the
    same operations in the same order, so the same floats), without importing scipy.stats.
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes}/{n}")
    if n == 0:
        return Proportion(0, 0, None, None, None)
    k, n = int(successes), int(n)
    z = Z_95 if confidence == CONFIDENCE else _ndtri(0.5 + 0.5 * confidence)
    p = k / n
    denom = 2 * (n + z**2)
    center = (2 * n * p + z**2) / denom
    q = 1 - p
    delta = z / denom * math.sqrt(4 * n * p * q + z**2)
    low = 0.0 if k == 0 else center - delta
    high = 1.0 if k == n else center + delta
    return Proportion(k, n, p, float(low), float(high))


def _ndtri(p: float) -> float:
    from scipy.special import ndtri

    return float(ndtri(p))


# -- paired test --------------------------------------------------------------------------------


@dataclass(frozen=True)
class McNemar:
    """Paired 0/1 outcomes of A and B on the same items: the 2x2 table and McNemar's test.

    `both` and `neither` do not inform the test; `a_only` (A right, B wrong) and `b_only` do.
    """

    both: int
    a_only: int
    b_only: int
    neither: int
    statistic: float | None  # b_only - a_only as a count for exact; chi-square for chi2-cc
    p_value: float | None
    method: str  # "exact", "chi2-cc", or "none" (no discordant pairs)

    @property
    def n(self) -> int:
        return self.both + self.a_only + self.b_only + self.neither

    @property
    def discordant(self) -> int:
        return self.a_only + self.b_only


def mcnemar_counts(
    a_only: int, b_only: int, *, exact: bool | None = None
) -> tuple[float | None, float | None, str]:
    """(statistic, p-value, method) from the discordant counts.

    Exact: two-sided binomial test of a_only ~ Binomial(a_only + b_only, 1/2). Otherwise
    the continuity-corrected chi-square (|b - c| - 1)^2 / (b + c) on one degree of freedom.
    `exact=None` picks exact up to EXACT_MCNEMAR_MAX discordant pairs.
    """
    d = a_only + b_only
    if d == 0:
        return None, None, "none"
    if exact is None:
        exact = d <= EXACT_MCNEMAR_MAX
    if exact:
        return float(min(a_only, b_only)), float(min(1.0, binom_two_sided(a_only, d))), "exact"
    from scipy.special import chdtrc  # what scipy.stats.chi2.sf calls

    stat = (abs(a_only - b_only) - 1) ** 2 / d
    return float(stat), float(chdtrc(1, stat)), "chi2-cc"


def binom_two_sided(k: int, n: int) -> float:
    """Two-sided p-value of k successes in n trials with p = 1/2: scipy.stats.binomtest's
    algorithm (probabilities as likely as k's or less, on both sides) with its binomial
    functions from scipy.special, so the same floats without importing scipy.stats."""
    import numpy as np
    from scipy.special import _ufuncs as scu

    def pmf(x: float) -> float:
        return float(scu._binom_pmf(x, n, 0.5))

    d = pmf(k)
    rerr = 1 + 1e-7
    if k == 0.5 * n:
        return 1.0
    if k < 0.5 * n:
        ix = _binary_search(lambda x: -pmf(x), -d * rerr, int(np.ceil(0.5 * n)), n)
        y = n - ix + int(d * rerr == pmf(ix))
        return float(scu._binom_cdf(k, n, 0.5) + scu._binom_sf(n - y, n, 0.5))
    ix = _binary_search(pmf, d * rerr, 0, int(np.floor(0.5 * n)))
    y = ix + 1
    return float(scu._binom_cdf(y - 1, n, 0.5) + scu._binom_sf(k - 1, n, 0.5))


def _binary_search(a: Callable[[float], float], d: float, lo: int, hi: int) -> int:
    """The index i in [lo, hi] with a(i) <= d < a(i + 1) (a ascending): scipy's search."""
    while lo < hi:
        mid = lo + (hi - lo) // 2
        midval = a(mid)
        if midval < d:
            lo = mid + 1
        elif midval > d:
            hi = mid - 1
        else:
            return mid
    return lo if a(lo) <= d else lo - 1


def mcnemar(a: Sequence[bool], b: Sequence[bool], *, exact: bool | None = None) -> McNemar:
    """McNemar's test on paired verdicts (a[i], b[i] are the same item)."""
    if len(a) != len(b):
        raise ValueError(f"paired verdicts need equal lengths, got {len(a)} and {len(b)}")
    both = sum(1 for x, y in zip(a, b, strict=True) if x and y)
    a_only = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    b_only = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    neither = len(a) - both - a_only - b_only
    stat, p, method = mcnemar_counts(a_only, b_only, exact=exact)
    return McNemar(both, a_only, b_only, neither, stat, p, method)


# -- bootstrap over items -----------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile bootstrap interval over items.

    `undefined` counts resamples where the statistic had no value (e.g. a relative drop when the
    resampled original accuracy is 0). When more than (1 - confidence) / 2 of them are undefined
    the interval would be biased, so low/high are None.
    """

    estimate: float | None
    low: float | None
    high: float | None
    n: int
    method: str = "bootstrap-percentile"
    resamples: int = 0
    undefined: int = 0

    def __str__(self) -> str:
        if self.estimate is None:
            return "n/a"
        if self.low is None or self.high is None:
            return f"{self.estimate:+.3f} [n/a]"
        return f"{self.estimate:+.3f} [{self.low:+.3f}, {self.high:+.3f}]"


Statistic = Callable[..., np.ndarray]


def bootstrap_ci(
    data: Sequence[Sequence[float]],
    statistic: Statistic,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
    paired: bool = True,
) -> Interval:
    """Seeded percentile bootstrap over items of a statistic of the arrays' means.

    `data`: one array of per-item outcomes per sample (0/1 verdicts or fractions).
    - paired=True (same items: base vs instruct, original vs its variants): the arrays are equally
      long, item i is element i of each, and items are resampled together.
    - paired=False (different items: two datasets): each array is resampled on its own.
    `statistic(*means)` gets each array's mean, as float64 arrays of one shape (a 0-d array for
    the estimate, shape (resamples,) for the resamples), and returns values of that shape, NaN
    where undefined: `lambda a, b: b - a`, or `mean_difference`, `relative_drop`.
    Deterministic: the same data in the same order, seed and resamples give the same interval;
    callers sort items (by id) before they call. See `resample_means` for how resamples are drawn.
    A statistic that needs the items, not their means (a correlation): `bootstrap_items_ci`.
    """
    arrays = [np.asarray(d, dtype=np.float64) for d in data]
    if not arrays:
        raise ValueError("need at least one data array")
    n = len(arrays[0])
    if paired and any(len(a) != n for a in arrays):
        raise ValueError("paired data need equal lengths")
    if any(len(a) == 0 for a in arrays):
        return Interval(None, None, None, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        estimate = float(statistic(*(a.mean(axis=-1) for a in arrays)))
    if math.isnan(estimate):
        return Interval(None, None, None, n)
    means = resample_means(arrays, resamples=resamples, seed=seed, paired=paired)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.asarray(statistic(*means), dtype=np.float64)
    return _percentile_interval(values, estimate, n, resamples, confidence)


def bootstrap_items_ci(
    data: Sequence[Sequence[float]],
    statistic: Statistic,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> Interval:
    """Paired, seeded percentile bootstrap of a statistic that needs the items themselves, not
    only their means (a correlation over tasks).

    `statistic(*arrays)` takes arrays of shape (..., n) (item i is element i of each) and reduces
    the last axis, NaN where undefined. Item indices are drawn as in `resample_means` (the same
    cached matrix); the cost is resamples x n, so this is for tens or thousands of items, not a
    million: a statistic of means goes to `bootstrap_ci`.
    """
    arrays = [np.asarray(d, dtype=np.float64) for d in data]
    if not arrays:
        raise ValueError("need at least one data array")
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError("paired data need equal lengths")
    if n == 0:
        return Interval(None, None, None, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        estimate = float(statistic(*arrays))
    if math.isnan(estimate):
        return Interval(None, None, None, n)
    idx = _indices(n, resamples, seed, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.asarray(statistic(*(a[idx] for a in arrays)), dtype=np.float64)
    return _percentile_interval(values, estimate, n, resamples, confidence)


def _percentile_interval(
    values: np.ndarray, estimate: float, n: int, resamples: int, confidence: float
) -> Interval:
    defined = values[~np.isnan(values)]
    undefined = int(resamples - defined.size)
    alpha = 1.0 - confidence
    if undefined > alpha / 2 * resamples or defined.size == 0:
        return Interval(estimate, None, None, n, resamples=resamples, undefined=undefined)
    low, high = np.percentile(defined, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return Interval(estimate, float(low), float(high), n, resamples=resamples, undefined=undefined)


def resample_means(
    data: Sequence[Sequence[float]],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    paired: bool = True,
) -> list[np.ndarray]:
    """Each array's mean in each of `resamples` bootstrap resamples of its items (shape
    (resamples,) per array); paired arrays share their resampled items.

    How: with up to EXACT_RESAMPLING_MAX item draws (items x resamples), item indices are drawn
    as `default_rng(seed).integers(0, n, (resamples, n))`; the matrix depends only on (n,
    resamples, seed), so every row of a table with the same n reuses one matrix (cached). Above
    that, the counts of each distinct item (a pattern of values, e.g. base right / instruct
    wrong: four patterns for paired 0/1 outcomes) are drawn from Multinomial(n, share of each
    pattern), which is the same resampling distribution at a cost of resamples x patterns
    instead of resamples x items. The two ways draw different random numbers: a store that
    grows past the threshold gets intervals as valid, not the same digits.
    Unpaired arrays use independent streams (seed, k), array 0 the stream `seed` itself.
    """
    arrays = [np.asarray(d, dtype=np.float64) for d in data]
    if paired:
        return _resample_group(arrays, resamples, seed, 0)
    return [_resample_group([a], resamples, seed, k)[0] for k, a in enumerate(arrays)]


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(seed if stream == 0 else [seed, stream])


def _resample_group(
    arrays: list[np.ndarray], resamples: int, seed: int, stream: int
) -> list[np.ndarray]:
    n = len(arrays[0])
    if n * resamples <= EXACT_RESAMPLING_MAX:
        idx = _indices(n, resamples, seed, stream)
        return [a[idx].mean(axis=-1) for a in arrays]
    stacked = np.stack(arrays, axis=1)  # (n, k)
    if stacked.shape[1] <= 16 and np.all((stacked == 0.0) | (stacked == 1.0)):
        # 0/1 outcomes: the pattern's bits as a number, counted (np.unique's order and result)
        weights = 1 << np.arange(stacked.shape[1] - 1, -1, -1)
        counts = np.bincount(stacked.astype(np.int64) @ weights, minlength=1 << len(weights))
        codes = np.flatnonzero(counts)
        patterns = ((codes[:, None] & weights) > 0).astype(np.float64)
        counts = counts[codes]
    else:
        patterns, counts = np.unique(stacked, axis=0, return_counts=True)
    draws = _rng(seed, stream).multinomial(n, counts / n, size=resamples)  # (resamples, K)
    means = (draws @ patterns) / n  # (resamples, k)
    return [means[:, j] for j in range(len(arrays))]


@lru_cache(maxsize=8)
def _indices(n: int, resamples: int, seed: int, stream: int) -> np.ndarray:
    idx = _rng(seed, stream).integers(0, n, size=(resamples, n))
    idx.setflags(write=False)
    return idx


def mean_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """b - a: instruct minus base, few-shot minus zero-shot (a `bootstrap_ci` statistic)."""
    return b - a


def relative_drop(orig: np.ndarray, pert: np.ndarray) -> np.ndarray:
    """(orig - pert) / orig, NaN where orig is 0 (a `bootstrap_ci` statistic of two means)."""
    return np.where(orig > 0, (orig - pert) / np.where(orig > 0, orig, 1.0), np.nan)


def _identity(x: np.ndarray) -> np.ndarray:
    return x


def mean_ci(values: Sequence[float], **kw: object) -> Interval:
    """Mean of per-item values (e.g. unbiased pass@k, not a 0/1 count) with its interval."""
    return bootstrap_ci([values], _identity, **kw)  # type: ignore[arg-type]


def paired_difference_ci(a: Sequence[float], b: Sequence[float], **kw: object) -> Interval:
    """mean(b) - mean(a) over the same items (instruct minus base, few-shot minus zero-shot)."""
    return bootstrap_ci([a, b], mean_difference, **kw)  # type: ignore[arg-type]


def relative_drop_ci(
    original: Sequence[float], perturbed: Sequence[float], **kw: object
) -> Interval:
    """(acc_original - acc_perturbed) / acc_original over original items and their variants.

    Undefined (None) when the original accuracy is 0: nothing to drop from.
    """
    return bootstrap_ci([original, perturbed], relative_drop, **kw)  # type: ignore[arg-type]


# -- several answers per item ---------------------------------------------------------------------


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): 1 - C(n-c, k) / C(n, k), computed exactly.

    The chance that k answers drawn without replacement from the n recorded ones contain a correct
    one; with k = n it is 1 if any answer is correct. Needs n >= k.
    """
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got c={c}, n={n}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
    if n - c < k:
        return 1.0
    miss = math.comb(n - c, k)
    total = math.comb(n, k)
    return 1.0 - miss / total


def majority_vote(
    answers: Sequence[Hashable | None],
) -> tuple[Hashable | None, int]:
    """The most frequent non-missing answer and its count; ties go to the earliest answer.

    Missing answers (None: nothing extracted) do not vote; with no votes the result is (None, 0).
    Callers pass answers already normalised (e.g. 18, 18.0 and "$18" as one number).
    """
    votes = Counter(a for a in answers if a is not None)
    if not votes:
        return None, 0
    best = max(votes.values())
    for a in answers:
        if a is not None and votes[a] == best:
            return a, best
    raise AssertionError("unreachable")


# -- correlation across tasks ---------------------------------------------------------------------


@dataclass(frozen=True)
class Correlation:
    """Spearman and Pearson correlation with p-values; None with a `note` when not meaningful."""

    n: int
    spearman_r: float | None
    spearman_p: float | None
    pearson_r: float | None
    pearson_p: float | None
    note: str = ""


def correlation(
    x: Sequence[float],
    y: Sequence[float],
    *,
    min_n: int = MIN_TASKS,
    labels: tuple[str, str] = ("x", "y"),
) -> Correlation:
    """Correlations over tasks, refusing to print an r from too few tasks or constant data."""
    if len(x) != len(y):
        raise ValueError("x and y need equal lengths")
    n = len(x)
    if n < min_n:
        tasks = "task" if n == 1 else "tasks"
        note = f"only {n} {tasks}: too few for a correlation (need {min_n})"
        return Correlation(n, None, None, None, None, note)
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if np.ptp(xa) == 0 or np.ptp(ya) == 0:
        which = labels[0] if np.ptp(xa) == 0 else labels[1]
        return Correlation(n, None, None, None, None, f"{which} is constant across the {n} tasks")
    from scipy.stats import pearsonr, spearmanr  # 0.6 s to import: only when there is an r

    s = spearmanr(xa, ya)
    p = pearsonr(xa, ya)
    return Correlation(
        n, float(s.statistic), float(s.pvalue), float(p.statistic), float(p.pvalue)
    )


def _pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r along the last axis; NaN where either side is constant."""
    da = a - a.mean(axis=-1, keepdims=True)
    db = b - b.mean(axis=-1, keepdims=True)
    den = np.sqrt((da * da).sum(axis=-1) * (db * db).sum(axis=-1))
    num = (da * db).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 1e-12, num / np.where(den > 1e-12, den, 1.0), np.nan)


def _spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rho along the last axis: Pearson r of average ranks (ties share a rank)."""
    from scipy.stats import rankdata

    return _pearson_rows(rankdata(a, axis=-1), rankdata(b, axis=-1))


def correlation_ci(
    x: Sequence[float],
    y: Sequence[float],
    *,
    method: str = "spearman",
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> Interval:
    """Spearman or Pearson r over tasks with a percentile bootstrap interval over *tasks*.

    Tasks (x_i, y_i) are resampled in pairs; a resample whose x or y is constant has no r and
    counts as undefined (with few tasks many do, and then the interval is n/a rather than a
    too-narrow one).
    """
    stat = {"spearman": _spearman_rows, "pearson": _pearson_rows}.get(method)
    if stat is None:
        raise ValueError(f"method must be spearman or pearson, not {method!r}")
    return bootstrap_items_ci([x, y], stat, resamples=resamples, confidence=confidence, seed=seed)


def _independent(
    a: Sequence[float],
    b: Sequence[float],
    statistic: Callable[[np.ndarray, np.ndarray], np.ndarray],
    resamples: int,
    confidence: float,
    seed: int,
) -> Interval:
    """Percentile bootstrap of statistic(mean a, mean b) over two *independent* samples."""
    xa, xb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if xa.size == 0 or xb.size == 0:
        return Interval(None, None, None, int(xa.size + xb.size))
    n = int(xa.size + xb.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        estimate = float(statistic(np.asarray(xa.mean()), np.asarray(xb.mean())))
    if math.isnan(estimate):
        return Interval(None, None, None, n)
    rng = np.random.default_rng(seed)
    ma = xa[rng.integers(0, xa.size, size=(resamples, xa.size))].mean(axis=-1)
    mb = xb[rng.integers(0, xb.size, size=(resamples, xb.size))].mean(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.asarray(statistic(ma, mb), dtype=np.float64)
    return _percentile_interval(values, estimate, n, resamples, confidence)


def independent_difference_ci(
    a: Sequence[float],
    b: Sequence[float],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> Interval:
    """mean(b) - mean(a) for two unpaired groups (each resampled on its own)."""
    return _independent(a, b, lambda ma, mb: mb - ma, resamples, confidence, seed)


def independent_relative_drop_ci(
    original: Sequence[float],
    other: Sequence[float],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> Interval:
    """(acc_a - acc_b) / acc_a for two benchmarks with different items (MATH-500 vs
    MATH-P-Hard): each resampled on its own; undefined when acc_a is 0."""

    def drop(ma: np.ndarray, mb: np.ndarray) -> np.ndarray:
        return np.where(ma > 0, (ma - mb) / np.where(ma > 0, ma, 1.0), np.nan)

    return _independent(original, other, drop, resamples, confidence, seed)
