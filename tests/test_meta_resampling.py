"""Bootstrap, permutation tests and significance clusters: invariants, determinism, and the
vectorised paths against straightforward per-resample loops on the same draws."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from metricrm.core.errors import ScorerConfigError
from metricrm.meta import (
    MEAN,
    PEARSON,
    SPEARMAN,
    bootstrap,
    bootstrap_distribution,
    bootstrap_indices,
    correlate,
    kendall_tau_b,
    paired_permutation_test,
    pairwise_outcomes,
    permutation_distribution,
    permutation_masks,
    rank_scorers,
    significance_clusters,
    spearman,
    system_level,
    system_segment_matrix,
)

MQM = Path("scored") / "wmt-mqm-ted-ende" / "mqm_ted_ende.avg_seg_scores.tsv"


@pytest.fixture(scope="module")
def pairs() -> dict:
    """Synthetic preference pairs: a decent scorer with some exact score ties, and human ties."""
    rng = np.random.default_rng(7)
    n = 600
    chosen = np.round(rng.normal(0.4, 1.0, n), 1)
    rejected = np.round(rng.normal(0.0, 1.0, n), 1)
    human_ties = rng.random(n) < 0.1
    return {"outcomes": pairwise_outcomes(chosen, rejected, human_ties=human_ties), "n": n}


@pytest.fixture(scope="module")
def mqm_matrix(shared_data: Path) -> dict:
    systems, segments, human = [], [], []
    for line in (shared_data / MQM).read_text(encoding="utf-8").splitlines()[1:]:
        system, rest = line.split("\t")
        score, seg = rest.split(" ")
        systems.append(system)
        segments.append(int(seg))
        human.append(np.nan if score == "None" else float(score))
    human = np.array(human)
    metric = 0.5 * np.nan_to_num(human) + np.random.default_rng(3).normal(size=human.size)
    H, _, _ = system_segment_matrix(human, systems, segments)
    M, _, _ = system_segment_matrix(metric, systems, segments)
    return {
        "H": H,
        "M": M,
        "human": human,
        "metric": metric,
        "systems": np.array(systems),
        "segments": np.array(segments),
    }


# ------------------------------------------------------------------------------------ bootstrap


def test_bootstrap_interval_contains_estimate_and_is_deterministic(pairs):
    o = pairs["outcomes"]
    r = bootstrap(MEAN, o, rng=np.random.default_rng(1), n_resamples=500)
    assert r.estimate == pytest.approx(np.nanmean(o))
    assert r.low < r.estimate < r.high
    assert r.high - r.low < 0.2 and r.n_invalid == 0
    same = bootstrap(MEAN, o, rng=np.random.default_rng(1), n_resamples=500)
    other = bootstrap(MEAN, o, rng=np.random.default_rng(2), n_resamples=500)
    np.testing.assert_array_equal(r.distribution, same.distribution)
    assert (r.low, r.high) == (same.low, same.high)
    assert not np.array_equal(r.distribution, other.distribution)
    # the resamples are the rows of bootstrap_indices for the same seed, though drawn in blocks
    idx = bootstrap_indices(o.size, 500, np.random.default_rng(1))
    np.testing.assert_array_equal(r.distribution, bootstrap_distribution(MEAN, [o], idx))


def test_wider_confidence_gives_wider_interval(pairs):
    narrow = bootstrap(MEAN, pairs["outcomes"], rng=np.random.default_rng(1), confidence=0.8)
    wide = bootstrap(MEAN, pairs["outcomes"], rng=np.random.default_rng(1), confidence=0.99)
    assert wide.low < narrow.low and narrow.high < wide.high


def test_vectorised_mean_equals_loop_exactly(pairs):
    o = pairs["outcomes"]  # values 0, 0.5, 1 and NaN (excluded human ties)
    idx = bootstrap_indices(o.size, 300, np.random.default_rng(11))
    assert idx.shape == (300, o.size)
    fast = bootstrap_distribution(MEAN, [o], idx)
    loop = np.array([np.nanmean(o[i]) for i in idx])
    np.testing.assert_array_equal(fast, loop)


def test_vectorised_correlations_equal_scipy_loop():
    rng = np.random.default_rng(4)
    h = rng.normal(size=80)
    m = np.round(h + rng.normal(size=80), 1)  # ties for Spearman
    idx = bootstrap_indices(80, 200, np.random.default_rng(12))
    fast_p = bootstrap_distribution(PEARSON, [m, h], idx)
    fast_s = bootstrap_distribution(SPEARMAN, [m, h], idx)
    np.testing.assert_allclose(
        fast_p, [stats.pearsonr(m[i], h[i]).statistic for i in idx], rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(
        fast_s, [stats.spearmanr(m[i], h[i]).statistic for i in idx], rtol=0, atol=1e-12
    )


@pytest.mark.shared_data
def test_system_level_bootstrap_equals_loop_on_mqm(mqm_matrix):
    H, M = mqm_matrix["H"], mqm_matrix["M"]  # (14 systems, 606 segments), NaN = unscored
    idx = bootstrap_indices(H.shape[1], 100, np.random.default_rng(13))
    fast = bootstrap_distribution(system_level("pearson"), [M.T, H.T], idx)
    loop = []
    for i in idx:
        h, m = H[:, i], M[:, i]
        scored = ~np.isnan(h)
        sys_h = np.nansum(h, axis=1) / scored.sum(axis=1)
        sys_m = np.where(scored, m, 0).sum(axis=1) / scored.sum(axis=1)
        loop.append(stats.pearsonr(sys_h, sys_m).statistic)
    np.testing.assert_allclose(fast, loop, rtol=0, atol=1e-12)
    # the point estimate is the system-level correlation of the level wrapper
    point = correlate(
        mqm_matrix["human"], mqm_matrix["metric"], level="system", systems=mqm_matrix["systems"]
    )
    assert system_level("pearson")(M.T, H.T) == pytest.approx(point.statistic, abs=1e-12)


@pytest.mark.shared_data
@pytest.mark.parametrize(("corr", "fn"), [("spearman", spearman), ("kendall", kendall_tau_b)])
def test_system_level_rank_correlations_match_the_level_wrapper(mqm_matrix, corr, fn):
    H, M = mqm_matrix["H"], mqm_matrix["M"]
    point = correlate(
        mqm_matrix["human"], mqm_matrix["metric"], fn, level="system", systems=mqm_matrix["systems"]
    )
    assert system_level(corr)(M.T, H.T) == pytest.approx(point.statistic, abs=1e-12)


def test_group_bootstrap_equals_loop_over_whole_groups(pairs):
    o = pairs["outcomes"]
    groups = np.arange(o.size) // 7  # 86 groups of up to 7 pairs
    draws = bootstrap_indices(int(groups.max()) + 1, 200, np.random.default_rng(14))
    fast = bootstrap_distribution(MEAN, [o], draws, groups=groups)
    loop = [np.nanmean(np.concatenate([o[groups == g] for g in row])) for row in draws]
    np.testing.assert_array_equal(fast, loop)
    # the plain-callable fallback sees the same resamples
    slow = bootstrap_distribution(lambda x: np.nanmean(x), [o], draws, groups=groups)
    np.testing.assert_array_equal(slow, loop)


def test_group_bootstrap_relabels_repeated_groups():
    # every resample draws 5 groups, possibly the same one twice: passed labels keep copies apart
    values = np.arange(10.0)
    groups = np.repeat(np.arange(5), 2)
    r = bootstrap(
        lambda x, groups: float(np.unique(groups).size),
        values,
        rng=np.random.default_rng(0),
        n_resamples=50,
        groups=groups,
        pass_groups=True,
    )
    assert set(r.distribution) == {5.0}


def test_bootstrap_rejects_global_or_missing_rng(pairs):
    with pytest.raises(ScorerConfigError, match=r"`rng` must be a numpy.random.Generator"):
        bootstrap(MEAN, pairs["outcomes"], rng=np.random.RandomState(0))


# ---------------------------------------------------------------------------- permutation tests


def test_permutation_identical_scorers_give_p_one(pairs):
    o = pairs["outcomes"]
    r = paired_permutation_test(MEAN, o, o.copy(), rng=np.random.default_rng(0))
    assert r.difference == 0.0 and r.pvalue == 1.0


def test_permutation_clearly_different_scorers_give_small_p(pairs):
    o = pairs["outcomes"]
    worse = np.where(np.arange(o.size) % 3 == 0, 0.0, o)  # a third of the pairs turned wrong
    r = paired_permutation_test(MEAN, o, worse, rng=np.random.default_rng(0), n_resamples=999)
    assert r.difference > 0.1
    assert r.pvalue == pytest.approx(1 / 1000)  # no permutation reaches the observed difference
    reverse = paired_permutation_test(MEAN, worse, o, rng=np.random.default_rng(0), n_resamples=999)
    assert reverse.pvalue > 0.99
    two = paired_permutation_test(
        MEAN, worse, o, rng=np.random.default_rng(0), n_resamples=999, alternative="two-sided"
    )
    assert two.pvalue == pytest.approx(1 / 1000)


def test_permutation_vectorised_equals_loop_with_same_masks(pairs):
    o = pairs["outcomes"]
    rng = np.random.default_rng(21)
    other = np.where(rng.random(o.size) < 0.2, 1.0 - np.nan_to_num(o, nan=0.5), o)
    masks = permutation_masks(o.size, 300, np.random.default_rng(22))
    fast = permutation_distribution(MEAN, o, other, [], masks)
    loop = [np.nanmean(np.where(s, other, o)) - np.nanmean(np.where(s, o, other)) for s in masks]
    np.testing.assert_array_equal(fast, loop)

    h = rng.normal(size=120)
    a, b = h + rng.normal(size=120), h + 2 * rng.normal(size=120)
    masks = permutation_masks(120, 200, np.random.default_rng(23))
    fast = permutation_distribution(PEARSON, a, b, [h], masks)
    loop = [
        stats.pearsonr(np.where(s, b, a), h).statistic
        - stats.pearsonr(np.where(s, a, b), h).statistic
        for s in masks
    ]
    np.testing.assert_allclose(fast, loop, rtol=0, atol=1e-12)


def test_permutation_test_is_deterministic_per_seed():
    rng = np.random.default_rng(8)
    h = rng.normal(size=100)
    a, b = h + rng.normal(size=100), h + 1.5 * rng.normal(size=100)
    r1 = paired_permutation_test(PEARSON, a, b, h, rng=np.random.default_rng(5), standardize=True)
    r2 = paired_permutation_test(PEARSON, a, b, h, rng=np.random.default_rng(5), standardize=True)
    r3 = paired_permutation_test(PEARSON, a, b, h, rng=np.random.default_rng(6), standardize=True)
    assert r1.pvalue == r2.pvalue and np.array_equal(r1.distribution, r2.distribution)
    assert not np.array_equal(r1.distribution, r3.distribution)
    assert r1.difference == pytest.approx(
        stats.pearsonr(a, h).statistic - stats.pearsonr(b, h).statistic
    )


# -------------------------------------------------------------------------------------- clusters


def test_clusters_from_a_constructed_p_matrix():
    names = ["C", "A", "E", "B", "D"]  # given out of order on purpose
    values = [0.60, 0.90, 0.30, 0.85, 0.58]
    order = {n: i for i, n in enumerate(names)}
    p = np.full((5, 5), 0.5)
    p[order["A"], order["B"]] = 0.30  # B not worse than A -> cluster 1
    p[order["A"], order["C"]] = 0.01  # C worse than head A -> opens cluster 2
    p[order["C"], order["D"]] = 0.40  # D not worse than head C -> cluster 2
    p[order["C"], order["E"]] = 0.001  # E worse than C -> cluster 3
    r = significance_clusters(names, values, p, alpha=0.05)
    assert r.names == ["A", "B", "C", "D", "E"]
    assert r.as_dict() == {"A": 1, "B": 1, "C": 2, "D": 2, "E": 3}
    # Now A (the head) is not significantly better than C but B is: C stays in cluster 1 under
    # rule "head" and opens cluster 2 under rule "any" (any member of the current cluster).
    p[order["A"], order["C"]] = 0.20
    p[order["B"], order["C"]] = 0.01
    assert significance_clusters(names, values, p, rule="head").as_dict()["C"] == 1
    assert significance_clusters(names, values, p, rule="any").as_dict()["C"] == 2


def test_lower_is_better_sorts_ascending():
    r = significance_clusters(["x", "y"], [2.0, 1.0], np.full((2, 2), 0.5), higher_is_better=False)
    assert r.names == ["y", "x"]


def test_rank_scorers_end_to_end():
    n = 400
    a = np.r_[np.ones(360), np.zeros(40)]
    b = a.copy()
    b[:11] = 0.0  # b loses 11 pairs a wins ...
    b[360:369] = 1.0  # ... and wins 9 that a loses: no real difference
    c = np.r_[np.ones(240), np.zeros(160)]
    r = rank_scorers(MEAN, {"c": c, "b": b, "a": a}, rng=np.random.default_rng(0), n_resamples=999)
    assert r.names == ["a", "b", "c"]
    assert r.as_dict() == {"a": 1, "b": 1, "c": 2}
    assert r.pvalues[0, 1] > 0.05 and r.pvalues[0, 2] == pytest.approx(1 / 1000)
    assert r.values.tolist() == [0.9, pytest.approx(358 / n), 0.6]
    again = rank_scorers(
        MEAN, {"c": c, "b": b, "a": a}, rng=np.random.default_rng(0), n_resamples=999
    )
    np.testing.assert_array_equal(r.pvalues, again.pvalues)


# ------------------------------------------------------------------- "counts" draws (same law)


@pytest.mark.parametrize("method", ["indices", "counts"])
def test_bootstrap_methods_follow_the_exact_bootstrap_law(method):
    # Outcomes [1, 0]: the resampled mean is 0, 0.5 or 1 with probabilities 1/4, 1/2, 1/4.
    r = bootstrap(
        MEAN, np.array([1.0, 0.0]), rng=np.random.default_rng(3), n_resamples=4000, method=method
    )
    freq = [np.mean(r.distribution == v) for v in (0.0, 0.5, 1.0)]
    np.testing.assert_allclose(freq, [0.25, 0.5, 0.25], atol=0.03)
    again = bootstrap(
        MEAN, np.array([1.0, 0.0]), rng=np.random.default_rng(3), n_resamples=4000, method=method
    )
    np.testing.assert_array_equal(r.distribution, again.distribution)


@pytest.mark.parametrize("method", ["indices", "counts"])
def test_permutation_methods_follow_the_exact_null(method):
    # a beats b on 3 of 10 items and ties elsewhere: observed diff 0.3 is reached only when none
    # of the 3 is swapped, probability 1/8.
    a = np.r_[np.ones(3), np.zeros(7)]
    b = np.zeros(10)
    r = paired_permutation_test(
        MEAN, a, b, rng=np.random.default_rng(9), n_resamples=8000, method=method
    )
    assert r.difference == pytest.approx(0.3)
    assert r.pvalue == pytest.approx(1 / 8, abs=0.02)
    same = paired_permutation_test(MEAN, a, a.copy(), rng=np.random.default_rng(9), method=method)
    assert same.pvalue == 1.0


def test_counts_bootstrap_agrees_with_indices_on_real_sized_data(pairs):
    o = pairs["outcomes"]
    by_idx = bootstrap(MEAN, o, rng=np.random.default_rng(1), n_resamples=2000)
    by_cnt = bootstrap(MEAN, o, rng=np.random.default_rng(1), n_resamples=2000, method="counts")
    assert by_cnt.estimate == by_idx.estimate
    assert by_cnt.distribution.std() == pytest.approx(by_idx.distribution.std(), rel=0.1)
    assert by_cnt.low == pytest.approx(by_idx.low, abs=0.01) and by_cnt.high == pytest.approx(
        by_idx.high, abs=0.01
    )
    with pytest.raises(ScorerConfigError, match=r"method='counts' needs a SumStatistic"):
        bootstrap(PEARSON, o, o, rng=np.random.default_rng(1), method="counts")
