"""Contracts of metricrm.meta.resampling found by mutation testing: system-level statistics with
a custom correlation against a per-resample loop, statistic names, index checks at their bounds,
block loops longer than one block, EarlyStopping's bounds and every error message in full."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
from scipy import stats

from metricrm.core.errors import ScorerConfigError, ScorerInputError
from metricrm.meta import (
    MEAN,
    PEARSON,
    EarlyStopping,
    RowStatistic,
    SumStatistic,
    bootstrap,
    bootstrap_distribution,
    paired_permutation_test,
    percentile_interval,
    permutation_distribution,
    permutation_masks,
    permutation_pvalue_matrix,
    system_level,
)
from metricrm.meta.resampling import _hits, _pvalue, bootstrap_indices, run_with_early_stopping

from .contract_helpers import raises_exactly as _raises


@pytest.fixture(scope="module")
def columns() -> dict:
    """(n_segments, n_systems) metric and human columns with unscored human cells."""
    rng = np.random.default_rng(11)
    human = rng.normal(size=(40, 5))
    metric = 0.6 * human + rng.normal(size=(40, 5))
    human[rng.random(human.shape) < 0.15] = np.nan
    return {"metric": metric, "human": human}


def _system_loop(corr, metric, human, idx, every=False):
    """System-level statistic of each resample, one resample at a time."""
    out = []
    for row in idx:
        h, m = human[row], metric[row]
        h_mean = np.nanmean(h, axis=0)
        m_mean = (
            np.nanmean(m, axis=0)
            if every
            else np.array([m[~np.isnan(h[:, j]), j].mean() for j in range(h.shape[1])])
        )
        ok = ~np.isnan(h_mean)
        value = corr(h_mean[ok], m_mean[ok])
        out.append(float(getattr(value, "statistic", value)))
    return np.array(out)


def _lopsided(h: np.ndarray, m: np.ndarray) -> float:
    """Not symmetric in its arguments, so a swap of human and metric shows."""
    return float(np.dot(h, np.arange(1, h.size + 1)) - 2.0 * m.sum())


@pytest.mark.parametrize("corr", [stats.pearsonr, stats.kendalltau, _lopsided])
def test_system_level_with_a_custom_correlation_equals_a_loop(columns, corr):
    idx = np.random.default_rng(5).integers(0, 40, size=(30, 40))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of an all-NaN column
        expected = _system_loop(corr, columns["metric"], columns["human"], idx)
    got = bootstrap_distribution(system_level(corr), [columns["metric"], columns["human"]], idx)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    whole = _system_loop(corr, columns["metric"], columns["human"], [np.arange(40)])[0]
    assert system_level(corr)(columns["metric"], columns["human"]) == pytest.approx(
        whole, rel=1e-12
    )


def test_system_level_defaults_to_pearson_over_scored_cells(columns):
    idx = np.random.default_rng(6).integers(0, 40, size=(20, 40))
    arrays = [columns["metric"], columns["human"]]
    default = bootstrap_distribution(system_level(), arrays, idx)
    np.testing.assert_array_equal(
        default, bootstrap_distribution(system_level("pearson"), arrays, idx)
    )
    np.testing.assert_allclose(
        default,
        _system_loop(stats.pearsonr, columns["metric"], columns["human"], idx),
        rtol=1e-10,
    )


def test_system_level_names():
    assert system_level().name == "system_pearson"
    assert system_level("spearman", cells="all").name == "system_spearman_all_cells"
    assert system_level(stats.pearsonr).name == "system_pearsonr"
    assert system_level(_lopsided, cells="all").name == "system__lopsided_all_cells"
    nameless = functools.partial(stats.pearsonr, alternative="greater")
    assert system_level(nameless).name == "system_custom"


def test_system_level_without_human_scores_in_a_resample_is_nan_without_a_warning(columns):
    human = columns["human"].copy()
    human[:5] = np.nan  # resamples of segments 0-4 only have no human score at all
    idx = np.random.default_rng(1).integers(0, 5, size=(4, 40))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = bootstrap_distribution(system_level(), [columns["metric"], human], idx)
    assert np.isnan(got).all()


def test_system_level_refuses_unknown_settings():
    with _raises(
        ScorerConfigError, "system_level: `cells` must be one of 'scored', 'all' (got 'some')"
    ):
        system_level(cells="some")
    with _raises(
        ScorerConfigError,
        "system_level: `corr` must be one of 'pearson', 'spearman', 'kendall' (got 'pearsn')",
    ):
        system_level("pearsn")


# ------------------------------------------------------------------------ bootstrap_distribution


def test_bootstrap_distribution_checks_its_index_matrix():
    x = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    with _raises(
        ScorerInputError,
        "bootstrap: expected an integer (n_resamples, m) index matrix "
        "(got int64 array of shape (5,))",
    ):
        bootstrap_distribution(MEAN, [x], np.arange(5, dtype=np.int64))
    with _raises(
        ScorerInputError,
        "bootstrap: expected an integer (n_resamples, m) index matrix "
        "(got float64 array of shape (2, 3))",
    ):
        bootstrap_distribution(MEAN, [x], np.zeros((2, 3)))
    with _raises(ScorerInputError, "bootstrap: indices must lie in [0, 5) (got -1..3)"):
        bootstrap_distribution(MEAN, [x], np.array([[0, 3], [-1, 2]]))
    with _raises(ScorerInputError, "bootstrap: indices must lie in [0, 5) (got 0..5)"):
        bootstrap_distribution(MEAN, [x], np.array([[0, 5]]))
    with _raises(ScorerInputError, "bootstrap: group indices must lie in [0, 2) (got 0..2)"):
        bootstrap_distribution(MEAN, [x], np.array([[0, 2]]), groups=list("aabbb"))
    # the largest valid index is fine
    np.testing.assert_array_equal(bootstrap_distribution(MEAN, [x], np.array([[4, 4]])), [0.0])


def test_bootstrap_distribution_checks_its_arrays_and_groups_option():
    with _raises(ScorerInputError, "bootstrap: expected at least one data array (got none)"):
        bootstrap_distribution(MEAN, [], np.zeros((1, 1), dtype=int))
    with _raises(
        ScorerConfigError,
        "bootstrap: `pass_groups` is for plain callables that take `groups=` (got a SumStatistic)",
    ):
        bootstrap_distribution(
            MEAN, [np.ones(3)], np.zeros((1, 3), dtype=int), groups=[0, 0, 1], pass_groups=True
        )


def test_bootstrap_distribution_passes_draw_labels_to_a_plain_callable():
    """With ``pass_groups`` the callable gets one label per draw position, so two draws of the
    same group stay apart."""
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    groups = np.array(["a", "a", "b", "c", "c"])

    def mean_of_group_means(v, groups):
        return float(np.mean([v[groups == g].mean() for g in np.unique(groups)]))

    idx = np.array([[0, 0, 2], [1, 2, 1], [2, 2, 2]])
    got = bootstrap_distribution(mean_of_group_means, [x], idx, groups=groups, pass_groups=True)
    members = {0: x[:2], 1: x[2:3], 2: x[3:]}
    expected = [np.mean([members[g].mean() for g in row]) for row in idx]
    np.testing.assert_allclose(got, expected, rtol=1e-15)


@pytest.mark.parametrize("m", [1, 2])
def test_bootstrap_distribution_runs_every_resample_when_blocks_hold_one(m):
    """With 2**18 items a block holds one resample; resamples with fewer draws than blocks
    (m < n_resamples) are all evaluated."""
    n = 1 << 18
    x = (np.arange(n) % 7).astype(np.float64)
    idx = np.random.default_rng(2).integers(0, n, size=(5, m))
    got = bootstrap_distribution(MEAN, [x], idx)
    np.testing.assert_array_equal(got, x[idx].mean(axis=1))


# --------------------------------------------------------------------------------- EarlyStopping


def test_early_stopping_bounds():
    assert EarlyStopping(low=0.0, high=1.0) == EarlyStopping(100, 0.0, 1.0)
    assert EarlyStopping(block=1).block == 1
    with _raises(ScorerConfigError, "EarlyStopping: `block` must be an integer >= 1 (got 0)"):
        EarlyStopping(block=0)
    for name, value in [("low", -0.1), ("high", 1.5), ("low", True), ("low", "0.1")]:
        with _raises(
            ScorerConfigError, f"EarlyStopping: `{name}` must be a number in [0, 1] (got {value!r})"
        ):
            EarlyStopping(**{name: value})
    with _raises(ScorerConfigError, "EarlyStopping: expected low < high (got low=0.3, high=0.3)"):
        EarlyStopping(low=0.3, high=0.3)


# ---------------------------------------------------------------------- permutation_pvalue_matrix


def _candidates():
    rng = np.random.default_rng(4)
    human = rng.normal(size=60)
    return [human + rng.normal(scale=s, size=60) for s in (0.5, 1.0, 1.5)], human


def test_permutation_pvalue_matrix_defaults():
    cands, human = _candidates()
    values, p = permutation_pvalue_matrix(PEARSON, cands, human, rng=np.random.default_rng(0))
    v2, p2 = permutation_pvalue_matrix(
        PEARSON, cands, human, rng=np.random.default_rng(0), n_resamples=1000, plus_one=True
    )
    np.testing.assert_array_equal(values, v2)
    np.testing.assert_array_equal(p, p2)
    off = ~np.eye(3, dtype=bool)
    hits = p[off] * 1001 - 1  # (1 + hits) / (1 + 1000)
    np.testing.assert_allclose(hits, np.round(hits), atol=1e-9)
    assert (p[off] >= 1 / 1001).all()


def test_permutation_pvalue_matrix_errors():
    cands, human = _candidates()
    who = "permutation_pvalue_matrix"
    with _raises(
        ScorerConfigError,
        f"{who}: `rng` must be a numpy.random.Generator, e.g. numpy.random.default_rng(0) "
        "(got int)",
    ):
        permutation_pvalue_matrix(PEARSON, cands, human, rng=0)
    with _raises(ScorerConfigError, f"{who}: `n_resamples` must be an integer >= 1 (got 0)"):
        permutation_pvalue_matrix(
            PEARSON, cands, human, rng=np.random.default_rng(0), n_resamples=0
        )
    with _raises(
        ScorerConfigError, f"{who}: `early_stopping` must be None or an EarlyStopping (got dict)"
    ):
        permutation_pvalue_matrix(
            PEARSON, cands, human, rng=np.random.default_rng(0), early_stopping={}
        )
    with _raises(ScorerInputError, f"{who}: expected at least 2 candidates (got 1)"):
        permutation_pvalue_matrix(PEARSON, cands[:1], human, rng=np.random.default_rng(0))
    with _raises(
        ScorerInputError,
        f"{who}: expected one entry per item in every input (got 60 array 0, "
        "60 array 1, 60 array 2, 59 array 3)",
    ):
        permutation_pvalue_matrix(PEARSON, cands, human[:59], rng=np.random.default_rng(0))


def test_bootstrap_and_permutation_errors_name_the_function():
    x = np.ones(4)
    with _raises(
        ScorerConfigError,
        "bootstrap: `rng` must be a numpy.random.Generator, e.g. numpy.random.default_rng(0) "
        "(got NoneType)",
    ):
        bootstrap(MEAN, x, rng=None)
    with _raises(ScorerConfigError, "bootstrap: `n_resamples` must be an integer >= 1 (got 0)"):
        bootstrap(MEAN, x, rng=np.random.default_rng(0), n_resamples=0)
    with _raises(ScorerConfigError, "bootstrap: `confidence` must be a number in (0, 1) (got 1.0)"):
        bootstrap(MEAN, x, rng=np.random.default_rng(0), confidence=1.0)
    with _raises(
        ScorerConfigError, "bootstrap: `method` must be one of 'indices', 'counts' (got 'count')"
    ):
        bootstrap(MEAN, x, rng=np.random.default_rng(0), method="count")
    with _raises(
        ScorerConfigError,
        "paired_permutation_test: `alternative` must be one of 'greater', 'less', 'two-sided' "
        "(got 'more')",
    ):
        paired_permutation_test(MEAN, x, x, rng=np.random.default_rng(0), alternative="more")


def _brute_pvalue_matrix(stat, cands, human, masks, sign, plus_one, early):
    """p[i, j] for "i better than j" from the swap masks, one resample and one pair at a time,
    stopping (if ``early``) on the leader's running p-value after each whole block."""
    k, r = len(cands), masks.shape[0]
    p = np.full((k, k), np.nan)
    for i in range(k):
        for j in range(k):
            if i >= j:
                continue
            a, b = cands[i], cands[j]
            observed = sign * (stat(a, human) - stat(b, human))
            null, hits = [], 0
            for row in masks:
                null.append(
                    sign * (stat(np.where(row, b, a), human) - stat(np.where(row, a, b), human))
                )
                tol = 1e-12 * max(1.0, abs(observed))
                lead = null[-1] >= observed - tol if observed >= 0 else null[-1] <= observed + tol
                hits += bool(lead)
                if early and len(null) % early.block == 0:
                    if not early.low <= hits / len(null) <= early.high:
                        break
            null = np.array(null)
            tol = 1e-12 * max(1.0, abs(observed))
            greater, less = np.sum(null >= observed - tol), np.sum(null <= observed + tol)
            extra = 1 if plus_one else 0
            p[i, j] = (greater + extra) / (null.size + extra)
            p[j, i] = (less + extra) / (null.size + extra)
    assert r >= 1
    return p


