"""Procedures the peers have (issue 15): checked against scipy, brute force or exact enumeration."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from scipy import stats

from metricrm.core.errors import ScorerConfigError, ScorerInputError
from metricrm.meta import (
    CONVENTIONS,
    MEAN,
    PEARSON,
    EarlyStopping,
    average_across_tasks,
    average_ranks,
    bootstrap_distribution,
    correlate,
    darr_tau_like,
    get_convention,
    global_accuracy,
    kendall_tau_b,
    list_conventions,
    paired_permutation_test,
    pairwise_comparisons,
    pairwise_permutation_test,
    pearson,
    permutation_pvalue_matrix,
    rank_scorers,
    relative_ranking_pairs,
    section_scores,
    significance_clusters,
    subsample_indices,
    subsampled_significance,
    system_level,
    system_segment_matrix,
    task_weights,
    tie_calibrated_accuracy,
    williams,
    williams_test,
)

# ------------------------------------------------------------ levels: micro, zero, all cells


def _grouped(seed: int = 0):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(6), [3, 4, 5, 6, 2, 8])
    h = rng.normal(size=groups.size)
    m = h + rng.normal(size=groups.size)
    return h, m, groups


def test_item_level_micro_average_weights_groups_by_scored_items():
    h, m, g = _grouped()
    h[[0, 7]] = np.nan  # groups 0 and 1 lose one scored item each
    per, sizes = [], []
    for k in range(6):
        sel = (g == k) & ~np.isnan(h)
        per.append(stats.pearsonr(h[sel], m[sel]).statistic)
        sizes.append(sel.sum())
    micro = correlate(h, m, pearson, level="item", groups=g, average="micro")
    assert micro.statistic == pytest.approx(np.average(per, weights=sizes), abs=1e-12)
    assert micro.group_sizes.tolist() == sizes  # the weights, for a bootstrap of the average
    macro = correlate(h, m, pearson, level="item", groups=g)
    assert macro.statistic == pytest.approx(np.mean(per), abs=1e-12)
    assert micro.statistic != pytest.approx(macro.statistic)


def test_item_level_undefined_groups_skip_or_zero():
    h = np.array([1.0, 2.0, 3.0, 5.0, 5.0, 5.0])  # the second group has constant human scores
    m = np.array([1.0, 3.0, 2.0, 1.0, 2.0, 3.0])
    g = [0, 0, 0, 1, 1, 1]
    first = stats.pearsonr(h[:3], m[:3]).statistic
    skip = correlate(h, m, pearson, level="item", groups=g)
    zero = correlate(h, m, pearson, level="item", groups=g, undefined="zero")
    assert skip.statistic == pytest.approx(first) and skip.n_groups == 1
    assert zero.statistic == pytest.approx(first / 2) and zero.n_groups == 2
    assert skip.n_skipped_undefined == zero.n_skipped_undefined == 1


def test_system_level_all_cells_averages_the_metric_over_every_item():
    systems = np.repeat(["a", "b", "c"], 4)
    h = np.array([1, 2, np.nan, 4, 2, np.nan, np.nan, 1, 5, 5, 4, np.nan], dtype=float)
    m = np.arange(12, dtype=float) ** 1.5
    sys_h = [np.nanmean(h[systems == s]) for s in "abc"]
    all_m = [m[systems == s].mean() for s in "abc"]
    scored_m = [m[(systems == s) & ~np.isnan(h)].mean() for s in "abc"]
    r_all = correlate(h, m, pearson, level="system", systems=systems, system_cells="all")
    r_scored = correlate(h, m, pearson, level="system", systems=systems)
    assert r_all.statistic == pytest.approx(stats.pearsonr(sys_h, all_m).statistic, abs=1e-12)
    assert r_scored.statistic == pytest.approx(stats.pearsonr(sys_h, scored_m).statistic)
    # the resampling statistic agrees on the (segments x systems) layout
    H = h.reshape(3, 4).T
    M = m.reshape(3, 4).T
    for cells, ref in (("all", r_all), ("scored", r_scored)):
        assert system_level("pearson", cells=cells)(M, H) == pytest.approx(ref.statistic)
    idx = np.random.default_rng(1).integers(0, 4, size=(20, 4))
    stat = system_level("pearson", cells="all")
    fast = bootstrap_distribution(stat, [M, H], idx)
    for b, row in enumerate(idx):
        hm = np.nanmean(H[row], axis=0)
        mm = M[row].mean(axis=0)
        expected = stats.pearsonr(hm, mm).statistic if not np.isnan(hm).any() else np.nan
        np.testing.assert_allclose(fast[b], expected, atol=1e-12)


def test_system_level_all_cells_skips_segments_a_system_lacks():
    # system "c" did not translate segment 3: its metric cell is NaN (absent), not a value
    systems = np.array(["a"] * 4 + ["b"] * 4 + ["c"] * 3)
    segments = np.array([0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2])
    h = np.array([1, 2, np.nan, 4, 2, 3, np.nan, 1, 5, 5, 4], dtype=float)
    m = np.arange(11, dtype=float) ** 1.5
    ref = correlate(h, m, pearson, level="system", systems=systems, system_cells="all")
    sys_h = [np.nanmean(h[systems == s]) for s in "abc"]
    all_m = [m[systems == s].mean() for s in "abc"]
    assert ref.statistic == pytest.approx(stats.pearsonr(sys_h, all_m).statistic, abs=1e-12)
    M, _, _ = system_segment_matrix(m, systems, segments)
    H, _, _ = system_segment_matrix(h, systems, segments)
    assert system_level("pearson", cells="all")(M.T, H.T) == pytest.approx(ref.statistic)


# ----------------------------------------------------------------------------- Williams


def test_williams_matches_the_determinant_form_and_is_symmetric():
    rng = np.random.default_rng(4)
    h = rng.normal(size=40)
    a = h + rng.normal(scale=0.8, size=40)
    b = h + rng.normal(scale=1.3, size=40)
    r = williams(h, a, b)
    r_a, r_b, r_ab = (stats.pearsonr(x, y).statistic for x, y in ((h, a), (h, b), (a, b)))
    det = np.linalg.det(np.array([[1, r_a, r_b], [r_a, 1, r_ab], [r_b, r_ab, 1]]))
    n = 40
    t = (r_a - r_b) * np.sqrt(
        (n - 1)
        * (1 + r_ab)
        / (2 * (n - 1) / (n - 3) * det + ((r_a + r_b) / 2) ** 2 * (1 - r_ab) ** 3)
    )
    assert r.statistic == pytest.approx(t, rel=1e-12)
    assert r.pvalue == pytest.approx(stats.t.sf(abs(t), n - 3), rel=1e-12)
    swapped = williams(h, b, a)
    assert swapped.pvalue == pytest.approx(r.pvalue) and swapped.statistic == pytest.approx(-t)
    assert williams(h, a, b, one_sided=False).pvalue == pytest.approx(2 * r.pvalue)
    assert williams_test(0.5, 0.5, 0.3, 20).pvalue == 0.5


def test_williams_rejects_bad_input():
    with pytest.raises(ScorerInputError, match=r"cannot hold together"):
        williams_test(0.9, -0.9, 0.9, 10)
    with pytest.raises(ScorerConfigError, match=r"`n` must be an integer >= 4"):
        williams_test(0.5, 0.4, 0.3, 3)
    with pytest.raises(ScorerInputError, match=r"the human-a, a-b correlation is undefined"):
        williams([1, 2, 3, 4], [1, 1, 1, 1], [1, 2, 4, 3])


# -------------------------------------------------------------------------------- DARR


def test_relative_ranking_pairs_equal_a_loop():
    rng = np.random.default_rng(2)
    scores = rng.integers(0, 101, size=60).astype(float)
    scores[[3, 17]] = np.nan
    groups = rng.integers(0, 8, size=60)
    better, worse = relative_ranking_pairs(scores, groups=groups, threshold=25)
    expected = set()
    for i, j in itertools.combinations(range(60), 2):
        if groups[i] != groups[j] or np.isnan(scores[i]) or np.isnan(scores[j]):
            continue
        if abs(scores[i] - scores[j]) >= 25:
            expected.add((i, j) if scores[i] > scores[j] else (j, i))
    assert set(zip(better.tolist(), worse.tolist())) == expected
    assert len(better) == len(expected)
    strict = relative_ranking_pairs(scores, groups=groups, threshold=25, inclusive=False)
    n_equal = sum(abs(scores[b] - scores[w]) == 25 for b, w in zip(better, worse))
    assert len(strict[0]) == len(better) - n_equal
    with pytest.raises(ScorerConfigError, match=r"`threshold` must be a number > 0"):
        relative_ranking_pairs(scores, threshold=0)


def test_darr_tau_like_counts_a_metric_tie_as_discordant():
    human = [90, 60, 10, 80]  # pairs >= 25 apart: (0,1) (0,2) (1,2) (3,2); not (0,3), (1,3)
    metric = [0.9, 0.5, 0.5, 0.1]
    r = darr_tau_like(human, metric)
    # concordant: (0,1) (0,2); discordant: (1,2) a metric tie, (3,2) misordered
    assert (r.concordant, r.discordant, r.n_ties) == (2, 2, 1)
    assert r.value == 0.0
    loose = darr_tau_like(human, metric, threshold=10)  # adds (0,3) concordant, (3,1) discordant
    assert (loose.concordant, loose.discordant) == (3, 3)


# ---------------------------------------------------- pairwise (comparison-swapping) test


def _acc23_data(seed: int = 0):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(10), 6)
    h = rng.integers(0, 4, size=groups.size).astype(float)
    a = h + rng.normal(scale=0.7, size=h.size)
    b = h + rng.normal(scale=1.5, size=h.size)
    return h, np.round(a, 1), np.round(b, 1), groups


@pytest.mark.parametrize("eps", [0.0, 0.3, 1.0])
def test_pairwise_comparisons_equal_tie_calibrated_accuracy(eps):
    h, a, _, g = _acc23_data()
    h[[4, 11]] = np.nan
    pc = pairwise_comparisons(h, a, groups=g, epsilon=eps)
    ref = tie_calibrated_accuracy(h, a, groups=g, epsilon=eps)
    assert pc.accuracy == pytest.approx(ref.accuracy, abs=1e-12)
    assert pc.correct.size == ref.n_pairs and pc.weight.sum() == pytest.approx(1.0)


def test_pairwise_permutation_null_is_exact_on_a_tiny_case():
    # a is right and b wrong on exactly 2 pairs of one group of 3 items, equal on the third:
    # the null takes +-2/3 with probability 1/4 each and 0 with 1/2.
    h = np.array([1.0, 2.0, 3.0])
    a = np.array([1.0, 2.0, 3.0])  # every pair right
    b = np.array([3.0, 1.0, 2.0])  # (0, 1) and (0, 2) wrong, (1, 2) right
    r = pairwise_permutation_test(h, a, b, rng=np.random.default_rng(0), n_resamples=8000)
    assert r.difference == pytest.approx(2 / 3) and r.n_disagree == 2
    freq = [np.mean(np.isclose(r.distribution, v)) for v in (2 / 3, 0.0, -2 / 3)]
    np.testing.assert_allclose(freq, [0.25, 0.5, 0.25], atol=0.02)
    assert r.pvalue == pytest.approx(0.25, abs=0.02)


def test_pairwise_permutation_test_is_reproducible_and_early_stopping_uses_a_prefix():
    h, a, b, g = _acc23_data(1)
    full = pairwise_permutation_test(h, a, b, groups=g, rng=np.random.default_rng(7))
    again = pairwise_permutation_test(h, a, b, groups=g, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(full.distribution, again.distribution)
    stop = EarlyStopping(block=100, low=0.02, high=0.5)
    early = pairwise_permutation_test(
        h, a, b, groups=g, rng=np.random.default_rng(7), early_stopping=stop, plus_one=False
    )
    assert early.n_used < full.n_used == 1000 and early.n_used % 100 == 0
    np.testing.assert_array_equal(early.distribution, full.distribution[: early.n_used])
    hits = np.sum(early.distribution >= early.difference - 1e-12)
    assert early.pvalue == hits / early.n_used
    tau = pairwise_permutation_test(
        h, a, b, groups=g, rng=np.random.default_rng(7), variant="tau23"
    )
    assert tau.value_a == pytest.approx(2 * full.value_a - 1)
    assert tau.pvalue == full.pvalue  # the same resamples, a statistic twice as large


def test_pairwise_permutation_test_calibrates_epsilons_when_asked():
    h, a, b, g = _acc23_data(2)
    r = pairwise_permutation_test(
        h, a, b, groups=g, epsilon_a=None, epsilon_b=None, rng=np.random.default_rng(0)
    )
    ta = tie_calibrated_accuracy(h, a, groups=g)
    tb = tie_calibrated_accuracy(h, b, groups=g)
    assert (r.epsilon_a, r.epsilon_b) == (ta.epsilon, tb.epsilon)
    assert r.difference == pytest.approx(ta.accuracy - tb.accuracy, abs=1e-12)
    with pytest.raises(ScorerInputError, match=r"exceed max_pairs=10"):
        pairwise_permutation_test(h, a, b, rng=np.random.default_rng(0), max_pairs=10)


# ------------------------------------------------------- early stopping of score permutations


def test_paired_permutation_early_stopping_is_a_prefix_of_the_full_run():
    rng = np.random.default_rng(8)
    h = rng.normal(size=60)
    a, b = h + rng.normal(size=60), h + 3 * rng.normal(size=60)
    kw = {"standardize": True, "plus_one": False}
    full = paired_permutation_test(PEARSON, a, b, h, rng=np.random.default_rng(5), **kw)
    early = paired_permutation_test(
        PEARSON, a, b, h, rng=np.random.default_rng(5), early_stopping=EarlyStopping(50), **kw
    )
    assert full.n_used == 1000 and early.n_used < 1000
    np.testing.assert_array_equal(early.distribution, full.distribution[: early.n_used])
    assert early.pvalue == np.mean(early.distribution >= early.difference - 1e-12)
    with pytest.raises(ScorerConfigError, match=r"expected low < high"):
        EarlyStopping(low=0.5, high=0.1)
    with pytest.raises(ScorerConfigError, match=r"`early_stopping` must be None or an EarlyStop"):
        paired_permutation_test(MEAN, a, b, rng=np.random.default_rng(0), early_stopping=100)


def test_rank_scorers_with_the_wmt23_convention():
    conv = get_convention("wmt23")
    a = np.r_[np.ones(300), np.zeros(100)]
    c = np.r_[np.ones(200), np.zeros(200)]
    r = rank_scorers(
        MEAN,
        {"a": a, "b": a.copy(), "c": c},
        rng=np.random.default_rng(0),
        n_resamples=conv.n_resamples,
        alpha=conv.alpha,
        rule=conv.cluster_rule,
        plus_one=conv.plus_one,
        early_stopping=conv.early_stopping,
    )
    assert r.as_dict() == {"a": 1, "b": 1, "c": 2}
    assert r.pvalues[0, 2] == 0.0  # no permuted difference reaches 0.25; no +1
    assert r.pvalues[0, 1] == 1.0  # identical scorers: every permuted difference is 0


# ------------------------------------------------------------------------------ tasks


def test_average_across_tasks_maps_ranges_and_keeps_common_metrics():
    values = {
        "en-de pearson": {"m1": 0.8, "m2": 0.2, "only-here": 1.0},
        "accuracy": {"m1": 0.6, "m2": 0.9},
    }
    ranges = {"en-de pearson": (-1.0, 1.0), "accuracy": (0.0, 1.0)}
    out = average_across_tasks(values, ranges=ranges)
    assert list(out) == ["m1", "m2"]
    assert out["m1"] == pytest.approx((0.9 + 0.6) / 2) and out["m2"] == pytest.approx(0.75)
    w = average_across_tasks(values, weights={"en-de pearson": 0.25, "accuracy": 0.75})
    assert w["m1"] == pytest.approx(0.25 * 0.8 + 0.75 * 0.6)
    assert list(average_ranks({"t1": {"x": 2, "y": 1}, "t2": {"x": 1, "y": 1}})) == ["y", "x"]
    with pytest.raises(ScorerInputError, match=r"no weight for task\(s\) \['accuracy'\]"):
        average_across_tasks(values, weights={"en-de pearson": 1.0})


def test_global_accuracy_pools_pairs_over_tasks():
    human = {"en-de": [1.0, 2.0, 3.0, 4.0, np.nan], "zh-en": [5.0, 4.0, 4.0], "fr-en": [1, 1]}
    metric = {"en-de": [0.1, 0.3, 0.2, 0.9, 0.0], "zh-en": [2.0, 1.0, 3.0], "fr-en": [0.5, 0.5]}
    r = global_accuracy(human, metric)
    # en-de (4 scored systems): every pair agrees but (1, 2) -> 5 of 6
    # zh-en: (0,1) agrees, (0,2) does not, (1,2) is a human tie the metric breaks -> 1 of 3
    # fr-en: tied by both -> agrees
    assert r.per_task == {"en-de": (5, 6), "zh-en": (1, 3), "fr-en": (1, 1)}
    assert (r.agreements, r.pairs) == (7, 10) and r.value == pytest.approx(0.7)
    flipped = {k: -np.asarray(v) for k, v in metric.items()}
    assert global_accuracy(human, flipped, higher_is_better=False).value == r.value
    with pytest.raises(ScorerInputError, match=r"expected the same tasks"):
        global_accuracy(human, {"en-de": metric["en-de"]})


# ------------------------------------------------------------------------- subsampling


def test_subsample_indices_uniform_and_stratified():
    rng = np.random.default_rng(0)
    counts = np.zeros(10)
    for _ in range(4000):
        idx = subsample_indices(10, 3, rng=rng)
        assert idx.size == 3 and np.unique(idx).size == 3 and (np.diff(idx) > 0).all()
        counts[idx] += 1
    np.testing.assert_allclose(counts / 4000, 0.3, atol=0.03)  # every item equally likely
    strata = np.repeat(["a", "b", "c"], [5, 3, 2])
    for _ in range(50):
        idx = subsample_indices(10, 5, rng=rng, strata=strata)
        # shares 2.5 / 1.5 / 1.0 -> 2 / 1 / 1 and one more to a or b (equal remainders)
        n = [np.sum(strata[idx] == s) for s in "abc"]
        assert n in ([3, 1, 1], [2, 2, 1])
    with pytest.raises(ScorerConfigError, match=r"`size` must be <= n = 10"):
        subsample_indices(10, 11, rng=rng)


def test_subsampled_significance_estimates_power():
    rng = np.random.default_rng(1)
    a = (rng.random(400) < 0.8).astype(float)
    b = (rng.random(400) < 0.5).astype(float)
    big = subsampled_significance(
        MEAN, a, b, size=200, n_subsamples=20, rng=np.random.default_rng(0), n_resamples=200
    )
    small = subsampled_significance(
        MEAN, a, b, size=10, n_subsamples=20, rng=np.random.default_rng(0), n_resamples=200
    )
    assert big.share_significant == 1.0 and small.share_significant < big.share_significant
    again = subsampled_significance(
        MEAN, a, b, size=10, n_subsamples=20, rng=np.random.default_rng(0), n_resamples=200
    )
    np.testing.assert_array_equal(small.pvalues, again.pvalues)


# ------------------------------------------------------------------------- task weights


def test_task_weights_split_by_attribute_values():
    tasks = [{"lang": "de", "corr": "p"}, {"lang": "de", "corr": "k"}, {"lang": "fr", "corr": "p"}]
    np.testing.assert_allclose(task_weights(tasks, ["lang"]), [0.25, 0.25, 0.5])
    np.testing.assert_allclose(task_weights(tasks, ["corr", "lang"]), [0.25, 0.5, 0.25])
    np.testing.assert_allclose(task_weights(tasks, []), [1 / 3] * 3)
    with pytest.raises(ScorerConfigError, match=r"wrap it in a list"):
        task_weights(tasks, "lang")


# -------------------------------------------------------------------------- conventions


def test_conventions_are_named_data_with_distinct_signatures():
    assert list_conventions() == [
        "metricrm",
        "wmt20",
        "wmt23",
        "rewardbench",
        "rewardbench2",
        "rm-bench",
    ]
    sigs = {name: CONVENTIONS[name].signature for name in list_conventions()}
    assert len(set(sigs.values())) == len(sigs)
    assert sigs["rm-bench"].startswith("convention:rm-bench|")
    assert "domain-merge:safety-refuse>safety,safety-response>safety" in sigs["rm-bench"]
    assert (
        "cluster-rule:wmt" in sigs["wmt23"] and "early-stopping:block100:0.02-0.5" in sigs["wmt23"]
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        CONVENTIONS["wmt23"].alpha = 0.1  # type: ignore[misc]
    with pytest.raises(
        ScorerConfigError,
        match=r"unknown convention 'wmt'; valid names: 'metricrm', 'wmt20', 'wmt23'",
    ):
        get_convention("wmt")


def test_metricrm_convention_equals_todays_defaults():
    conv = get_convention("metricrm")
    h, m, g = _grouped(3)
    ours = correlate(h, m, kendall_tau_b, level="item", groups=g, average=conv.item_average)
    assert ours.statistic == correlate(h, m, kendall_tau_b, level="item", groups=g).statistic
    # The default cluster rule is WMT's (AssignRanks: any member, p <= alpha), as the README says;
    # metricrm keeps its own p-values (+1, no early stopping).
    assert (conv.score_ties, conv.cluster_rule, conv.cluster_boundary, conv.total) == (
        "half",
        "wmt",
        "inclusive",
        "pooled",
    )
    p = np.full((3, 3), np.nan)
    p[0, 1], p[0, 2], p[1, 2] = 0.2, 0.2, 0.01
    default = significance_clusters(["A", "B", "C"], [0.9, 0.8, 0.7], p)
    assert (default.rule, default.clusters.tolist()) == (conv.cluster_rule, [1, 1, 2])
    assert (conv.plus_one, conv.early_stopping, conv.section_weighting) == (True, None, "count")
    with pytest.raises(ScorerConfigError, match=r"cluster_rule 'wmt' compares with p <= alpha"):
        dataclasses.replace(conv, cluster_boundary="strict")


def test_pvalue_matrix_early_stopping_follows_the_better_candidate():
    # a is a little better than b: p(a > b) stays between low and high, so the test must run to
    # the end whichever order the two are given in (p(b > a) alone would stop at once).
    # a wins 30 of the 55 pairs where they differ: p(a > b) about 0.3
    a = np.r_[np.ones(30), np.zeros(25), np.ones(100), np.zeros(100)]
    b = np.r_[np.zeros(30), np.ones(25), np.ones(100), np.zeros(100)]
    stop = EarlyStopping(block=100, low=0.02, high=0.5)
    for cands in ([a, b], [b, a]):
        kw = {"rng": np.random.default_rng(3), "n_resamples": 1000, "plus_one": False}
        _, full = permutation_pvalue_matrix(MEAN, cands, **kw)
        kw["rng"] = np.random.default_rng(3)
        _, early = permutation_pvalue_matrix(MEAN, cands, early_stopping=stop, **kw)
        better = 0 if cands[0] is a else 1
        assert 0.02 < full[better, 1 - better] < 0.5
        np.testing.assert_array_equal(early, full)


def test_section_scores_skips_a_subset_without_value_only_when_asked():
    results = {"a": float("nan"), "b": 0.5}
    skip = section_scores(results, {"s": ["a", "b"]}, weighting="equal", missing="skip")
    assert skip.sections["s"] == 0.5 and skip.missing["s"] == ["a"]
    strict = section_scores(results, {"s": ["a", "b"]}, weighting="equal")
    assert np.isnan(strict.sections["s"]) and np.isnan(strict.overall)
