"""engine.analysis.stats against hand-checked values and independent closed forms."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.analysis import stats

Z = 1.959963984540054  # standard normal 97.5% quantile


def wilson_closed_form(k: int, n: int, z: float = Z) -> tuple[float, float]:
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return centre - half, centre + half


def test_wilson_known_values() -> None:
    ci = stats.proportion(7, 20)
    assert ci.p == pytest.approx(0.35)
    # worked by hand: centre 0.37417, half-width 0.19297
    assert ci.low == pytest.approx(0.18119, abs=1e-5)
    assert ci.high == pytest.approx(0.56715, abs=1e-5)
    assert str(ci) == "35.0% [18.1%, 56.7%]"


def test_wilson_at_the_edges() -> None:
    zero = stats.proportion(0, 10)
    assert zero.low == pytest.approx(0.0, abs=1e-12)
    assert zero.high == pytest.approx(Z * Z / (10 + Z * Z), rel=1e-9)  # 0.2775
    full = stats.proportion(10, 10)
    assert full.high == pytest.approx(1.0) and full.low == pytest.approx(1 - zero.high)
    empty = stats.proportion(0, 0)
    assert empty.p is None and empty.low is None and str(empty) == "n/a (n=0)"
    with pytest.raises(ValueError):
        stats.proportion(5, 3)


@given(st.integers(1, 400).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
@settings(max_examples=60, deadline=None)
def test_wilson_matches_closed_form(kn: tuple[int, int]) -> None:
    k, n = kn
    ci = stats.proportion(k, n)
    lo, hi = wilson_closed_form(k, n)
    assert ci.low == pytest.approx(lo, abs=1e-9)
    assert ci.high == pytest.approx(hi, abs=1e-9)
    assert ci.low <= k / n <= ci.high


def test_mcnemar_exact_hand_checked() -> None:
    # 1 vs 6 discordant pairs: p = 2 * P(X <= 1 | n=7, 1/2) = 2 * (1 + 7) / 128 = 0.125
    a = [True] * 3 + [True] + [False] * 6 + [False] * 2
    b = [True] * 3 + [False] + [True] * 6 + [False] * 2
    r = stats.mcnemar(a, b)
    assert (r.both, r.a_only, r.b_only, r.neither) == (3, 1, 6, 2)
    assert r.method == "exact" and r.n == 12 and r.discordant == 7
    assert r.p_value == pytest.approx(0.125)
    # 0 vs 5: p = 2 / 32
    assert stats.mcnemar_counts(0, 5)[1] == pytest.approx(0.0625)
    # symmetric, and 3 vs 3 gives p = 1
    assert stats.mcnemar_counts(6, 1)[1] == pytest.approx(0.125)
    assert stats.mcnemar_counts(3, 3)[1] == pytest.approx(1.0)


def test_mcnemar_large_counts_use_chi_square() -> None:
    stat, p, method = stats.mcnemar_counts(10, 30)
    assert method == "chi2-cc"
    assert stat == pytest.approx((20 - 1) ** 2 / 40)
    assert p == pytest.approx(math.erfc(math.sqrt(stat / 2)))  # chi-square, 1 df
    # exact can be forced, and agrees roughly with the approximation
    _, p_exact, m = stats.mcnemar_counts(10, 30, exact=True)
    assert m == "exact" and p_exact == pytest.approx(p, rel=0.3)


def test_mcnemar_without_discordant_pairs() -> None:
    r = stats.mcnemar([True, False], [True, False])
    assert r.p_value is None and r.method == "none"
    with pytest.raises(ValueError):
        stats.mcnemar([True], [True, False])


def pass_at_k_by_enumeration(n: int, c: int, k: int) -> float:
    answers = [True] * c + [False] * (n - c)
    draws = list(itertools.combinations(range(n), k))
    return sum(any(answers[i] for i in d) for d in draws) / len(draws)


@pytest.mark.parametrize(("n", "c", "k"), [(5, 2, 2), (5, 0, 3), (5, 5, 1), (6, 1, 6), (8, 3, 4)])
def test_pass_at_k_small_cases(n: int, c: int, k: int) -> None:
    value = stats.pass_at_k(n, c, k)
    assert value == pytest.approx(pass_at_k_by_enumeration(n, c, k))
    # Chen et al.'s numerically stable product form
    stable = 1.0 if n - c < k else 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))
    assert value == pytest.approx(stable)


def test_pass_at_k_closed_form_values() -> None:
    assert stats.pass_at_k(5, 2, 2) == pytest.approx(0.7)  # 1 - C(3,2)/C(5,2) = 1 - 3/10
    assert stats.pass_at_k(10, 3, 1) == pytest.approx(0.3)  # pass@1 is the mean
    assert stats.pass_at_k(20, 1, 20) == 1.0
    with pytest.raises(ValueError):
        stats.pass_at_k(3, 1, 4)


def test_majority_vote() -> None:
    assert stats.majority_vote([7, 18, 18, None, 7]) == (7, 2)  # tie: the earliest answer
    assert stats.majority_vote([None, 3, 5, 5]) == (5, 2)
    assert stats.majority_vote([None, None]) == (None, 0)
    assert stats.majority_vote([]) == (None, 0)


def test_bootstrap_is_seeded_and_sensible() -> None:
    values = [1.0] * 6 + [0.0] * 4
    a = stats.mean_ci(values, seed=3)
    b = stats.mean_ci(values, seed=3)
    assert a == b
    assert a.estimate == pytest.approx(0.6)
    assert a.low is not None and a.high is not None
    assert a.low < 0.6 < a.high
    # close to scipy's own percentile bootstrap
    from scipy.stats import bootstrap

    ref = bootstrap(
        (np.array(values),), np.mean, method="percentile", n_resamples=4000, random_state=0
    )
    assert a.low == pytest.approx(ref.confidence_interval.low, abs=0.11)
    assert a.high == pytest.approx(ref.confidence_interval.high, abs=0.11)
    const = stats.mean_ci([0.5] * 8)
    assert (const.low, const.high) == (pytest.approx(0.5), pytest.approx(0.5))


def test_paired_difference_and_relative_drop() -> None:
    base = [0, 0, 1, 1, 0, 0, 1, 0, 0, 0]
    inst = [1, 1, 1, 1, 1, 0, 1, 1, 0, 0]
    d = stats.paired_difference_ci(base, inst, seed=1)
    assert d.estimate == pytest.approx(0.4)
    assert d.low is not None and d.low > 0  # every discordant pair favours instruct
    drop = stats.relative_drop_ci([1, 1, 1, 1, 0, 0], [1, 0, 1, 0, 0, 1], seed=1)
    assert drop.estimate == pytest.approx((4 / 6 - 3 / 6) / (4 / 6))
    none = stats.relative_drop_ci([0, 0, 0], [1, 0, 0])
    assert none.estimate is None
    # original accuracy 1/10: most resamples are fine, many have no original success
    sparse = stats.relative_drop_ci([1] + [0] * 9, [0] * 10, seed=0)
    assert sparse.estimate == pytest.approx(1.0)
    assert sparse.undefined > 0 and sparse.low is None  # ~35% undefined: no honest interval


def test_correlation_refuses_few_tasks_and_constant_data() -> None:
    few = stats.correlation([0.1, 0.2, 0.3], [0.2, 0.3, 0.5])
    assert few.spearman_r is None and few.n == 3 and "too few" in few.note
    const = stats.correlation([0.1] * 5, [0.1, 0.2, 0.3, 0.4, 0.5])
    assert const.pearson_r is None and "constant" in const.note
    x = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    y = [0.2, 0.1, 0.4, 0.3, 0.6, 0.5]
    r = stats.correlation(x, y)
    assert r.pearson_r == pytest.approx(float(np.corrcoef(x, y)[0, 1]))
    # Spearman on these ranks: 1 - 6 * sum(d^2) / (n (n^2 - 1)) with d = +-1 six times
    assert r.spearman_r == pytest.approx(1 - 6 * 6 / (6 * 35))
    assert r.spearman_p is not None and 0 < r.spearman_p < 0.1


# -- the fast paths give scipy's and the old bootstrap's figures (issue 14) ----------------------


def test_wilson_is_scipys_to_the_bit() -> None:
    from scipy.stats import binomtest

    for n in [*range(1, 60), 99, 100, 257, 1000, 12_345, 125_000]:
        for k in sorted({0, 1, n // 3, n // 2, n - 1, n}):
            ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
            ours = stats.proportion(k, n)
            assert (ours.low, ours.high) == (float(ref.low), float(ref.high)), (k, n)
    ref = binomtest(3, 10).proportion_ci(confidence_level=0.9, method="wilson")
    assert stats.proportion(3, 10, confidence=0.9).low == float(ref.low)


def test_mcnemar_p_values_are_scipys_to_the_bit() -> None:
    from scipy.stats import binomtest, chi2

    for d in range(1, stats.EXACT_MCNEMAR_MAX + 1):
        for a in range(d + 1):
            _, p, method = stats.mcnemar_counts(a, d - a)
            assert method == "exact" and p == float(binomtest(a, d, 0.5).pvalue), (a, d)
    for d in (26, 27, 40, 101, 1000, 31_250):
        for a in sorted({0, 1, d // 3, d // 2, d - 1, d}):
            stat, p, method = stats.mcnemar_counts(a, d - a)
            assert method == "chi2-cc" and p == float(chi2.sf(stat, df=1)), (a, d)


def _old_bootstrap(arrays: list[np.ndarray], fn: object, resamples: int, seed: int) -> np.ndarray:
    """The resampling main used before issue 14: one index matrix per call."""
    idx = np.random.default_rng(seed).integers(0, len(arrays[0]), size=(resamples, len(arrays[0])))
    with np.errstate(divide="ignore", invalid="ignore"):
        return fn(*(a[idx].mean(axis=-1) for a in arrays))  # type: ignore[operator]


def test_small_bootstrap_draws_what_it_drew_before() -> None:
    rng = np.random.default_rng(5)
    a = (rng.random(40) < 0.4).astype(float)
    b = (rng.random(40) < 0.6).astype(float)
    for fn, ours in ((stats.mean_difference, stats.paired_difference_ci(a, b, seed=3)),
                     (stats.relative_drop, stats.relative_drop_ci(a, b, seed=3))):
        values = _old_bootstrap([a, b], fn, 2000, 3)
        alpha = 1.0 - 0.95  # as the old code computed it (not quite 0.05)
        lo, hi = np.percentile(values[~np.isnan(values)], [100 * alpha / 2, 100 * (1 - alpha / 2)])
        assert (ours.low, ours.high) == (float(lo), float(hi))
    # the cached matrix is not written to by anyone
    assert not stats._indices(40, 2000, 3, 0).flags.writeable


def test_large_bootstrap_draws_pattern_counts() -> None:
    rng = np.random.default_rng(1)
    n = 50_000  # 50,000 x 2000 item draws: above EXACT_RESAMPLING_MAX
    assert n * stats.BOOTSTRAP_RESAMPLES > stats.EXACT_RESAMPLING_MAX
    a = (rng.random(n) < 0.30).astype(float)
    b = np.where(rng.random(n) < 0.8, a, 1 - a)
    d = stats.paired_difference_ci(a, b, seed=0)
    assert d == stats.paired_difference_ci(a, b, seed=0)  # deterministic
    assert d != stats.paired_difference_ci(a, b, seed=1)
    # the paired interval: normal approximation with the discordant-pair variance
    diff = b - a
    se = diff.std() / np.sqrt(n)
    assert d.low == pytest.approx(diff.mean() - 1.96 * se, abs=0.25 * se)
    assert d.high == pytest.approx(diff.mean() + 1.96 * se, abs=0.25 * se)
    # unpaired: each sample's own variance adds up, wider than paired on correlated data
    u = stats.bootstrap_ci([a, b], stats.mean_difference, paired=False)
    se_u = np.sqrt(a.var() / n + b.var() / n)
    assert u.high - u.low == pytest.approx(2 * 1.96 * se_u, rel=0.1)
    assert u.high - u.low > d.high - d.low


def test_unpaired_bootstrap_takes_samples_of_different_sizes() -> None:
    x, y = [1.0] * 6 + [0.0] * 4, [1.0] * 3 + [0.0] * 17
    ci = stats.bootstrap_ci([x, y], stats.relative_drop, paired=False, seed=2)
    assert ci.estimate == pytest.approx((0.6 - 0.15) / 0.6)
    assert ci.low is not None and ci.low < ci.estimate < ci.high
    with pytest.raises(ValueError):
        stats.bootstrap_ci([x, y], stats.relative_drop)  # paired needs equal lengths