@pytest.mark.parametrize(
    ("higher_is_better", "plus_one", "early"),
    [
        (True, True, None),
        (False, True, None),
        (True, False, EarlyStopping(block=20, low=0.1, high=0.3)),
        (False, False, EarlyStopping(block=20, low=0.1, high=0.3)),
    ],
)
def test_permutation_pvalue_matrix_equals_a_brute_force(higher_is_better, plus_one, early):
    cands, human = _candidates()
    cands = [cands[0], cands[1], cands[0] + 0.0, cands[2]]  # a tie: observed difference 0
    mean_err = lambda x, h: float(np.mean(np.abs(x - h)))  # noqa: E731 (lower is better)
    stat = PEARSON if higher_is_better else mean_err
    values, p = permutation_pvalue_matrix(
        stat,
        cands,
        human,
        rng=np.random.default_rng(8),
        n_resamples=200,
        higher_is_better=higher_is_better,
        plus_one=plus_one,
        early_stopping=early,
    )
    masks = np.random.default_rng(8).integers(0, 2, size=(200, 60), dtype=bool)
    sign = 1.0 if higher_is_better else -1.0
    expected = _brute_pvalue_matrix(stat, cands, human, masks, sign, plus_one, early)
    np.testing.assert_allclose(values, [stat(c, human) for c in cands], rtol=1e-12)
    np.testing.assert_allclose(p, expected, rtol=1e-12)
    assert np.isnan(np.diag(p)).all() and not np.isnan(p[~np.eye(4, dtype=bool)]).any()


