"""Contracts of metricrm.meta.darr and metricrm.meta.subsample found by mutation testing: DARR
pairs and tau-like against a loop over item pairs (groups, NaN, the threshold either side),
subsample draws against their documented law (uniform subsets, proportional strata with the
remainders to the largest fractional parts and ties at random), the subsampled significance
against the same tests run by hand with one generator, and every error message in full."""

from __future__ import annotations

from collections import Counter
from itertools import combinations

import numpy as np
import pytest

from metricrm.core.errors import ScorerConfigError, ScorerInputError
from metricrm.meta import (
    MEAN,
    darr_tau_like,
    kendall_tau_like,
    paired_permutation_test,
    relative_ranking_pairs,
    subsample_indices,
    subsampled_significance,
)

from .contract_helpers import raises_exactly as _raises

NAN = float("nan")


def _brute_pairs(s, groups, threshold, inclusive):
    better, worse = [], []
    labels = [0] * len(s) if groups is None else list(groups)
    for g in sorted(set(labels)):
        members = [k for k in range(len(s)) if labels[k] == g and not np.isnan(s[k])]
        for x, y in combinations(members, 2):
            d = s[x] - s[y]
            if (abs(d) >= threshold) if inclusive else (abs(d) > threshold):
                better.append(x if d > 0 else y)
                worse.append(y if d > 0 else x)
    return better, worse


@pytest.mark.parametrize("inclusive", [True, False])
def test_darr_pairs_and_tau_like_equal_a_loop(inclusive):
    rng = np.random.default_rng(0)
    for trial in range(60):
        n = int(rng.integers(1, 15))
        s = rng.integers(0, 5, size=n) * 12.5
        s[rng.random(n) < 0.1] = np.nan
        groups = None if trial % 3 == 0 else rng.choice(["b", "a", "c"], size=n)
        threshold = [25.0, 12.5, 25, np.float32(37.5)][trial % 4]
        b, w = relative_ranking_pairs(s, groups=groups, threshold=threshold, inclusive=inclusive)
        want_b, want_w = _brute_pairs(s, groups, float(threshold), inclusive)
        assert b.tolist() == want_b and w.tolist() == want_w
        assert b.dtype == np.intp and w.dtype == np.intp
        if not want_b:
            continue
        m = rng.integers(0, 3, size=n).astype(float)
        for higher in (True, False):
            r = darr_tau_like(
                s,
                m,
                groups=groups,
                threshold=threshold,
                inclusive=inclusive,
                higher_is_better=higher,
            )
            assert r == kendall_tau_like(m[want_b], m[want_w], higher_is_better=higher)


def test_darr_defaults_25_points_inclusive_higher_is_better():
    s = [0.0, 25.0, 50.0, 74.0]
    b, w = relative_ranking_pairs(s)
    assert (b.tolist(), w.tolist()) == ([1, 2, 3, 2, 3], [0, 0, 0, 1, 1])
    r = darr_tau_like(s, [0.0, 1.0, 2.0, 3.0])
    assert (r.concordant, r.discordant) == (5, 0)
    b, w = relative_ranking_pairs([1.0])
    assert b.size == w.size == 0 and b.dtype == np.intp


def test_uniform_subsamples_are_uniform_sorted_and_distinct():
    rng = np.random.default_rng(1)
    seen = Counter()
    for _ in range(3000):
        idx = subsample_indices(4, 2, rng=rng)
        assert idx.tolist() == sorted(set(idx.tolist())) and idx.dtype.kind == "i"
        seen[tuple(idx.tolist())] += 1
    assert set(seen) == set(combinations(range(4), 2))
    assert all(abs(c - 500) < 90 for c in seen.values())  # 6 subsets, 500 each expected
    assert subsample_indices(3, 3, rng=rng).tolist() == [0, 1, 2]


