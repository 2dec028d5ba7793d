"""Correlations against scipy on real WMT MQM scores at every level; Kendall variants, acc23 and
SPA on hand-worked cases."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from metricrm.core.errors import ScorerConfigError, ScorerInputError
from metricrm.meta import (
    correlate,
    kendall_tau_b,
    kendall_tau_c,
    pairwise_system_pvalues,
    pearson,
    soft_pairwise_accuracy,
    spearman,
    system_segment_matrix,
    tie_calibrated_accuracy,
)

MQM = Path("scored") / "wmt-mqm-ted-ende" / "mqm_ted_ende.avg_seg_scores.tsv"


@pytest.fixture(scope="module")
def mqm(shared_data: Path) -> dict:
    """Human MQM segment scores (NaN = unscored) and a seeded metric-like signal."""
    systems, segments, human = [], [], []
    lines = (shared_data / MQM).read_text(encoding="utf-8").splitlines()
    assert lines[0].split() == ["system", "mqm_avg_score", "seg_id"]
    for line in lines[1:]:
        system, rest = line.split("\t")
        score, seg = rest.split(" ")
        systems.append(system)
        segments.append(int(seg))
        human.append(np.nan if score == "None" else float(score))
    human = np.array(human)
    rng = np.random.default_rng(20240601)
    # Human signal plus noise, rounded to one decimal so that the metric has ties too.
    metric = np.round(0.5 * np.nan_to_num(human) + rng.normal(size=human.size), 1)
    return {
        "systems": np.array(systems),
        "segments": np.array(segments),
        "human": human,
        "metric": metric,
    }


SCIPY = {
    pearson: lambda x, y: stats.pearsonr(x, y),
    spearman: lambda x, y: stats.spearmanr(x, y),
    kendall_tau_b: lambda x, y: stats.kendalltau(x, y, variant="b"),
    kendall_tau_c: lambda x, y: stats.kendalltau(x, y, variant="c"),
}
FUNCS = list(SCIPY)
IDS = [f.__name__ for f in FUNCS]


@pytest.mark.shared_data
@pytest.mark.parametrize("fn", FUNCS, ids=IDS)
def test_flat_level_equals_scipy(mqm, fn):
    h, m = mqm["human"], mqm["metric"]
    scored = ~np.isnan(h)
    ours = correlate(h, m, fn, level="flat")
    ref = SCIPY[fn](h[scored], m[scored])
    assert ours.statistic == pytest.approx(ref.statistic, abs=1e-9)
    assert ours.pvalue == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
    assert (ours.n_items, ours.n_missing) == (int(scored.sum()), int((~scored).sum()))
    assert ours.n_missing > 0  # the file has unscored segments: they must be counted, not used


@pytest.mark.shared_data
@pytest.mark.parametrize("fn", FUNCS, ids=IDS)
def test_item_level_equals_average_of_scipy_per_segment(mqm, fn):
    h, m, seg = mqm["human"], mqm["metric"], mqm["segments"]
    per_group, small, undefined = [], 0, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        for s in np.unique(seg):
            sel = (seg == s) & ~np.isnan(h)
            if sel.sum() < 2:
                small += 1
                continue
            value = SCIPY[fn](h[sel], m[sel]).statistic
            if np.isnan(value):
                undefined += 1
            else:
                per_group.append(value)
    ours = correlate(h, m, fn, level="item", groups=seg)
    assert ours.statistic == pytest.approx(np.mean(per_group), abs=1e-9)
    assert np.isnan(ours.pvalue)
    assert (ours.n_groups, ours.n_skipped_small, ours.n_skipped_undefined) == (
        len(per_group),
        small,
        undefined,
    )
    assert small > 0 and undefined > 0  # both kinds of skipped segment occur in this file


@pytest.mark.shared_data
@pytest.mark.parametrize("fn", FUNCS, ids=IDS)
def test_system_level_equals_scipy_on_system_means(mqm, fn):
    h, m, sys_ = mqm["human"], mqm["metric"], mqm["systems"]
    names = np.unique(sys_)
    scored = ~np.isnan(h)
    sys_h = [h[(sys_ == s) & scored].mean() for s in names]
    sys_m = [m[(sys_ == s) & scored].mean() for s in names]
    ours = correlate(h, m, fn, level="system", systems=sys_)
    ref = SCIPY[fn](sys_h, sys_m)
    assert ours.statistic == pytest.approx(ref.statistic, abs=1e-9)
    assert ours.pvalue == pytest.approx(ref.pvalue, rel=1e-9)
    assert 0 < ref.pvalue < 1e-3  # a real, non-trivial p-value is being compared
    assert ours.n_groups == len(names) == 14


def test_correlate_accepts_scipy_functions_and_checks_arguments():
    x = np.array([1.0, 2.0, 3.0, 4.0, np.nan])
    y = np.array([1.0, 3.0, 2.0, 4.0, 0.0])
    r = correlate(x, y, stats.kendalltau, level="flat")
    assert r.statistic == pytest.approx(4 / 6) and r.n_missing == 1
    # acc23 has the same contract: 5 of the 6 pairs are concordant, no ties anywhere
    acc = correlate(x, y, tie_calibrated_accuracy, level="flat")
    assert acc.statistic == pytest.approx(5 / 6) and np.isnan(acc.pvalue)
    with pytest.raises(Exception, match=r"level='item' needs `groups`"):
        correlate(x, y, level="item")
    with pytest.raises(ScorerInputError, match=r"`metric` has nan at index 0"):
        correlate(x, [np.nan, 1, 2, 3, 4])


def test_kendall_hand_cases():
    # x = 1 2 3 4, y = 1 3 2 4: pair (2,3) is discordant, the other 5 concordant -> 4 / 6
    assert kendall_tau_b([1, 2, 3, 4], [1, 3, 2, 4]).statistic == pytest.approx(4 / 6)
    # x = 1 2 2 3, y = 1 2 3 3: C = 4, D = 0; one pair tied in x only, one in y only (P = 6)
    # tau-b = 4 / sqrt((6 - 1) * (6 - 1)) = 0.8
    # tau-c = 2 m (C - D) / (n^2 (m - 1)) with m = 3 distinct values, n = 4: 24 / 32 = 0.75
    x, y = [1, 2, 2, 3], [1, 2, 3, 3]
    assert kendall_tau_b(x, y).statistic == pytest.approx(0.8)
    assert kendall_tau_c(x, y).statistic == pytest.approx(0.75)
    assert np.isnan(kendall_tau_b([1, 1, 1], [1, 2, 3]).statistic)
    with warnings.catch_warnings():  # a constant input is NaN, quietly, on either side
        warnings.simplefilter("error")
        for fn in (kendall_tau_b, kendall_tau_c):
            for x, y in (([1, 1, 1], [1, 2, 3]), ([1, 2, 3], [2, 2, 2])):
                assert np.isnan(fn(x, y)).all()


@pytest.mark.parametrize("fn", [pearson, spearman, kendall_tau_b, kendall_tau_c])
def test_correlation_input_errors_name_the_function(fn):
    name = fn.__name__
    cases = [
        (([1.0], [2.0]), "expected at least 2 items (got 1)"),
        (([1, 2, 3], [1, np.nan, 3]),
         "`metric` has nan at index 1 (1 such entries); expected a finite number"),
        (([1, np.inf], [1, 2]),
         "`human` has inf at index 1 (1 such entries); expected a finite number"),
        (([1, 2, 3], [1, 2]), "expected one entry per item in every input (got 3 human, 2 metric)"),
    ]  # fmt: skip
    for args, message in cases:
        with pytest.raises(ScorerInputError) as err:
            fn(*args)
        assert str(err.value) == f"{name}: {message}"


@pytest.mark.parametrize("variant", ["b", "c"])
def test_kendall_rows_equal_scipy_row_by_row(variant):
    """Row-wise tau (used by the bootstrap) equals scipy's kendalltau of each row, for both
    variants, with ties (tau-b and tau-c differ then) and a broadcast human row."""
    from metricrm.meta.correlation import kendall_rows

    rng = np.random.default_rng(5)
    metric = rng.integers(0, 4, (3, 2, 9)).astype(float)  # many ties
    human = rng.integers(0, 5, 9).astype(float)
    out = kendall_rows(human, metric, variant)
    expected = [
        [stats.kendalltau(human, row, variant=variant).statistic for row in block]
        for block in metric
    ]
    assert out.shape == (3, 2)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-15)
    other = "c" if variant == "b" else "b"
    assert not np.allclose(out, kendall_rows(human, metric, other))  # the variants differ here


def test_pvalues_equal_scipy_on_the_smallest_samples():
    """Two items: scipy's pearsonr reports p = 1 (no degree of freedom); three and four items:
    the t-distribution p-values of pearsonr and spearmanr."""
    x2, y2 = [1.0, 2.0], [3.0, 1.0]
    assert pearson(x2, y2).pvalue == stats.pearsonr(x2, y2).pvalue == 1.0
    for x, y in (([1, 2, 3], [1, 3, 2]), ([1, 2, 3, 4], [2, 1, 4, 3]), ([1, 2, 3], [2, 1, 5])):
        assert pearson(x, y).pvalue == pytest.approx(stats.pearsonr(x, y).pvalue, abs=1e-14)
        assert spearman(x, y).pvalue == pytest.approx(stats.spearmanr(x, y).pvalue, abs=1e-14)


def test_constant_rows_of_non_representable_values_are_nan():
    """A constant input is NaN on either side, also when rounding makes its deviations from
    the mean tiny non-zeros (three 0.1s: the mean is not 0.1), which would give r = 0."""
    from metricrm.meta.correlation import pearson_rows

    x, y = np.full(3, 0.1), np.array([1.0, 2.0, 3.0])
    assert x.mean() != 0.1  # the discriminating case
    for a, b in ((x, y), (y, x)):
        assert np.isnan(pearson(a, b)).all()
    rows = pearson_rows(np.stack([x, y, y]), np.stack([y, x, [3.0, 1.0, 2.0]]))
    assert np.isnan(rows[:2]).all()
    assert rows[2] == pytest.approx(stats.pearsonr(y, [3.0, 1.0, 2.0]).statistic, abs=1e-15)


def test_pearson_rows_compute_in_float64_whatever_the_input_type():
    """float32 scores (as models return them) are correlated in float64: the same r as scipy
    on the float64 values, not float32 arithmetic (which differs around 1e-7)."""
    from metricrm.meta.correlation import pearson_rows

    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(2, 200)).astype(np.float32)
    expected = stats.pearsonr(x.astype(np.float64), y.astype(np.float64)).statistic
    assert abs(float(pearson_rows(x, y)) - expected) < 1e-14
    assert float(pearson_rows(x[None], y)[0]) == float(pearson_rows(x, y))


def test_pearson_and_spearman_hand_cases():
    # y = 2x + 1 exactly: r = 1; reversed ranks: rho = -1
    assert pearson([1, 2, 3], [3, 5, 7]).statistic == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [10, 5, 1, 0]).statistic == pytest.approx(-1.0)
    assert np.isnan(pearson([2, 2, 2], [1, 2, 3]).statistic)


# ------------------------------------------------------------------------------------- acc23


def test_acc23_search_finds_the_tie_threshold():
    # human 1 1 1 2; metric 0 0.5 1 3. Human-tied pairs have metric diffs 0.5, 1, 0.5; the three
    # concordant pairs (with item 3) have diffs 3, 2.5, 2.
    # eps 0: 3/6; eps 0.5: 5/6; eps 1: 6/6; eps 2: the (2, 3) pair is lost -> 5/6.
    r = tie_calibrated_accuracy([1, 1, 1, 2], [0, 0.5, 1, 3])
    assert (r.accuracy, r.epsilon, r.n_pairs) == (1.0, 1.0, 6)
    assert (r.n_groups, r.n_groups_skipped, r.n_missing) == (1, 0, 0)  # no groups: one group
    assert all(type(v) is int for v in (r.n_pairs, r.n_groups, r.n_groups_skipped, r.n_missing))
    assert tie_calibrated_accuracy(
        [1, 1, 1, 2], [0, 0.5, 1, 3], epsilon=0.5
    ).accuracy == pytest.approx(5 / 6)
    assert tie_calibrated_accuracy(
        [1, 1, 1, 2], [0, 0.5, 1, 3], epsilon=2
    ).accuracy == pytest.approx(5 / 6)


def test_acc23_keeps_the_smallest_best_epsilon():
    # human 1 1 2 3; metric 0 1 0.5 3: the tied pair (0, 1) has diff 1; concordant pairs
    # (0,2) 0.5, (0,3) 3, (1,3) 2, (2,3) 2.5; pair (1,2) is discordant.
    # eps 0: 4/6. eps 1: tie gained, (0,2) lost: 4/6 again -> the smaller epsilon, 0, is kept.
    r = tie_calibrated_accuracy([1, 1, 2, 3], [0, 1, 0.5, 3])
    assert r.accuracy == pytest.approx(4 / 6) and r.epsilon == 0.0


def test_acc23_grouped_averages_groups_with_one_epsilon():
    # group a: human 1 1 2, metric 0 1 3 -> pairs: tie d=1, concordant d=3 and d=2
    # group b: human 1 2 3, metric 0 2 4 -> concordant d=2, 4, 2
    # eps 0: (2/3 + 1) / 2 = 5/6; eps 1: (1 + 1) / 2 = 1. Group c has one item: skipped.
    # The NaN human score in group a is left out and counted.
    human = [1, 1, 2, np.nan, 1, 2, 3, 5]
    metric = [0, 1, 3, 7, 0, 2, 4, 9]
    groups = ["a", "a", "a", "a", "b", "b", "b", "c"]
    r = tie_calibrated_accuracy(human, metric, groups=groups)
    assert (r.accuracy, r.epsilon) == (pytest.approx(1.0), 1.0)
    assert (r.n_pairs, r.n_groups, r.n_groups_skipped, r.n_missing) == (6, 2, 1, 1)
    fixed = tie_calibrated_accuracy(human, metric, groups=groups, epsilon=0)
    assert fixed.accuracy == pytest.approx(5 / 6)
    # a given epsilon is reported back (as a float) with the same counts as the search
    assert (fixed.epsilon, fixed.n_pairs, fixed.n_groups, fixed.n_groups_skipped) == (0.0, 6, 2, 1)
    assert fixed.n_missing == 1 and type(fixed.epsilon) is float


def test_acc23_grouped_keeps_the_smallest_best_epsilon_despite_rounding():
    """Per-group fractions averaged in floating point can make a larger epsilon look better by
    one ulp although the exact accuracies are equal: here epsilon 0.25 and 0.5 both give
    exactly 3/10 (computed with fractions), while the float averages are 0.3 and
    0.30000000000000004. The search must still return the smaller epsilon."""
    from fractions import Fraction

    groups = np.repeat([0, 1, 2, 3], [5, 4, 2, 6])
    human = np.array([1, 0, 2, 1, 1, 2, 1, 0, 1, 2, 1, 2, 2, 0, 0, 2, 2], dtype=float)
    metric = np.array([2, 3, 0, 4, 3, 4, 1, 2, 1, 1, 4, 1, 2, 3, 2, 4, 3]) / 4

    def exact(eps: float) -> Fraction:
        total = Fraction(0)
        for g in range(4):
            h, m = human[groups == g], metric[groups == g]
            i, j = np.triu_indices(h.size, 1)
            dh, dm = h[j] - h[i], m[j] - m[i]
            m_tie, h_tie = np.abs(dm) <= eps, dh == 0
            ok = (h_tie & m_tie) | (~h_tie & ~m_tie & (np.sign(dh) == np.sign(dm)))
            total += Fraction(int(ok.sum()), ok.size)
        return total / 4

    candidates = sorted({0.0, *np.abs(metric[:, None] - metric[None, :]).ravel().tolist()})
    values = [exact(eps) for eps in candidates]
    best = max(values)
    assert exact(0.25) == exact(0.5) == best  # the discriminating case: a tie in exact terms
    floats = {e: tie_calibrated_accuracy(human, metric, groups=groups, epsilon=e).accuracy
              for e in (0.25, 0.5)}  # fmt: skip
    assert floats[0.5] > floats[0.25]  # ... that rounding breaks
    r = tie_calibrated_accuracy(human, metric, groups=groups)
    assert r.epsilon == candidates[values.index(best)] == 0.25
    assert r.accuracy == pytest.approx(float(best), abs=1e-15)


def _acc23_brute_force(h: np.ndarray, m: np.ndarray) -> tuple[float, float]:
    """Evaluate every candidate epsilon over every pair directly (mt-metrics-eval's definition)."""
    i, j = np.triu_indices(h.size, 1)
    dh, dm = h[j] - h[i], m[j] - m[i]
    best = (-1.0, 0.0)
    for eps in np.unique(np.r_[0.0, np.abs(dm)]):
        m_tie, h_tie = np.abs(dm) <= eps, dh == 0
        correct = (h_tie & m_tie) | (~h_tie & ~m_tie & (np.sign(dh) == np.sign(dm)))
        if correct.mean() > best[0]:
            best = (correct.mean(), eps)
    return best


@pytest.mark.shared_data
def test_acc23_matches_brute_force_on_real_scores(mqm):
    # One system's scored segments: real MQM scores with many exact ties (zeros).
    sel = (mqm["systems"] == "Nemo") & ~np.isnan(mqm["human"])
    h, m = mqm["human"][sel], mqm["metric"][sel]
    r = tie_calibrated_accuracy(h, m)
    acc, eps = _acc23_brute_force(h, m)
    assert r.accuracy == pytest.approx(acc, abs=1e-12) and r.epsilon == eps
    assert r.n_pairs == h.size * (h.size - 1) // 2


@pytest.mark.parametrize(
    ("human", "metric", "settings", "error", "message"),
    [
        (["a", 1], [1, 2], {}, ScorerInputError,
         "expected `human` to be an array of numbers (got list: could not convert string to "
         "float: 'a')"),
        ([1, np.inf, 2], [1, 2, 3], {}, ScorerInputError,
         "`human` has inf at index 1 (1 such entries); expected a finite number or NaN "
         "(missing)"),
        ([[1, 2]], [1, 2], {}, ScorerInputError,
         "expected `human` to be 1-dimensional (got shape (1, 2))"),
        ([1, 2, 3], [1, np.nan, np.nan], {}, ScorerInputError,
         "`metric` has nan at index 1 (2 such entries); expected a finite number"),
        ([1, 2, 3], [1, 2], {}, ScorerInputError,
         "expected one entry per item in every input (got 3 human, 2 metric)"),
        ([1, 2], [1, 2], {"epsilon": -0.5}, ScorerConfigError,
         "`epsilon` must be a number >= 0 or None (got -0.5)"),
        ([1, 2], [1, 2], {"epsilon": True}, ScorerConfigError,
         "`epsilon` must be a number >= 0 or None (got True)"),
        ([1, 2], [1, 2], {"epsilon": "0.1"}, ScorerConfigError,
         "`epsilon` must be a number >= 0 or None (got '0.1')"),
        ([1, 2], [1, 2], {"epsilon": float("nan")}, ScorerConfigError,
         "`epsilon` must be a number >= 0 or None (got nan)"),
        ([1, 2, 3], [1, 2, 3], {"groups": ["a", "b"]}, ScorerInputError,
         "expected `groups` to have one label per item (3) (got shape (2,))"),
        ([1, np.nan, 3], [1, 2, 3], {"groups": ["a", "a", "b"]}, ScorerInputError,
         "expected at least one group with 2 or more scored items (got none; 1 items had no "
         "human score)"),
    ],
)  # fmt: skip
def test_acc23_input_errors_name_the_function_argument_and_item(
    human, metric, settings, error, message
):
    with pytest.raises(error) as err:
        tie_calibrated_accuracy(human, metric, **settings)
    assert str(err.value) == f"tie_calibrated_accuracy: {message}"


@pytest.mark.parametrize("block_elems", [1, 7, 40, 1 << 22])
def test_concordant_histogram_equals_brute_force_in_any_block_size(block_elems):
    """The pair histogram behind acc23 is built in row blocks so that memory stays bounded;
    every block size gives the brute-force histogram (each concordant pair counted once, in
    the bin of the first cut >= its metric |diff|). 1 << 22 is the default (one block here)."""
    from metricrm.meta.correlation import _concordant_hist

    rng = np.random.default_rng(7)
    h = rng.integers(0, 4, 23).astype(float)  # many human ties
    m = np.round(rng.normal(size=23), 1)  # and some metric ties
    cuts = np.array([0.0, 0.1, 0.35, 0.8, 1.5])
    i, j = np.triu_indices(h.size, 1)
    dh, dm = h[j] - h[i], m[j] - m[i]
    d = np.abs(dm[dh * dm > 0])
    bins = [int((cuts < x).sum()) for x in d]  # how many cuts lie below the pair's |diff|
    expected = [bins.count(c) for c in range(cuts.size + 1)]
    assert sum(expected) == d.size > 100
    np.testing.assert_array_equal(_concordant_hist(h, m, cuts, block_elems), expected)


# --------------------------------------------------------------------------------------- SPA


def test_pairwise_system_pvalues_enumerated_by_hand():
    # Systems A = [3, 1], B = [0, 0]; all four sign patterns of two segments.
    # Observed sum(A) - sum(B) = 4; permuted deltas 3 s1 + s2 = 4, 2, -2, -4 -> p(A > B) = 1/4;
    # for B > A the observed -4 is matched or beaten by all four -> p = 1.
    signs = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]], dtype=float)
    p = pairwise_system_pvalues([[3, 1], [0, 0]], signs)
    assert p[0, 1] == 0.25 and p[1, 0] == 1.0 and np.isnan(p[0, 0])