def _stop_on(null, leader_hits, block, high):
    """How many resamples early stopping keeps when the leader's hits are ``leader_hits``."""
    used = hits = 0
    while used < len(null):
        hits += sum(leader_hits(v) for v in null[used : used + block])
        used += block
        if hits / used > high:
            break
    return used


def test_permutation_pvalue_matrix_leader_of_a_tie_is_the_first():
    """Two candidates with exactly the same statistic: early stopping follows "the first is
    better" (hits are null >= 0), not "the second is better" (null <= 0)."""
    rng = np.random.default_rng(3)
    a = rng.integers(0, 10, size=40).astype(np.float64)  # integer sums: the means tie exactly
    b = a[::-1].copy()
    assert MEAN(a) == MEAN(b)
    early = EarlyStopping(block=10, low=0.0, high=0.6)
    differs = 0
    for seed in range(20):
        _, p = permutation_pvalue_matrix(
            MEAN,
            [a, b],
            rng=np.random.default_rng(seed),
            n_resamples=300,
            plus_one=False,
            early_stopping=early,
        )
        masks = np.random.default_rng(seed).integers(0, 2, size=(300, 40), dtype=bool)
        null = np.array([MEAN(np.where(m, b, a)) - MEAN(np.where(m, a, b)) for m in masks])
        used = _stop_on(null, lambda v: v >= -1e-12, 10, 0.6)
        differs += used != _stop_on(null, lambda v: v <= 1e-12, 10, 0.6)
        kept = null[:used]
        assert p[0, 1] == np.sum(kept >= -1e-12) / used, seed
        assert p[1, 0] == np.sum(kept <= 1e-12) / used, seed
    assert differs  # the seeds include cases where the other leader would stop elsewhere