def test_stratified_subsamples_take_proportional_shares():
    rng = np.random.default_rng(2)
    for _ in range(200):
        k = int(rng.integers(1, 5))
        strata = rng.integers(0, k, size=int(rng.integers(1, 30)))
        n = strata.size
        size = int(rng.integers(1, n + 1))
        idx = subsample_indices(n, size, rng=rng, strata=strata)
        assert idx.size == size and np.unique(idx).size == size and (np.diff(idx) > 0).all()
        labels, counts = np.unique(strata, return_counts=True)
        ideal = size * counts / n
        took = np.array([np.sum(strata[idx] == lab) for lab in labels])
        assert (took >= np.floor(ideal)).all() and (took <= np.floor(ideal) + 1).all()
        assert (took <= counts).all()
        # every stratum given an extra item has a fractional part >= any stratum without one
        frac = ideal - np.floor(ideal)
        extra = took > np.floor(ideal)
        if extra.any() and (~extra).any():
            assert frac[extra].min() >= frac[~extra].max() - 1e-12


def test_equal_remainders_are_broken_at_random():
    rng = np.random.default_rng(3)
    seen = Counter()
    for _ in range(1500):
        (i,) = subsample_indices(3, 1, rng=rng, strata=["x", "y", "z"])
        seen[int(i)] += 1
    assert set(seen) == {0, 1, 2} and all(abs(c - 500) < 90 for c in seen.values())
    # within a stratum every item is as likely
    seen = Counter(
        tuple(subsample_indices(4, 2, rng=rng, strata=[0, 0, 1, 1]).tolist()) for _ in range(2000)
    )
    assert set(seen) == {(0, 2), (0, 3), (1, 2), (1, 3)}
    assert all(abs(c - 500) < 90 for c in seen.values())


def test_subsampled_significance_equals_the_tests_run_by_hand():
    rng = np.random.default_rng(4)
    a = rng.normal(size=30) + 0.3
    b = rng.normal(size=30)
    strata = np.repeat([0, 1, 2], 10)
    for kw in ({}, {"strata": strata, "alpha": 0.2, "n_resamples": 50, "alternative": "less"}):
        got = subsampled_significance(
            MEAN, a, b, size=12, rng=np.random.default_rng(9), n_subsamples=7, **kw
        )
        gen = np.random.default_rng(9)
        test_kw = {k: v for k, v in kw.items() if k not in ("strata", "alpha")}
        p, d = [], []
        for _ in range(7):
            idx = subsample_indices(30, 12, rng=gen, strata=kw.get("strata"))
            r = paired_permutation_test(MEAN, a[idx], b[idx], rng=gen, **test_kw)
            p.append(r.pvalue)
            d.append(r.difference)
        np.testing.assert_array_equal(got.pvalues, p)
        np.testing.assert_array_equal(got.differences, d)
        alpha = kw.get("alpha", 0.05)
        assert got.share_significant == np.mean(np.array(p) < alpha)
        assert (got.size, got.alpha) == (12, alpha) and type(got.alpha) is float
    # default: 100 subsamples
    r = subsampled_significance(MEAN, a, b, size=5, rng=np.random.default_rng(0), n_resamples=10)
    assert r.pvalues.size == r.differences.size == 100
    # p exactly alpha is not significant (one resample: p is 0.5 or 1)
    r = subsampled_significance(
        MEAN,
        a,
        b,
        size=30,
        rng=np.random.default_rng(0),
        n_subsamples=10,
        n_resamples=1,
        alpha=0.5,
    )
    assert (r.pvalues == 0.5).any() and r.share_significant == 0.0