def test_pairwise_system_pvalues_equal_a_loop():
    rng = np.random.default_rng(5)
    scores = rng.normal(size=(4, 30))
    signs = np.where(rng.integers(0, 2, size=(200, 30)) == 1, -1.0, 1.0)
    p = pairwise_system_pvalues(scores, signs)
    for i in range(4):
        for j in range(4):
            if i != j:
                observed = scores[i].sum() - scores[j].sum()
                null = [(s * scores[i]).sum() - (s * scores[j]).sum() for s in signs]
                assert p[i, j] == pytest.approx(np.mean(np.array(null) >= observed - 1e-12))


@pytest.mark.shared_data
def test_spa_on_real_mqm_matrix(mqm):
    H, systems, segments = system_segment_matrix(mqm["human"], mqm["systems"], mqm["segments"])
    M, _, _ = system_segment_matrix(mqm["metric"], mqm["systems"], mqm["segments"])
    assert H.shape == (14, len(np.unique(mqm["segments"])))
    dropped = int(np.isnan(H).any(axis=0).sum())
    same = soft_pairwise_accuracy(
        H, np.nan_to_num(H), rng=np.random.default_rng(0), n_resamples=200
    )
    assert same.value == 1.0  # identical scores on the kept segments, identical swaps
    assert (same.n_segments, same.n_segments_dropped) == (H.shape[1] - dropped, dropped)
    noisy = soft_pairwise_accuracy(H, M, rng=np.random.default_rng(0), n_resamples=200)
    again = soft_pairwise_accuracy(H, M, rng=np.random.default_rng(0), n_resamples=200)
    assert 0.5 < noisy.value < 1.0 and noisy.value == again.value
    flipped = soft_pairwise_accuracy(
        H, M, rng=np.random.default_rng(0), n_resamples=200, higher_is_better=False
    )
    assert flipped.value < noisy.value
    upper = np.triu_indices(14, 1)
    expected = 1 - np.abs(noisy.human_pvalues - noisy.metric_pvalues)[upper].mean()
    assert noisy.value == pytest.approx(expected)