def test_paired_permutation_test_errors():
    x = np.arange(6.0)
    who = "paired_permutation_test"
    rng = np.random.default_rng(0)
    with _raises(
        ScorerConfigError,
        f"{who}: `rng` must be a numpy.random.Generator, e.g. numpy.random.default_rng(0) "
        "(got RandomState)",
    ):
        paired_permutation_test(MEAN, x, x, rng=np.random.RandomState(0))
    with _raises(ScorerConfigError, f"{who}: `n_resamples` must be an integer >= 1 (got 1.5)"):
        paired_permutation_test(MEAN, x, x, rng=rng, n_resamples=1.5)
    with _raises(
        ScorerConfigError, f"{who}: `early_stopping` must be None or an EarlyStopping (got int)"
    ):
        paired_permutation_test(MEAN, x, x, rng=rng, early_stopping=5)
    with _raises(
        ScorerConfigError, f"{who}: `method` must be one of 'indices', 'counts' (got 'perm')"
    ):
        paired_permutation_test(MEAN, x, x, rng=rng, method="perm")
    with _raises(ScorerInputError, f"{who}: expected at least one of the items (got none)"):
        paired_permutation_test(MEAN, [], [], rng=rng)
    with _raises(
        ScorerConfigError, f"{who}: method='counts' needs a SumStatistic (got RowStatistic)"
    ):
        paired_permutation_test(PEARSON, x, x[::-1], x, rng=rng, method="counts")


def test_paired_permutation_test_less_mirrors_greater():
    rng = np.random.default_rng(9)
    a, b = rng.normal(size=50), rng.normal(size=50) + 0.3
    less = paired_permutation_test(MEAN, a, b, rng=np.random.default_rng(1), alternative="less")
    greater = paired_permutation_test(MEAN, b, a, rng=np.random.default_rng(1))
    assert less.alternative == "less" and less.difference == -greater.difference
    np.testing.assert_array_equal(less.distribution, -greater.distribution)
    assert less.pvalue == greater.pvalue


#: the weighted total sum(x * w): one feature column, never zero on the items below
WEIGHTED_SUM = SumStatistic(
    lambda x, w: (np.asarray(x, dtype=float) * np.asarray(w, dtype=float))[:, None],
    lambda s: s[..., 0],
    name="weighted_sum",
)


@pytest.mark.parametrize("method", ["indices", "counts"])
def test_permutation_with_one_differing_item_flips_its_sign(method):
    """a and b differ by exactly 1 (times its weight 1) on one item: every permutation gives
    +1 or -1, each about half the time, whatever the shared weights of the other items."""
    rng = np.random.default_rng(0)
    b = rng.integers(1, 5, size=30).astype(np.float64)
    a = b.copy()
    a[7] += 1.0
    w = rng.integers(1, 4, size=30).astype(np.float64)
    w[7] = 1.0
    r = paired_permutation_test(
        WEIGHTED_SUM, a, b, w, rng=np.random.default_rng(1), n_resamples=400, method=method
    )
    assert r.difference == 1.0 and r.alternative == "greater"
    assert set(np.unique(r.distribution)) == {-1.0, 1.0}
    hits = int(np.sum(r.distribution >= 1.0))
    assert 150 < hits < 250
    assert r.pvalue == (1 + hits) / 401 and r.n_resamples == 400 and r.n_used == 400
    # the other way round the feature difference is +1 (b minus a): swapped just the same
    back = paired_permutation_test(
        WEIGHTED_SUM, b, a, w, rng=np.random.default_rng(1), n_resamples=400, method=method
    )
    assert back.difference == -1.0
    assert set(np.unique(back.distribution)) == {-1.0, 1.0}


