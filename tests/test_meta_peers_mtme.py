"""mt-metrics-eval's own numeric test cases (google-research/mt-metrics-eval, ``stats_test.py``,
``data_test.py``, ``tasks_test.py``): their inputs and expected values, run through metricrm under
the matching convention. Each test is named after the peer test it comes from.

mt-metrics-eval packs scores system-major: with ``num_sys`` systems and ``n`` items, entry
``s * n + i`` is system ``s`` on item ``i``; "average by sys" groups by system, "by item" by item.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from metricrm.meta import (
    PEARSON,
    EarlyStopping,
    correlate,
    darr_tau_like,
    get_convention,
    global_accuracy,
    kendall_tau_b,
    kendall_tau_c,
    kendall_tau_like,
    paired_permutation_test,
    pairwise_permutation_test,
    pairwise_system_pvalues,
    pearson,
    permutation_signs,
    relative_ranking_pairs,
    significance_clusters,
    subsample_indices,
    task_weights,
    tie_calibrated_accuracy,
    williams,
    williams_test,
)


def _labels(num_sys: int, n_total: int, by: str) -> np.ndarray:
    per = n_total // num_sys
    sys_of = np.repeat(np.arange(num_sys), per)
    return sys_of if by == "sys" else np.tile(np.arange(per), num_sys)


# ----------------------------------------------------------------------------- data_test.py


@pytest.mark.parametrize(
    ("sig", "alpha", "expected"),
    [
        ([0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0], 0.5, [1, 1, 1, 1]),
        ([0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0], 1.0, [1, 2, 3, 4]),
        ([0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0], 0.5, [1, 1, 2, 2]),
        ([0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0], 0.5, [1, 2, 2, 3]),
    ],
)
def test_mtme_data_assign_ranks(sig, alpha, expected):
    # sig_matrix[i, j] (i < j, metrics sorted best first): p-value that j is not worse than i.
    conv = get_convention("wmt23")
    names = ["m0", "m1", "m2", "m3"]
    r = significance_clusters(
        names,
        [4.0, 3.0, 2.0, 1.0],
        np.array(sig, dtype=float).reshape(4, 4),
        alpha=alpha,
        rule=conv.cluster_rule,
        boundary=conv.cluster_boundary,
    )
    assert r.names == names and r.clusters.tolist() == expected


# ---------------------------------------------------------------- stats_test.py: CorrelationTest

G6, M6 = [1, 2, 3, 4, 5, 6], [2, 1, 4, 3, 3, 7]


@pytest.mark.parametrize(
    ("corr_fn", "flat", "by_sys", "by_item"),
    [
        (pearson, 0.776, 0.760, 1.00),  # testPearson
        (kendall_tau_b, 0.552, 0.575, 1.00),  # testKendall
        (kendall_tau_c, 0.556, 0.611, 1.00),  # testKendallC
    ],
)
def test_mtme_stats_correlation_pearson_kendall_kendallc(corr_fn, flat, by_sys, by_item):
    conv = get_convention("wmt23")
    kw = {"average": conv.item_average, "undefined": conv.undefined_groups}
    assert correlate(G6, M6, corr_fn).statistic == pytest.approx(flat, abs=5e-4)
    sys_lab, item_lab = _labels(2, 6, "sys"), _labels(2, 6, "item")
    r_sys = correlate(G6, M6, corr_fn, level="item", groups=sys_lab, **kw)
    r_item = correlate(G6, M6, corr_fn, level="item", groups=item_lab, **kw)
    assert r_sys.statistic == pytest.approx(by_sys, abs=5e-4)
    assert r_item.statistic == pytest.approx(by_item, abs=5e-4)


def test_mtme_stats_correlation_kendall_variants():
    g, m = [1, 2, 2, 3, 4], [2, 1, 1.5, 5, 3]
    assert kendall_tau_b(g, m).statistic == pytest.approx(0.316227766, abs=5e-8)
    assert kendall_tau_c(g, m).statistic == pytest.approx(0.32, abs=1e-12)
    acc = tie_calibrated_accuracy(g, m, epsilon=0.0).accuracy
    assert acc == pytest.approx(0.6, abs=1e-12)
    assert 2 * acc - 1 == pytest.approx(0.2, abs=1e-12)  # tau_23 = 2 acc23 - 1
    assert tie_calibrated_accuracy(g, m, epsilon=2.0).accuracy == pytest.approx(0.4, abs=1e-12)


def test_mtme_stats_correlation_kendall_with_ties_opt():
    r = tie_calibrated_accuracy([1, 2, 2, 3, 4], [2, 1, 1.5, 5, 3])
    assert r.accuracy == pytest.approx(0.7, abs=1e-12)


def test_mtme_stats_correlation_kendall_like():
    conv = get_convention("wmt20")
    r = darr_tau_like([10, np.nan, 100, 150], [2, 1, 4, 3], threshold=1)
    assert r.value == pytest.approx(1 / 3)
    # by item (pairs only within an item), pooled over items
    items = _labels(2, 4, "item")
    r = darr_tau_like([10, 11, 100, 150], [2, 1, 4, 3], groups=items, threshold=1)
    assert r.value == 1
    r = darr_tau_like([10, np.nan, 100, 150], [2, 1, 4, 3], groups=items, threshold=1)
    assert r.value == 1 and conv.darr_threshold == 25


# ------------------------------------------------------- stats_test.py: AverageCorrelationTest


def test_mtme_stats_average_by_none_and_missing_entries():
    g, m = [1, 2, 3, 4, 5, 6], [2, 1, 4, 3, 5, 6]
    r = correlate(g, m, pearson)
    ref = stats.pearsonr(g, m)
    assert (r.statistic, r.pvalue) == pytest.approx((ref.statistic, ref.pvalue), abs=1e-12)
    r = correlate([1, np.nan, 3, 4, 5, 6], m, pearson)
    ref = stats.pearsonr([1, 3, 4, 5, 6], [2, 4, 3, 5, 6])
    assert r.statistic == pytest.approx(ref.statistic, abs=1e-12)


@pytest.mark.parametrize(
    ("g", "by", "expected_groups"),
    [
        ([1, 2, 3, 4, 5, 6], "sys", [([1, 2, 3], [2, 1, 8]), ([4, 5, 6], [3, 5, 6])]),
        (
            [1, 2, 3, 4, 5, 6],
            "item",
            [([1, 4], [2, 3]), ([2, 5], [1, 5]), ([3, 6], [8, 6])],
        ),
        ([1, np.nan, 3, 4, 5, 6], "item", [([1, 4], [2, 3]), ([3, 6], [8, 6])]),
    ],
    ids=["testAverageBySystem", "testAverageByItem", "testAverageByItemWithMissingEntries"],
)
def test_mtme_stats_average_by_system_and_item(g, by, expected_groups):
    m = [2, 1, 8, 3, 5, 6]
    r = correlate(g, m, pearson, level="item", groups=_labels(2, 6, by))
    expected = np.mean([stats.pearsonr(x, y).statistic for x, y in expected_groups])
    assert r.statistic == pytest.approx(expected, abs=5e-4)


@pytest.mark.parametrize(("undefined", "expected"), [("skip", 1.0), ("zero", 0.5)])
def test_mtme_stats_nan_handling(undefined, expected):
    # testNaNHandling / testNaNHandlingWithZeros: the first system's metric is constant
    g, m = [1, 2, 3, 4, 5, 6], [2, 2, 2, 4, 5, 6]
    r = correlate(g, m, pearson, level="item", groups=_labels(2, 6, "sys"), undefined=undefined)
    assert r.statistic == pytest.approx(expected)


def test_mtme_stats_micro_averaging():
    g, m = [1, np.nan, 3, 4, 5, 6], [2, 1, 8, 3, 5, 6]
    r = correlate(g, m, pearson, level="item", groups=_labels(2, 6, "sys"), average="micro")
    p1 = stats.pearsonr([1, 3], [2, 8]).statistic
    p2 = stats.pearsonr([4, 5, 6], [3, 5, 6]).statistic
    assert r.statistic == pytest.approx((2 * p1 + 3 * p2) / 5, abs=5e-4)


def test_mtme_stats_average_kendall_with_ties_opt():
    # one epsilon for all groups; the value is the mean of the per-group accuracies at it
    g, m = np.array([1, 2, 3, 4, np.nan, 6]), np.array([2, 1, 8, 3, 5, 6])
    groups = _labels(2, 6, "sys")
    r = tie_calibrated_accuracy(g, m, groups=groups)
    per = [
        tie_calibrated_accuracy(g[groups == k], m[groups == k], epsilon=r.epsilon).accuracy
        for k in (0, 1)
    ]
    assert r.accuracy == pytest.approx(np.mean(per), abs=1e-12)


# -------------------------------------------------- stats_test.py: CorrelationFunctionsTest


def test_mtme_stats_functions_kendall_like():
    better, worse = relative_ranking_pairs([10, 11, 100, 150], threshold=25)
    r = kendall_tau_like(np.array([2, 1, 4, 3])[better], np.array([2, 1, 4, 3])[worse])
    assert (r.value, r.concordant + r.discordant, r.concordant, r.discordant) == (3 / 5, 5, 4, 1)
    r = darr_tau_like([10, 11, 100, 150], [2, 1, 4, 3], threshold=1)
    assert (r.value, r.concordant, r.discordant) == (2 / 6, 4, 2)


def test_mtme_stats_functions_agreement():
    r = global_accuracy({"lp": [1, 2, 3, 3, 4]}, {"lp": [1, 1, 2, 1, 2]})
    assert (r.agreements, r.pairs) == (5, 10)


def test_mtme_stats_functions_kendall_variants_b_and_c():
    gold, metric = [7, 1, 2, 7, 4, 3, 2], [4, 1, 3, 6, 1, 5, 6]
    for fn, variant in ((kendall_tau_b, "b"), (kendall_tau_c, "c")):
        assert fn(gold, metric).statistic == stats.kendalltau(gold, metric, variant=variant)[0]


def test_mtme_stats_functions_kendall_variants_23():
    x, y = [1, 1, 1, 2, 2, 3, 4], [1, 1, 2, 2, 4, 3, 3]
    # 21 pairs: 2 discordant, 3 + 2 tied in one vector only, 1 tied in both -> 13 concordant
    assert tie_calibrated_accuracy(x, y, epsilon=0.0).accuracy == pytest.approx(14 / 21)
    for eps in (0.0, 0.1):  # too small to tie anything: tau_23 = (14 - 7) / 21
        assert 2 * tie_calibrated_accuracy(x, y, epsilon=eps).accuracy - 1 == pytest.approx(7 / 21)
    # epsilon 1: 7 concordant, 3 tied in both -> acc23 10 / 21, tau_23 -1 / 21
    acc = tie_calibrated_accuracy(x, y, epsilon=1.0).accuracy
    assert acc == pytest.approx(10 / 21) and 2 * acc - 1 == pytest.approx(-1 / 21)


def test_mtme_stats_functions_kendall_with_ties_opt():
    gold, metric = np.array([1, 2, 2, 3, 3, 4]), np.array([2, 1, 1.5, 5, 3, 2])
    r = tie_calibrated_accuracy(gold, metric)
    assert r.accuracy == tie_calibrated_accuracy(gold, metric, epsilon=r.epsilon).accuracy
    for by, n_groups in (("sys", 2), ("item", 3)):
        lab = _labels(2, 6, by)
        r = tie_calibrated_accuracy(gold, metric, groups=lab)
        per = [
            tie_calibrated_accuracy(gold[lab == k], metric[lab == k], epsilon=r.epsilon).accuracy
            for k in range(n_groups)
        ]
        assert r.accuracy == pytest.approx(np.mean(per), abs=1e-12)


# ---------------------------------------------------- stats_test.py: PermutationSigDiffTest

GOLD8 = np.array([1, 2, 3, 4, 5, 5, 7, 8], dtype=float)
METRIC1 = np.array([1, 2, 3, 3, 7, 3, 5, 5], dtype=float)
METRIC2 = np.array([2, 1, 2, 6, 8, 8, 7, 6], dtype=float)


def _wmt_test(statistic, *shared, n_resamples=1000, early_stopping=None, seed=0):
    conv = get_convention("wmt23")
    # mt-metrics-eval returns the p-value that metric2 beats metric1, z-scoring both first
    return paired_permutation_test(
        statistic,
        METRIC2,
        METRIC1,
        GOLD8,
        *shared,
        rng=np.random.default_rng(seed),
        n_resamples=n_resamples,
        standardize=True,
        plus_one=conv.plus_one,
        early_stopping=early_stopping,
    )


def test_mtme_stats_permutation_pearson_no_avg_no_early_stop():
    r = _wmt_test(PEARSON)
    delta = stats.pearsonr(METRIC2, GOLD8)[0] - stats.pearsonr(METRIC1, GOLD8)[0]
    assert r.pvalue > 0 and r.difference == pytest.approx(delta) and r.n_used == 1000
    assert r.pvalue == pytest.approx(np.mean(r.distribution >= r.difference - 1e-12))


def test_mtme_stats_permutation_pearson_no_avg_with_early_stop():
    r = _wmt_test(PEARSON, early_stopping=EarlyStopping(block=50, high=0.2))
    delta = stats.pearsonr(METRIC2, GOLD8)[0] - stats.pearsonr(METRIC1, GOLD8)[0]
    assert r.pvalue > 0 and r.difference == pytest.approx(delta)
    assert r.n_used < 1000 and r.n_used % 50 == 0  # p is clearly above 0.2 after a block
    assert r.pvalue == pytest.approx(np.mean(r.distribution >= r.difference - 1e-12))


def _averaged(corr_fn, undefined="skip"):
    def statistic(metric, gold, groups):
        return correlate(
            gold, metric, corr_fn, level="item", groups=groups, undefined=undefined
        ).statistic

    return statistic


@pytest.mark.parametrize(
    ("by", "corr_fn", "undefined", "n_resamples", "block"),
    [
        ("sys", pearson, "skip", 1000, None),  # testPearsonSysNoEarlyStop
        ("sys", pearson, "zero", 1000, None),  # testPearsonSysNoEarlyStopNan0
        ("item", pearson, "skip", 1000, None),  # testPearsonItemNoEarlyStop
        ("item", kendall_tau_b, "skip", 10, 10),  # testKendallItemWithEarlyStop
        ("item", kendall_tau_c, "skip", 10, 10),  # testKendallC
    ],
)
def test_mtme_stats_permutation_averaged(by, corr_fn, undefined, n_resamples, block):
    groups = _labels(4, 8, by)
    stat = _averaged(corr_fn, undefined)
    early = EarlyStopping(block=block) if block else None
    r = _wmt_test(stat, groups, n_resamples=n_resamples, early_stopping=early)
    delta = stat(METRIC2, GOLD8, groups) - stat(METRIC1, GOLD8, groups)
    assert r.pvalue > 0 and r.difference == pytest.approx(delta) and r.n_used == n_resamples


# ------------------------------------------- stats_test.py: PairwisePermutationSigDiffTest


def test_mtme_stats_pairwise_permutation_kendall_variants_acc23():
    gold = np.array([1, 3, 3, 3, 1, 2, 1, 2], dtype=float)
    metric1 = np.array([2, 4, 6, 6, 2, 6, 3, 7], dtype=float)
    metric2 = np.array([1, 5, 4, 4, 4, 3, 2, 1], dtype=float)
    items = _labels(4, 8, "item")
    tau1 = tie_calibrated_accuracy(gold, metric1, groups=items).accuracy
    tau2 = tie_calibrated_accuracy(gold, metric2, groups=items).accuracy
    conv = get_convention("wmt23")
    assert conv.segment_test == "pairs"
    r = pairwise_permutation_test(
        gold,
        metric2,
        metric1,
        groups=items,
        epsilon_a=None,
        epsilon_b=None,
        rng=np.random.default_rng(0),
        n_resamples=10,
        plus_one=conv.plus_one,
    )
    assert r.pvalue > 0 and r.difference == pytest.approx(tau2 - tau1) and r.n_used == 10
    assert r.pvalue * 10 == np.sum(r.distribution >= r.difference - 1e-12)


# ------------------------------------------------------ stats_test.py: WilliamsSigDiffTest


def test_mtme_stats_williams_sig_diff():
    conv = get_convention("wmt20")
    assert conv.system_test == "williams"
    r = williams([1, 2, 3, 4, 5], [1.1, 2, 3.1, 4, 5.1], [1.5, 2, 3.1, 4, 5.5])
    assert (r.pvalue, r.r_a, r.r_b) == pytest.approx((0.019, 0.999, 0.987), abs=5e-4)


def test_mtme_stats_williams_sig_diff_with_avg_and_nones():
    # item-averaged Pearson (3 systems x 2 items); mt-metrics-eval counts n = 6 items,
    # unscored one included
    gold = np.array([1, np.nan, 3, 4, 5, 6])
    m1 = np.array([1, 2, 3, 3, 7, 3], dtype=float)
    m2 = np.array([2, 1, 2, 6, 8, 8], dtype=float)
    items = _labels(3, 6, "item")
    r1 = correlate(gold, m1, pearson, level="item", groups=items).statistic
    r2 = correlate(gold, m2, pearson, level="item", groups=items).statistic
    r12 = correlate(m1, m2, pearson, level="item", groups=items).statistic
    r = williams_test(r1, r2, r12, 6)
    assert (r.pvalue, r.r_a, r.r_b) == pytest.approx((0.121, 0.982, 0.933), abs=5e-4)


# ------------------------------------------------------------------ stats_test.py: SampleTest


def test_mtme_stats_sample_uniform():
    s1 = subsample_indices(10, 5, rng=np.random.default_rng(11))
    s2 = subsample_indices(10, 5, rng=np.random.default_rng(11))
    assert len(s1) == 5 and s1.tolist() == s2.tolist()
    assert np.arange(10)[s1].tolist() == s1.tolist()


@pytest.mark.parametrize(
    ("bins", "size", "expected_per_bin"),
    [([2, 2, 2, 2], 4, [1, 1, 1, 1]), ([2, 6], 4, [1, 3]), ([1, 7], 3, [0, 3])],
)
def test_mtme_stats_sample_stratified(bins, size, expected_per_bin):
    strata = np.repeat(np.arange(len(bins)), bins)
    for seed in range(20):
        s = subsample_indices(sum(bins), size, rng=np.random.default_rng(seed), strata=strata)
        assert len(s) == size
        assert np.bincount(strata[s], minlength=len(bins)).tolist() == expected_per_bin


# -------------------------------------------------------------------------- pce_test.py


def test_mtme_pce_pairwise_p_values_are_deterministic():
    scores = np.random.default_rng(0).random((10, 100))
    p1 = pairwise_system_pvalues(scores, permutation_signs(100, 1000, np.random.default_rng(1)))
    p2 = pairwise_system_pvalues(scores, permutation_signs(100, 1000, np.random.default_rng(1)))
    np.testing.assert_array_equal(p1, p2)


# ------------------------------------------------------------------------- tasks_test.py


def test_mtme_tasks_assign_weights():
    # TaskSetResultsTest.Results(): accuracy over three language pairs, then Pearson per pair,
    # then Kendall for two of them (the other attributes are equal across tasks)
    tasks = [
        {"test_set": "wmt22", "lang": "en-de,en-ru,zh-en", "corr_fcn": "accuracy"},
        {"test_set": "wmt22", "lang": "en-de", "corr_fcn": "pearson"},
        {"test_set": "wmt22", "lang": "en-ru", "corr_fcn": "pearson"},
        {"test_set": "wmt22", "lang": "zh-en", "corr_fcn": "pearson"},
        {"test_set": "wmt22", "lang": "en-de", "corr_fcn": "kendall"},
        {"test_set": "wmt22", "lang": "en-ru", "corr_fcn": "kendall"},
    ]
    all_attrs = ["test_set", "lang", "corr_fcn"]  # Attributes() order, constant ones left out
    np.testing.assert_allclose(
        task_weights(tasks, all_attrs), [1 / 4, 1 / 8, 1 / 8, 1 / 4, 1 / 8, 1 / 8]
    )
    np.testing.assert_allclose(
        task_weights(tasks, ["corr_fcn"]), [1 / 3, 1 / 9, 1 / 9, 1 / 9, 1 / 6, 1 / 6]
    )
    np.testing.assert_allclose(task_weights(tasks, ["test_set"]), [1 / 6] * 6)
    np.testing.assert_allclose(task_weights(tasks, []), [1 / 6] * 6)