def test_pearson_rows_stay_within_minus_one_and_one_despite_rounding():
    from metricrm.meta.correlation import pearson_rows

    # exact linear relations whose r rounds to 1 + 2^-52 or -1 - 2^-52 before the clip
    x = np.array([0.5, 1.0, -0.2, -1.1])
    w = np.array([2.0, 0.2, -0.6, -0.4, -1.1, -1.3, 0.6])
    assert pearson_rows(x, 2.3 * x + 1) == 1.0
    assert pearson_rows(w, -0.7 * w) == -1.0
    assert pearson(x, 2.3 * x + 1).statistic == 1.0 and pearson(w, -0.7 * w).statistic == -1.0


def test_pearson_rows_of_a_constant_row_is_nan_without_a_warning():
    from metricrm.meta.correlation import pearson_rows

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = pearson_rows(np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 4.0]]), np.array([1.0, 2.0, 3.0]))
    assert np.isnan(r[0]) and r[1] == pytest.approx(stats.pearsonr([1, 2, 4], [1, 2, 3])[0])


@pytest.mark.parametrize("scale", [1e-200, 1e-160, 1e-20, 1.0, 1e20, 1e160, 1e200])
def test_pearson_is_scale_free_at_extreme_scales(scale):
    # sums of squared deviations underflow (or lose digits as subnormals) below about 1e-154
    # and overflow above about 1e154; r itself does not depend on the scale
    x = np.array([0.0, 1.0, 3.0, 2.0]) * scale
    y = np.array([0.0, 1.0, 1.0, 3.0])
    want = stats.pearsonr([0.0, 1.0, 3.0, 2.0], y)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pearson(x, y).statistic == pytest.approx(want, rel=1e-12)
        assert pearson(y, x).statistic == pytest.approx(want, rel=1e-12)
        assert pearson(x, x * 0.5).statistic == 1.0
        assert spearman(x, y).statistic == pytest.approx(stats.spearmanr(x, y)[0], rel=1e-12)