@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
def test_permutation_early_stopping_counts_hits_of_the_chosen_alternative(alternative):
    rng = np.random.default_rng(5)
    a = rng.normal(size=50)
    b = a + rng.normal(scale=0.5, size=50) - 0.05
    early = EarlyStopping(block=25, low=0.05, high=0.3)
    r = paired_permutation_test(
        MEAN,
        a,
        b,
        rng=np.random.default_rng(2),
        n_resamples=500,
        alternative=alternative,
        early_stopping=early,
        plus_one=False,
    )
    masks = np.random.default_rng(2).integers(0, 2, size=(500, 50), dtype=bool)
    null = np.array([MEAN(np.where(m, b, a)) - MEAN(np.where(m, a, b)) for m in masks])
    obs = MEAN(a) - MEAN(b)
    hit = {
        "greater": lambda v: v >= obs - 1e-12,
        "less": lambda v: v <= obs + 1e-12,
        "two-sided": lambda v: abs(v) >= abs(obs) - 1e-12,
    }[alternative]
    used = hits = 0
    while used < 500:
        hits += sum(hit(v) for v in null[used : used + 25])
        used += 25
        if not 0.05 <= hits / used <= 0.3:
            break
    assert r.n_used == used and r.alternative == alternative
    np.testing.assert_allclose(r.distribution, null[:used], rtol=1e-12, atol=1e-15)
    assert r.pvalue == hits / used


def test_sum_statistic_adds_float32_features_in_float64():
    x = np.full(1001, 0.1, dtype=np.float32)
    total = SumStatistic(lambda v: np.asarray(v)[:, None], lambda s: s[..., 0])
    exact = float(np.sum(x.astype(np.float64)))
    assert float(np.sum(x)) != exact  # a float32 sum would show
    assert total(x) == exact


