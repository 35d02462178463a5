"""The studies' statistics against scipy: correlations over tasks with bootstrap intervals, and
the unpaired intervals (two benchmarks, two groups of answers)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from engine.analysis import stats

X = [0.1, 0.4, 0.35, 0.8, 0.6, 0.9, 0.2, 0.55]
Y = [0.2, 0.5, 0.3, 0.7, 0.65, 0.95, 0.1, 0.5]


@pytest.mark.parametrize("method", ["spearman", "pearson"])
def test_correlation_estimate_is_scipys(method: str) -> None:
    ci = stats.correlation_ci(X, Y, method=method, resamples=500)
    ref = sps.spearmanr(X, Y).statistic if method == "spearman" else sps.pearsonr(X, Y).statistic
    assert ci.estimate == pytest.approx(ref, abs=1e-12)
    assert ci.low is not None and ci.high is not None
    assert ci.low <= ci.estimate <= ci.high and ci.n == len(X)


@pytest.mark.parametrize("method", ["spearman", "pearson"])
def test_bootstrap_resamples_are_scipys_correlations(method: str) -> None:
    """The vectorised r of each resample equals scipy's r of that resample (ties included):
    the interval is the percentile interval of scipy's statistic over the same task resamples."""
    x, y = np.asarray(X), np.asarray(Y)
    resamples, seed = 300, 7
    idx = np.random.default_rng(seed).integers(0, len(x), size=(resamples, len(x)))
    ref = []
    for row in idx:
        xs, ys = x[row], y[row]
        if np.ptp(xs) == 0 or np.ptp(ys) == 0:
            continue
        f = sps.spearmanr if method == "spearman" else sps.pearsonr
        ref.append(f(xs, ys).statistic)
    lo, hi = np.percentile(ref, [2.5, 97.5])
    ci = stats.correlation_ci(X, Y, method=method, resamples=resamples, seed=seed)
    assert ci.undefined == resamples - len(ref)
    assert ci.low == pytest.approx(lo, abs=1e-12) and ci.high == pytest.approx(hi, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=4, max_size=12))
def test_spearman_with_ties_matches_scipy(pairs: list[tuple[int, int]]) -> None:
    x = [float(a) for a, _ in pairs]
    y = [float(b) for _, b in pairs]
    ci = stats.correlation_ci(x, y, resamples=20)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        assert ci.estimate is None
    else:
        assert ci.estimate == pytest.approx(sps.spearmanr(x, y).statistic, abs=1e-9)


def test_few_tasks_give_no_interval_rather_than_a_narrow_one() -> None:
    # Three tasks: a third or more of the resamples repeat one task and have no r.
    ci = stats.correlation_ci([0.1, 0.5, 0.9], [0.2, 0.4, 0.8], resamples=400)
    assert ci.estimate == pytest.approx(1.0)
    assert ci.low is None and ci.high is None and ci.undefined > 10


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="spearman or pearson"):
        stats.correlation_ci(X, Y, method="kendall")


def test_independent_relative_drop() -> None:
    math500 = [1.0] * 6 + [0.0] * 4  # 60%
    hard = [1.0] * 3 + [0.0] * 7  # 30%
    d = stats.independent_relative_drop_ci(math500, hard, resamples=2000)
    assert d.estimate == pytest.approx(0.5)
    assert d.low is not None and d.high is not None and d.low < 0.5 < d.high
    # groups of different sizes are fine (no pairing)
    d2 = stats.independent_relative_drop_ci(math500, hard[:5], resamples=200)
    assert d2.estimate == pytest.approx((0.6 - 0.6) / 0.6)
    assert stats.independent_relative_drop_ci([0.0, 0.0], [1.0]).estimate is None


def test_independent_difference_matches_a_hand_loop() -> None:
    a, b = [0.1, 0.3, 0.2, 0.5], [0.6, 0.4, 0.7]
    ci = stats.independent_difference_ci(a, b, resamples=100, seed=3)
    assert ci.estimate == pytest.approx(np.mean(b) - np.mean(a))
    rng = np.random.default_rng(3)
    ia = rng.integers(0, 4, size=(100, 4))
    ib = rng.integers(0, 3, size=(100, 3))
    diffs = np.asarray(b)[ib].mean(axis=1) - np.asarray(a)[ia].mean(axis=1)
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    assert ci.low == pytest.approx(lo) and ci.high == pytest.approx(hi)
