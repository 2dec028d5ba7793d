"""Contracts of metricrm.meta.pairwise_perm found by mutation testing: the compared pairs and the
statistic against a per-pair loop, the permutation test against a brute force that swaps, resample
by resample, which metric's comparison counts for which side (the same swap draws, in the
module's fixed blocks), every argument passed on (variant, alternative, plus_one, early stopping,
calibrated epsilons, max_pairs) and every error message of the module in full."""

from __future__ import annotations

import math

import numpy as np
import pytest

from metricrm.core.errors import ScorerConfigError, ScorerInputError
from metricrm.meta import (
    EarlyStopping,
    pairwise_comparisons,
    pairwise_permutation_test,
    tie_calibrated_accuracy,
)

from .contract_helpers import raises_exactly as _raises

BLOCK = 1 << 18  # swap draws per block of resamples (resamples x disagreeing pairs)


def _pairs(h, groups):
    """(first, second, group) of every pair of scored items inside a group, groups in sorted label
    order, items in input order; and the number of labels without such a pair."""
    labels = sorted(set(groups))
    parts = [[k for k in range(len(h)) if groups[k] == g and not math.isnan(h[k])] for g in labels]
    used = [p for p in parts if len(p) > 1]
    out = []
    for g, members in enumerate(used):
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                out.append((members[x], members[y], g))
    return out, len(used), len(labels) - len(used)


def _sign(v: float) -> int:
    return int(v > 0) - int(v < 0)


def _right(h, m, i, j, eps) -> float:
    dm = m[i] - m[j]
    return float(_sign(h[i] - h[j]) == (0 if abs(dm) <= eps else _sign(dm)))


def _stat(correct, groups_of_pairs, n_groups) -> float:
    """Mean over groups of the share of right pairs."""
    per = [[c for c, g in zip(correct, groups_of_pairs) if g == k] for k in range(n_groups)]
    return sum(sum(p) / len(p) for p in per) / n_groups