def test_mean_of_a_resample_without_outcomes_is_nan_without_a_warning():
    outcomes = np.array([np.nan, 1.0, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = bootstrap_distribution(MEAN, [outcomes], np.array([[0, 0, 0], [1, 2, 0]]))
    assert np.isnan(got[0]) and got[1] == 0.5


def test_bootstrap_of_a_single_item():
    r = bootstrap(MEAN, np.array([0.7]), rng=np.random.default_rng(0), n_resamples=5)
    assert r.estimate == 0.7 and r.low == r.high == 0.7 and r.n_invalid == 0
    np.testing.assert_array_equal(r.distribution, np.full(5, 0.7))


def test_permutation_masks_are_booleans_from_the_generator():
    masks = permutation_masks(7, 3, np.random.default_rng(4))
    assert masks.dtype == bool and masks.shape == (3, 7)
    np.testing.assert_array_equal(
        masks, np.random.default_rng(4).integers(0, 2, size=(3, 7), dtype=bool)
    )
    with _raises(
        ScorerConfigError,
        "permutation_masks: `rng` must be a numpy.random.Generator, e.g. "
        "numpy.random.default_rng(0) (got int)",
    ):
        permutation_masks(7, 3, 4)


@pytest.mark.parametrize("scale", [0.3, 4.0])
def test_standardized_permutation_test_equals_the_test_on_z_scores(scale):
    rng = np.random.default_rng(6)
    h = rng.normal(size=40)
    a = scale * (h + rng.normal(size=40)) + 2.0
    b = 0.5 * scale * (h + rng.normal(size=40)) - 1.0
    za, zb = stats.zscore(a), stats.zscore(b)
    std = paired_permutation_test(
        PEARSON, a, b, h, rng=np.random.default_rng(3), n_resamples=50, standardize=True
    )
    raw = paired_permutation_test(PEARSON, za, zb, h, rng=np.random.default_rng(3), n_resamples=50)
    assert std.difference == pytest.approx(raw.difference, abs=1e-12)
    np.testing.assert_allclose(std.distribution, raw.distribution, atol=1e-12)
    _, p = permutation_pvalue_matrix(
        MEAN, [a, b], rng=np.random.default_rng(3), n_resamples=50, standardize=True
    )
    _, p_raw = permutation_pvalue_matrix(
        MEAN, [za, zb], rng=np.random.default_rng(3), n_resamples=50
    )
    np.testing.assert_array_equal(p, p_raw)


def test_standardizing_a_constant_scorer_centres_it():
    """A constant array has no spread: standardizing only centres it (zeros, no division)."""
    h = np.arange(10.0)
    c = np.full(10, 3.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = paired_permutation_test(
            MEAN, h, c, rng=np.random.default_rng(0), n_resamples=20, standardize=True
        )
    raw = paired_permutation_test(
        MEAN, stats.zscore(h), np.zeros(10), rng=np.random.default_rng(0), n_resamples=20
    )
    assert r.difference == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(r.distribution, raw.distribution, atol=1e-12)
    assert np.ptp(r.distribution) > 0.5


def test_permutation_distribution_errors():
    a = np.arange(4.0)
    who = "paired_permutation_test"
    masks = np.zeros((2, 4), dtype=bool)
    with _raises(
        ScorerInputError, f"{who}: expected `a` and `b` of the same shape (got (4,) and (4, 2))"
    ):
        permutation_distribution(MEAN, a, np.zeros((4, 2)), [], masks)
    with _raises(ScorerInputError, f"{who}: expected an (n_resamples, 4) swap mask (got (4,))"):
        permutation_distribution(MEAN, a, a, [], masks[0])
    with _raises(ScorerInputError, f"{who}: expected an (n_resamples, 4) swap mask (got (2, 3))"):
        permutation_distribution(MEAN, a, a, [], masks[:, :3])
    with _raises(
        ScorerInputError,
        f"{who}: expected one entry per item in every input (got 4 array 0, 4 array 1, 3 array 2)",
    ):
        permutation_distribution(PEARSON, a, a, [a[:3]], masks)


def test_permutation_of_two_dimensional_items_in_every_form():
    """Items that are rows of (n, d) arrays: the batched and summed forms give the loop's
    distribution on the same swap masks."""
    rng = np.random.default_rng(12)
    a, b = rng.normal(size=(30, 3)), rng.normal(size=(30, 3))
    masks = permutation_masks(30, 40, np.random.default_rng(1))
    weights = np.array([1.0, -2.0, 0.5])

    def plain(x):
        return float((x @ weights).sum())

    batched = RowStatistic(lambda x: (x @ weights).sum(axis=-1))
    summed = SumStatistic(lambda x: (x @ weights)[:, None], lambda s: s[..., 0])
    expected = [
        plain(np.where(m[:, None], b, a)) - plain(np.where(m[:, None], a, b)) for m in masks
    ]
    for stat in (plain, batched, summed):
        got = permutation_distribution(stat, a, b, [], masks)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_permutation_sums_float32_features_in_float64():
    x32 = np.random.default_rng(2).random(2001).astype(np.float32)
    y32 = np.roll(x32, 1)
    total32 = SumStatistic(lambda v: np.asarray(v, dtype=np.float32)[:, None], lambda s: s[..., 0])
    total64 = SumStatistic(lambda v: np.asarray(v, dtype=np.float64)[:, None], lambda s: s[..., 0])
    masks = permutation_masks(2001, 5, np.random.default_rng(0))
    assert float(x32.sum()) != float(x32.astype(np.float64).sum())  # float32 sums would show
    np.testing.assert_array_equal(
        permutation_distribution(total32, x32, y32, [], masks),
        permutation_distribution(total64, x32, y32, [], masks),
    )
    by_counts = [
        paired_permutation_test(
            t, x32, y32, rng=np.random.default_rng(0), n_resamples=5, method="counts"
        ).distribution
        for t in (total32, total64)
    ]
    np.testing.assert_array_equal(*by_counts)


def test_batched_permutation_runs_every_resample_when_blocks_hold_one():
    """With 2**18 items a block of the batched form holds one permutation: all are run."""
    n = 1 << 18
    rng = np.random.default_rng(13)
    h = rng.normal(size=n)
    a, b = h + rng.normal(size=n), h + 2.0 * rng.normal(size=n)
    masks = permutation_masks(n, 3, np.random.default_rng(2))
    got = permutation_distribution(PEARSON, a, b, [h], masks)

    def r(x):
        return stats.pearsonr(x, h).statistic

    expected = [r(np.where(m, b, a)) - r(np.where(m, a, b)) for m in masks]
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_group_labels_are_checked_by_name():
    x = np.ones(5)
    with _raises(
        ScorerInputError,
        "bootstrap: expected `groups` to have one label per item (5) (got shape (4,))",
    ):
        bootstrap(MEAN, x, rng=np.random.default_rng(0), groups=[0, 0, 1, 1])
    with _raises(
        ScorerInputError,
        "bootstrap: expected `groups` to have one label per item (5) (got shape (5, 1))",
    ):
        bootstrap_distribution(MEAN, [x], np.zeros((1, 1), dtype=int), groups=np.zeros((5, 1)))


# --------------------------------------------------------------------------------------- bootstrap


def test_bootstrap_counts_method_errors():
    x = np.ones(4)
    with _raises(
        ScorerConfigError,
        "bootstrap: method='counts' needs a SumStatistic and item resampling (got RowStatistic)",
    ):
        bootstrap(PEARSON, x, x, rng=np.random.default_rng(0), method="counts")
    with _raises(
        ScorerConfigError,
        "bootstrap: method='counts' needs a SumStatistic and item resampling "
        "(got SumStatistic with groups)",
    ):
        bootstrap(MEAN, x, rng=np.random.default_rng(0), method="counts", groups=[0, 0, 1, 1])
    with _raises(
        ScorerConfigError,
        "bootstrap: `pass_groups` is for plain callables that take `groups=` (got a RowStatistic)",
    ):
        bootstrap(
            PEARSON, x, x, rng=np.random.default_rng(0), groups=[0, 0, 1, 1], pass_groups=True
        )
    with _raises(
        ScorerInputError, "bootstrap: data arrays must hold one entry per item (got a scalar)"
    ):
        bootstrap(MEAN, 1.0, rng=np.random.default_rng(0))


def test_bootstrap_draws_blocks_like_one_index_matrix():
    """Blocks of one resample each (2**18 items) draw the rows of one index matrix."""
    n = 1 << 18
    x = (np.arange(n) % 5).astype(np.float64)
    r = bootstrap(MEAN, x, rng=np.random.default_rng(3), n_resamples=3)
    idx = np.random.default_rng(3).integers(0, n, size=(3, n), dtype=np.intp)
    np.testing.assert_array_equal(r.distribution, x[idx].mean(axis=1))
    assert r.n_resamples == 3 and r.confidence == 0.95 and r.estimate == x.mean()


def test_bootstrap_result_fields_and_invalid_resamples():
    """Pearson on 5 items: resamples drawing one distinct item are NaN, counted and left out."""
    x = np.array([1.0, 2.0, 3.0, 4.0, 6.0])
    y = np.array([2.0, 1.0, 4.0, 3.0, 7.0])
    r = bootstrap(PEARSON, x, y, rng=np.random.default_rng(0), n_resamples=4000, confidence=0.8)
    idx = np.random.default_rng(0).integers(0, 5, size=(4000, 5), dtype=np.intp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = np.array([np.corrcoef(x[i], y[i])[0, 1] for i in idx])
    constant = np.array([np.unique(i).size == 1 for i in idx])
    assert constant.sum() > 0 and r.n_invalid == constant.sum()
    np.testing.assert_allclose(r.distribution[~constant], expected[~constant], rtol=1e-12)
    assert np.isnan(r.distribution[constant]).all()
    finite = expected[~constant]
    assert (r.low, r.high) == pytest.approx(tuple(np.quantile(finite, [0.1, 0.9])), rel=1e-12)
    assert r.estimate == pytest.approx(stats.pearsonr(x, y).statistic, rel=1e-12)
    assert r.confidence == 0.8 and r.n_resamples == 4000


def test_grouped_bootstrap_passes_the_labels_to_the_estimate_and_loops_row_statistics():
    rng = np.random.default_rng(4)
    x, h = rng.normal(size=12), rng.normal(size=12)
    groups = np.repeat(["u", "v", "w", "z"], 3)

    def spread(v, groups):
        return float(np.ptp([v[groups == g].mean() for g in np.unique(groups)]))

    r = bootstrap(
        spread, x, rng=np.random.default_rng(1), n_resamples=5, groups=groups, pass_groups=True
    )
    assert r.estimate == spread(x, groups)
    # a RowStatistic over whole groups: the loop over concatenated members
    r = bootstrap(PEARSON, x, h, rng=np.random.default_rng(2), n_resamples=6, groups=groups)
    idx = np.random.default_rng(2).integers(0, 4, size=(6, 4), dtype=np.intp)
    members = [np.arange(3 * g, 3 * g + 3) for g in range(4)]
    takes = [np.concatenate([members[g] for g in row]) for row in idx]
    expected = [stats.pearsonr(x[t], h[t]).statistic for t in takes]
    np.testing.assert_allclose(r.distribution, expected, rtol=1e-12)


def test_percentile_interval_defaults_to_95_percent():
    d = np.random.default_rng(0).normal(size=500)
    assert percentile_interval(d) == tuple(np.quantile(d, [0.025, 0.975]))


def test_bootstrap_defaults_to_1000_resamples():
    r = bootstrap(MEAN, np.array([1.0, 0.0, 1.0]), rng=np.random.default_rng(0))
    assert r.n_resamples == 1000 and r.distribution.shape == (1000,) and r.confidence == 0.95


def test_a_drawn_group_keeps_its_items_in_their_order():
    """Resample b of a grouped bootstrap is its groups' items, each group in item order."""
    groups = np.tile([3, 1, 2], 200)  # interleaved labels: an unstable sort would mix them
    x = np.arange(600.0)

    def weighted_by_position(v):
        return float(np.dot(v, np.arange(v.size)))

    idx = np.array([[0, 1, 2], [2, 2, 0]])
    got = bootstrap_distribution(weighted_by_position, [x], idx, groups=groups)
    members = {g: x[groups == label] for g, label in enumerate([1, 2, 3])}
    expected = [weighted_by_position(np.concatenate([members[g] for g in row])) for row in idx]
    np.testing.assert_array_equal(got, expected)


# ------------------------------------------------------------------------------ p-value counting


@pytest.mark.parametrize("observed", [0.5, -0.5, 2000.0])
def test_hits_count_rounding_ties_within_1e_12_relative(observed):
    """A permuted value within 1e-12 x max(1, |observed|) of the observed one is a tie (a hit);
    one 1.5 tolerances away is not."""
    tol = 1e-12 * max(1.0, abs(observed))
    near, far = 0.5 * tol, 1.5 * tol
    null = np.array([observed - near, observed - far, observed + near, observed + far])
    assert _hits(null, observed, "greater") == 3  # all but observed - far
    assert _hits(null, observed, "less") == 3  # all but observed + far
    away = np.sign(observed) * np.array([abs(observed) - near, abs(observed) - far, -abs(observed)])
    assert _hits(away, observed, "two-sided") == 2  # |-observed| ties too
    assert _pvalue(null, observed, "greater") == 4 / 5
    assert _pvalue(null, observed, "greater", plus_one=False) == 3 / 4
    assert _pvalue(null, observed, "less", plus_one=True) == 4 / 5


def test_bootstrap_of_a_plain_callable_equals_a_loop():
    x = np.random.default_rng(7).normal(size=30)

    def trimmed(v):
        return float(stats.trim_mean(v, 0.1))

    r = bootstrap(trimmed, x, rng=np.random.default_rng(5), n_resamples=50)
    idx = np.random.default_rng(5).integers(0, 30, size=(50, 30), dtype=np.intp)
    np.testing.assert_array_equal(r.distribution, [trimmed(x[i]) for i in idx])
    assert r.estimate == trimmed(x)


@pytest.mark.parametrize("method", ["indices", "counts"])
def test_bootstrap_sums_float32_features_in_float64(method):
    x32 = np.random.default_rng(2).random(2001).astype(np.float32)
    total32 = SumStatistic(lambda v: np.asarray(v, dtype=np.float32)[:, None], lambda s: s[..., 0])
    total64 = SumStatistic(lambda v: np.asarray(v, dtype=np.float64)[:, None], lambda s: s[..., 0])
    assert float(x32.sum()) != float(x32.astype(np.float64).sum())  # float32 sums would show
    r32, r64 = (
        bootstrap(t, x32, rng=np.random.default_rng(0), n_resamples=5, method=method)
        for t in (total32, total64)
    )
    assert r32.estimate == r64.estimate
    np.testing.assert_array_equal(r32.distribution, r64.distribution)


def _recording_null(values):
    calls = []

    def null_block(start, stop):
        calls.append((start, stop))
        return values[start:stop]

    return null_block, calls


@pytest.mark.parametrize(
    ("first", "second", "low", "high"),
    [
        (2, 0, 0.2, 0.5),  # 2/10 == low: go on; 2/20 < low: stop
        (5, 10, 0.2, 0.5),  # 5/10 == high: go on; 15/20 > high: stop
    ],
)
def test_early_stopping_stops_only_strictly_outside_its_bounds(first, second, low, high):
    hits = np.r_[np.ones(first), np.zeros(10 - first), np.ones(second), np.zeros(10 - second)]
    values = np.r_[np.where(hits == 1, 1.0, -1.0), np.ones(60)]  # observed 0: hits are >= 0
    null_block, calls = _recording_null(values)
    got = run_with_early_stopping(null_block, 80, 0.0, "greater", EarlyStopping(10, low, high))
    assert calls == [(0, 10), (10, 20)]
    np.testing.assert_array_equal(got, values[:20])


def test_early_stopping_blocks_and_a_last_partial_block():
    values = np.r_[np.ones(10), -np.ones(10), np.ones(5)]  # p_hat 1.0, 0.5: never outside
    null_block, calls = _recording_null(values.astype(np.int64))
    got = run_with_early_stopping(null_block, 25, 0.0, "greater", EarlyStopping(10, 0.0, 1.0))
    assert calls == [(0, 10), (10, 20), (20, 25)]
    np.testing.assert_array_equal(got, values)
    assert got.dtype == np.float64
    null_block, calls = _recording_null(
        values.astype(np.int64)
    )  # integer values come back as floats
    got = run_with_early_stopping(null_block, 25, 0.0, "greater", None)
    assert calls == [(0, 25)] and got.dtype == np.float64
    np.testing.assert_array_equal(got, values)
    # "less" counts values <= observed: 10 of the first 10 are above 0, p_hat 0 < low stops
    null_block, calls = _recording_null(values)
    run_with_early_stopping(null_block, 25, 0.0, "less", EarlyStopping(10, 0.05, 0.9))
    assert calls == [(0, 10)]


def test_bootstrap_indices_and_empty_data():
    idx = bootstrap_indices(6, 4, np.random.default_rng(1))
    assert idx.dtype == np.intp and idx.shape == (4, 6)
    np.testing.assert_array_equal(
        idx, np.random.default_rng(1).integers(0, 6, size=(4, 6), dtype=np.intp)
    )
    with _raises(
        ScorerConfigError,
        "bootstrap_indices: `rng` must be a numpy.random.Generator, e.g. "
        "numpy.random.default_rng(0) (got int)",
    ):
        bootstrap_indices(6, 4, 1)
    with _raises(ScorerInputError, "bootstrap: expected at least one of the items (got none)"):
        bootstrap(MEAN, np.array([]), rng=np.random.default_rng(0))
    with _raises(
        ScorerInputError,
        "bootstrap: expected one entry per item in every input (got 3 array 0, 2 array 1)",
    ):
        bootstrap(PEARSON, np.ones(3), np.ones(2), rng=np.random.default_rng(0))