def test_errors_in_full():
    who = "relative_ranking_pairs"
    with _raises(
        ScorerInputError,
        f"{who}: `scores` has inf at index 0 (1 such entries); "
        "expected a finite number or NaN (missing)",
    ):
        relative_ranking_pairs([np.inf])
    for bad in (0, -1.0, True, "25", NAN, None):
        with _raises(
            ScorerConfigError,
            f"{who}: `threshold` must be a number > 0 "
            f"(got {bad!r}); equal scores never make a pair",
        ):
            relative_ranking_pairs([1.0, 2.0], threshold=bad)
    with _raises(
        ScorerInputError,
        f"{who}: expected `groups` to have one label per item (2) (got shape (1,))",
    ):
        relative_ranking_pairs([1.0, 2.0], groups=[0])

    who = "darr_tau_like"
    with _raises(
        ScorerInputError,
        f"{who}: `metric` has nan at index 1 (1 such entries); expected a finite number",
    ):
        darr_tau_like([1.0, 2.0], [1.0, NAN])
    with _raises(
        ScorerInputError,
        f"{who}: `human` has inf at index 1 (1 such entries); "
        "expected a finite number or NaN (missing)",
    ):
        darr_tau_like([1.0, np.inf], [1.0, 2.0])
    with _raises(
        ScorerInputError,
        f"{who}: expected one entry per item in every input (got 2 human, 1 metric)",
    ):
        darr_tau_like([1.0, 2.0], [1.0])
    with _raises(
        ScorerInputError,
        f"{who}: no two items of a group differ by 25.0 or more; expected at least one pair",
    ):
        darr_tau_like([0.0, 24.0, 60.0], [1.0, 2.0, 3.0], groups=[0, 0, 1])
    with _raises(
        ScorerInputError,
        f"{who}: no two items of a group differ by more than 25; expected at least one pair",
    ):
        darr_tau_like([0.0, 25.0], [1.0, 2.0], threshold=25, inclusive=False)

    who = "subsample_indices"
    with _raises(
        ScorerConfigError,
        f"{who}: `rng` must be a numpy.random.Generator, e.g. "
        "numpy.random.default_rng(0) (got int)",
    ):
        subsample_indices(3, 1, rng=0)
    for name, args in (("n", (0, 1)), ("size", (3, 0))):
        with _raises(ScorerConfigError, f"{who}: `{name}` must be an integer >= 1 (got 0)"):
            subsample_indices(*args, rng=np.random.default_rng(0))
    with _raises(ScorerConfigError, f"{who}: `size` must be <= n = 3 (got 4)"):
        subsample_indices(3, 4, rng=np.random.default_rng(0))
    with _raises(
        ScorerInputError,
        f"{who}: expected `strata` to have one label per item (3) (got shape (2,))",
    ):
        subsample_indices(3, 1, rng=np.random.default_rng(0), strata=[0, 1])

    who = "subsampled_significance"
    a, b = [1.0, 2.0, 3.0], [1.0, 2.0, 2.0]
    with _raises(
        ScorerConfigError,
        f"{who}: `rng` must be a numpy.random.Generator, e.g. "
        "numpy.random.default_rng(0) (got NoneType)",
    ):
        subsampled_significance(MEAN, a, b, size=2, rng=None)
    with _raises(ScorerConfigError, f"{who}: `n_subsamples` must be an integer >= 1 (got 0)"):
        subsampled_significance(MEAN, a, b, size=2, rng=np.random.default_rng(0), n_subsamples=0)
    for bad in (0, 1.5, True):
        with _raises(ScorerConfigError, f"{who}: `alpha` must be a number in (0, 1] (got {bad!r})"):
            subsampled_significance(MEAN, a, b, size=2, rng=np.random.default_rng(0), alpha=bad)
    with _raises(
        ScorerInputError,
        f"{who}: expected one entry per item in every input (got 3 array 0, 2 array 1)",
    ):
        subsampled_significance(MEAN, a, b[:2], size=2, rng=np.random.default_rng(0))


def test_a_threshold_below_one_orders_small_differences():
    b, w = relative_ranking_pairs([1.0, 1.75, 1.25], threshold=0.5)
    assert (b.tolist(), w.tolist()) == ([1, 1], [0, 2])
    assert darr_tau_like([1.0, 1.75, 1.25], [0.0, 1.0, 2.0], threshold=0.5).concordant == 1