def _brute_test(h, a, b, groups, eps_a, eps_b, n, seed, variant, alternative, plus_one, early):
    pairs, n_groups, _ = _pairs(h, groups)
    gp = [g for _, _, g in pairs]
    ca = [_right(h, a, i, j, eps_a) for i, j, _ in pairs]
    cb = [_right(h, b, i, j, eps_b) for i, j, _ in pairs]
    scale, shift = (2.0, -1.0) if variant == "tau23" else (1.0, 0.0)
    va = scale * _stat(ca, gp, n_groups) + shift
    vb = scale * _stat(cb, gp, n_groups) + shift
    differ = [k for k in range(len(pairs)) if ca[k] != cb[k]]
    rng = np.random.default_rng(seed)
    chunk = max(1, BLOCK // max(len(differ), 1))
    swaps = []
    while len(swaps) < n:
        rows = min(chunk, n - len(swaps))
        swaps.extend(rng.integers(0, 2, size=(rows, len(differ)), dtype=bool))
    null = []
    for swap in swaps:
        xa, xb = list(ca), list(cb)
        for k, s in zip(differ, swap):
            if s:
                xa[k], xb[k] = cb[k], ca[k]
        null.append(scale * (_stat(xa, gp, n_groups) - _stat(xb, gp, n_groups)))
    observed = va - vb
    tol = 1e-12 * max(1.0, abs(observed))

    def hit(v):
        if alternative == "greater":
            return v >= observed - tol
        if alternative == "less":
            return v <= observed + tol
        return abs(v) >= abs(observed) - tol

    used = n
    if early is not None:
        used = 0
        while used < n:
            used = min(used + early.block, n)
            p_hat = sum(map(hit, null[:used])) / used
            if used % early.block == 0 and (p_hat < early.low or p_hat > early.high):
                break
    hits = sum(map(hit, null[:used]))
    p = (hits + 1) / (used + 1) if plus_one else hits / used
    return va, vb, observed, np.array(null[:used]), p, len(pairs), n_groups, len(differ)


def _data(rng, n_items, n_labels):
    h = rng.integers(0, 3, size=n_items).astype(float)
    h[rng.random(n_items) < 0.1] = np.nan
    a = np.round(h + rng.normal(scale=0.8, size=n_items), 1)
    a[np.isnan(a)] = 0.0
    b = rng.integers(0, 4, size=n_items).astype(float)
    groups = rng.integers(0, n_labels, size=n_items)
    return h, a, b, groups


@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
@pytest.mark.parametrize("variant", ["acc23", "tau23"])
def test_permutation_test_equals_a_brute_force_over_the_same_swaps(alternative, variant):
    rng = np.random.default_rng(12)
    for trial in range(12):
        h, a, b, groups = _data(rng, int(rng.integers(6, 20)), int(rng.integers(1, 4)))
        if sum(len(p) for p in [_pairs(h, groups)[0]]) == 0:
            continue
        eps_a, eps_b = [0.0, 0.3, 1][trial % 3], [0.0, 0, 0.5][trial % 3]
        plus_one = trial % 2 == 0
        early = EarlyStopping(block=20, low=0.1, high=0.6) if trial % 4 == 1 else None
        seed = 100 + trial
        r = pairwise_permutation_test(
            h,
            a,
            b,
            rng=np.random.default_rng(seed),
            groups=groups,
            epsilon_a=eps_a,
            epsilon_b=eps_b,
            variant=variant,
            n_resamples=150,
            alternative=alternative,
            plus_one=plus_one,
            early_stopping=early,
        )
        va, vb, obs, null, p, n_pairs, n_groups, n_dis = _brute_test(
            h,
            a,
            b,
            groups.tolist(),
            eps_a,
            eps_b,
            150,
            seed,
            variant,
            alternative,
            plus_one,
            early,
        )
        assert (r.value_a, r.value_b, r.difference) == pytest.approx((va, vb, obs), abs=1e-12)
        np.testing.assert_allclose(r.distribution, null, atol=1e-12)
        assert r.pvalue == pytest.approx(p, abs=1e-15)
        assert (r.n_pairs, r.n_groups, r.n_disagree, r.n_used, r.n_resamples) == (
            n_pairs,
            n_groups,
            n_dis,
            null.size,
            150,
        )
        assert (r.alternative, r.variant, r.epsilon_a, r.epsilon_b) == (
            alternative,
            variant,
            eps_a,
            eps_b,
        )
        assert type(r.epsilon_a) is float and type(r.epsilon_b) is float
        assert all(type(v) is int for v in (r.n_used, r.n_pairs, r.n_disagree, r.n_groups))
        assert all(type(v) is float for v in (r.value_a, r.value_b, r.difference, r.pvalue))


def test_blocks_of_resamples_follow_each_other():
    # 600 disagreeing pairs: blocks of 436 resamples, so 1000 resamples take three draws
    rng = np.random.default_rng(1)
    n = 1200
    h = rng.normal(size=n)
    a = h.copy()
    b = -h
    groups = np.arange(n) // 2  # 600 groups of one pair: every pair disagrees
    r = pairwise_permutation_test(h, a, b, rng=np.random.default_rng(3), groups=groups)
    assert r.n_disagree == 600 and r.n_used == 1000 and r.difference == pytest.approx(1.0)
    draws = np.random.default_rng(3)
    chunk = BLOCK // 600
    swaps = np.concatenate(
        [
            draws.integers(0, 2, size=(min(chunk, 1000 - s), 600), dtype=bool)
            for s in range(0, 1000, chunk)
        ]
    )
    expected = np.where(swaps, -1.0, 1.0).sum(axis=1) / 600  # +-1/600 per pair
    np.testing.assert_allclose(r.distribution, expected, atol=1e-12)
    assert r.pvalue == 1 / 1001  # a difference of 1 needs every pair unswapped


def test_defaults_one_group_exact_ties_1000_resamples_greater_plus_one():
    h = np.array([1.0, 2.0, 3.0, 3.0])
    a = np.array([1.0, 2.0, 3.0, 3.0])  # every pair right (the tie too)
    b = np.array([3.0, 1.0, 2.0, 2.5])  # right on (1, 2) and (1, 3) only
    r = pairwise_permutation_test(h, a, b, rng=np.random.default_rng(0))
    va, vb, obs, null, p, n_pairs, n_groups, n_dis = _brute_test(
        h, a, b, [0] * 4, 0.0, 0.0, 1000, 0, "acc23", "greater", True, None
    )
    assert (r.value_a, r.value_b) == pytest.approx((va, vb)) == (1.0, 1 / 3)
    assert (r.n_pairs, r.n_groups, r.n_disagree, r.n_resamples) == (6, 1, 4, 1000)
    np.testing.assert_allclose(r.distribution, null, atol=1e-12)
    assert r.pvalue == pytest.approx(p, abs=1e-15)
    assert (r.alternative, r.variant, r.epsilon_a, r.epsilon_b) == ("greater", "acc23", 0.0, 0.0)


def test_calibrated_epsilons_use_the_groups():
    rng = np.random.default_rng(4)
    h, a, b, groups = _data(rng, 30, 3)
    r = pairwise_permutation_test(
        h,
        a,
        b,
        rng=np.random.default_rng(0),
        groups=groups,
        epsilon_a=None,
        epsilon_b=None,
        n_resamples=10,
    )
    ta = tie_calibrated_accuracy(h, a, groups=groups)
    tb = tie_calibrated_accuracy(h, b, groups=groups)
    assert (r.epsilon_a, r.epsilon_b) == (ta.epsilon, tb.epsilon)
    assert r.value_a == pytest.approx(ta.accuracy, abs=1e-12)
    assert r.value_b == pytest.approx(tb.accuracy, abs=1e-12)
    # epsilon_b alone calibrated; epsilon_a given as an int
    r = pairwise_permutation_test(
        h,
        a,
        b,
        rng=np.random.default_rng(0),
        groups=groups,
        epsilon_a=1,
        epsilon_b=None,
        n_resamples=10,
    )
    assert (r.epsilon_a, r.epsilon_b) == (1.0, tb.epsilon) and type(r.epsilon_a) is float


def test_pairwise_comparisons_equal_a_per_pair_loop():
    rng = np.random.default_rng(7)
    for trial in range(20):
        h, a, _, groups = _data(rng, int(rng.integers(4, 16)), int(rng.integers(1, 5)))
        pairs, n_groups, skipped = _pairs(h, groups.tolist())
        if not pairs:
            continue
        eps = [0.0, 0.2, 1][trial % 3]
        g = None if trial % 5 == 0 else groups
        if g is None:
            pairs, n_groups, skipped = _pairs(h, [0] * h.size)
        pc = pairwise_comparisons(h, a, groups=g, epsilon=eps)
        assert pc.first.tolist() == [i for i, _, _ in pairs]
        assert pc.second.tolist() == [j for _, j, _ in pairs]
        assert pc.group.tolist() == [k for _, _, k in pairs]
        np.testing.assert_array_equal(pc.correct, [_right(h, a, i, j, eps) for i, j, _ in pairs])
        sizes = [sum(1 for _, _, k in pairs if k == grp) for grp in range(n_groups)]
        np.testing.assert_allclose(pc.weight, [1 / (sizes[k] * n_groups) for _, _, k in pairs])
        assert (pc.n_groups, pc.n_groups_skipped) == (n_groups, skipped)
        ref = tie_calibrated_accuracy(h, a, groups=g, epsilon=eps).accuracy
        assert pc.accuracy == pytest.approx(ref, abs=1e-12) and type(pc.accuracy) is float
        assert pc.correct.dtype == np.float64


def test_max_pairs_is_an_inclusive_bound():
    h = [1.0, 2.0, 3.0]
    r = pairwise_permutation_test(
        h, h, h[::-1], rng=np.random.default_rng(0), max_pairs=3, n_resamples=5
    )
    assert r.n_pairs == 3
    assert pairwise_comparisons(h, h, max_pairs=3).correct.size == 3
    # pairs are counted within groups only
    assert pairwise_comparisons(h * 2, h * 2, groups=[0, 0, 0, 1, 1, 1], max_pairs=6).n_groups == 2


def test_identical_metrics_never_differ():
    h = [1.0, 2.0, 3.0, 1.0]
    r = pairwise_permutation_test(h, h, h, rng=np.random.default_rng(0), n_resamples=20)
    assert (r.difference, r.n_disagree) == (0.0, 0)
    np.testing.assert_array_equal(r.distribution, np.zeros(20))
    assert r.pvalue == 1.0


def test_errors_in_full():
    who = "pairwise_permutation_test"
    h, a, b = [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [3.0, 2.0, 1.0]
    g = np.random.default_rng(0)

    def run(**kw):
        args = dict(human=h, metric_a=a, metric_b=b, rng=np.random.default_rng(0))
        args.update(kw)
        return pairwise_permutation_test(
            args.pop("human"), args.pop("metric_a"), args.pop("metric_b"), **args
        )

    with _raises(
        ScorerConfigError,
        f"{who}: `rng` must be a numpy.random.Generator, e.g. "
        "numpy.random.default_rng(0) (got int)",
    ):
        run(rng=0)
    for bad in (0, 1.5, True):
        with _raises(
            ScorerConfigError, f"{who}: `n_resamples` must be an integer >= 1 (got {bad!r})"
        ):
            run(n_resamples=bad)
    with _raises(
        ScorerConfigError, f"{who}: `variant` must be one of 'acc23', 'tau23' (got 'tau')"
    ):
        run(variant="tau")
    with _raises(
        ScorerConfigError,
        f"{who}: `alternative` must be one of 'greater', 'less', 'two-sided' (got 'both')",
    ):
        run(alternative="both")
    with _raises(
        ScorerConfigError, f"{who}: `early_stopping` must be None or an EarlyStopping (got int)"
    ):
        run(early_stopping=100)
    with _raises(ScorerConfigError, f"{who}: `max_pairs` must be an integer >= 1 (got 0)"):
        run(max_pairs=0)
    with _raises(
        ScorerInputError,
        f"{who}: `human` has inf at index 2 (1 such entries); "
        "expected a finite number or NaN (missing)",
    ):
        run(human=[1.0, np.nan, np.inf])
    with _raises(
        ScorerInputError,
        f"{who}: `metric_a` has nan at index 1 (1 such entries); expected a finite number",
    ):
        run(metric_a=[1.0, np.nan, 2.0])
    with _raises(
        ScorerInputError, f"{who}: expected `metric_b` to be 1-dimensional (got shape (1, 3))"
    ):
        run(metric_b=[b])
    with _raises(
        ScorerInputError,
        f"{who}: expected one entry per item in every input (got 3 human, 3 metric_a, 2 metric_b)",
    ):
        run(metric_b=b[:2])
    for name in ("epsilon_a", "epsilon_b"):
        for bad in (-0.5, True, "0.1", float("nan")):  # NaN would tie nothing
            with _raises(
                ScorerConfigError,
                f"{who}: `{name}` must be a number >= 0 or None (calibrate) (got {bad!r})",
            ):
                run(**{name: bad})
    with _raises(
        ScorerInputError,
        f"{who}: expected `groups` to have one label per item (3) (got shape (2,))",
    ):
        run(groups=[0, 1])
    with _raises(
        ScorerInputError,
        f"{who}: 3 item pairs to compare exceed max_pairs=2; group "
        "the items (e.g. by source segment) or raise max_pairs",
    ):
        run(max_pairs=2)
    with _raises(
        ScorerInputError,
        f"{who}: expected at least one group with 2 or more scored items (got none)",
    ):
        run(groups=[0, 1, 1], human=[1.0, 2.0, np.nan])
    assert g.integers(10) == np.random.default_rng(0).integers(10)  # no draw before the checks

    who = "pairwise_comparisons"
    with _raises(
        ScorerInputError,
        f"{who}: `human` has inf at index 0 (1 such entries); "
        "expected a finite number or NaN (missing)",
    ):
        pairwise_comparisons([np.inf, 1.0], [1.0, 2.0])
    with _raises(
        ScorerInputError,
        f"{who}: `metric` has nan at index 0 (1 such entries); expected a finite number",
    ):
        pairwise_comparisons([1.0, 2.0], [np.nan, 2.0])
    with _raises(
        ScorerInputError,
        f"{who}: expected one entry per item in every input (got 2 human, 1 metric)",
    ):
        pairwise_comparisons([1.0, 2.0], [1.0])
    for bad in (None, -1, False, float("nan")):  # no calibration here: the message offers no None
        with _raises(ScorerConfigError, f"{who}: `epsilon` must be a number >= 0 (got {bad!r})"):
            pairwise_comparisons([1.0, 2.0], [1.0, 2.0], epsilon=bad)
    with _raises(
        ScorerInputError,
        f"{who}: 1 item pairs to compare exceed max_pairs=0; group "
        "the items (e.g. by source segment) or raise max_pairs",
    ):
        pairwise_comparisons([1.0, 2.0], [1.0, 2.0], max_pairs=0)
    with _raises(
        ScorerInputError,
        f"{who}: expected at least one group with 2 or more scored items (got none)",
    ):
        pairwise_comparisons([1.0, 2.0], [1.0, 2.0], groups=["x", "y"])


# ------------------------------------------------------- found by the mutation run's survivors


def test_blocks_of_one_resample_when_the_disagreements_fill_a_block():
    # one group of 514 items: 131,841 pairs, every one right for a and wrong for b, so a block
    # holds one resample (2^18 // 131,841 = 1); 131,841 is not a multiple of 32, so blocks of
    # two resamples would draw other swaps
    h = np.arange(514.0)
    r = pairwise_permutation_test(h, h, -h, rng=np.random.default_rng(5), n_resamples=3)
    assert r.n_disagree == r.n_pairs == 131_841
    draws = np.random.default_rng(5)
    swaps = [draws.integers(0, 2, size=(1, 131_841), dtype=bool) for _ in range(3)]
    expected = [np.where(s[0], -1.0, 1.0).sum() / 131_841 for s in swaps]
    np.testing.assert_allclose(r.distribution, expected, atol=1e-12)


def test_the_generator_advances_by_the_swaps_drawn_only():
    # 600 disagreeing pairs, blocks of 436 resamples: 1000 resamples draw 436 + 436 + 128 rows
    rng = np.random.default_rng(1)
    h = rng.normal(size=1200)
    groups = np.arange(1200) // 2
    mine = np.random.default_rng(3)
    pairwise_permutation_test(h, h, -h, rng=mine, groups=groups)
    ref = np.random.default_rng(3)
    for rows in (436, 436, 128):
        ref.integers(0, 2, size=(rows, 600), dtype=bool)
    assert mine.integers(2**62) == ref.integers(2**62)


def test_early_stopping_follows_the_alternative():
    # a far worse than b: for "greater" every permuted difference is a hit, p_hat = 1 > 0.9
    # stops after the first block; the same data two-sided have p_hat near 0 and never stop
    # early with low = 0
    h = np.arange(40.0)
    groups = np.arange(40) // 4
    stop = EarlyStopping(block=50, low=0.0, high=0.9)
    kw = dict(groups=groups, n_resamples=300, early_stopping=stop)
    greater = pairwise_permutation_test(h, -h, h, rng=np.random.default_rng(0), **kw)
    assert greater.n_used == 50 and greater.pvalue == 1.0
    both = pairwise_permutation_test(
        h, -h, h, rng=np.random.default_rng(0), alternative="two-sided", **kw
    )
    assert both.n_used == 300 and both.pvalue == 1 / 301
    less = pairwise_permutation_test(
        h, h, -h, rng=np.random.default_rng(0), alternative="less", **kw
    )
    assert less.n_used == 50


def test_pairwise_comparisons_default_epsilon_is_exact_ties_only():
    h = [1.0, 2.0, 3.0]
    m = [1.0, 1.5, 3.0]  # (0, 1) differs by 0.5: right with epsilon 0, a tie with epsilon 1
    assert pairwise_comparisons(h, m).correct.tolist() == [1.0, 1.0, 1.0]
    assert pairwise_comparisons(h, m, epsilon=1).correct.tolist() == [0.0, 1.0, 1.0]


def test_max_pairs_defaults_to_twenty_million():
    # one group of 6,325 items (19,999,650 pairs) and 351 groups of two: 20,000,001 pairs, one
    # above the default bound; the count is checked before any pair is built
    groups = np.concatenate([np.zeros(6325, int), 1 + np.arange(702) // 2])
    h = np.arange(groups.size, dtype=float)
    message = "20000001 item pairs to compare exceed max_pairs=20000000"
    with pytest.raises(ScorerInputError, match=message):
        pairwise_comparisons(h, h, groups=groups)
    with pytest.raises(ScorerInputError, match=message):
        pairwise_permutation_test(
            h, h, h, rng=np.random.default_rng(0), groups=groups, n_resamples=1
        )
