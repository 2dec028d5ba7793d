"""Weight learning, held-out evaluation by group, and Pareto analysis."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.special import expit

import metricrm as mr
from metricrm.core.errors import ScorerConfigError, ScorerInputError
from metricrm.weighting import (
    Component,
    ItemTable,
    PairObjective,
    PairTable,
    WeightMethod,
    cross_validate_weights,
    fit_composite,
    fit_normalizers,
    group_folds,
    held_out_table,
    learn_item_weights,
    learn_pair_weights,
    learn_weights,
    pareto_mask,
    pareto_sweep,
    simplex_grid,
)

pytest.importorskip("sklearn")
TRUE = np.array([1.0, 0.5, -0.4])


def _pairs(n: int = 1500, seed: int = 0, weights=TRUE) -> PairTable:
    """Pairs whose human preference follows a Bradley-Terry model on three components."""
    rng = np.random.default_rng(seed)
    k = len(weights)
    a, b = rng.normal(size=(n, k)), rng.normal(size=(n, k))
    a_wins = rng.random(n) < expit((a - b) @ weights)
    chosen, rejected = np.where(a_wins[:, None], a, b), np.where(a_wins[:, None], b, a)
    labels = ["good", "fine", "long"][:k]
    return PairTable.from_arrays(
        {lab: 10 * chosen[:, j] + 3 for j, lab in enumerate(labels)},
        {lab: 10 * rejected[:, j] + 3 for j, lab in enumerate(labels)},
        groups=np.arange(n) // 3,
        categories=np.where(np.arange(n) % 2 == 0, "even", "odd"),
    )


# ------------------------------------------------------------------------------- pairs


@pytest.mark.parametrize("penalty", ["l2", "l1", None])
def test_bounded_scipy_fit_equals_scikit_learn_when_the_optimum_is_positive(penalty):
    t = _pairs(weights=np.array([1.0, 0.5, 0.2]))
    c, r = t.normalised(fit_normalizers(t, ["zscore"] * 3))
    free = learn_pair_weights(c, r, WeightMethod("logistic", penalty=penalty, C=0.05))
    bounded = learn_pair_weights(c, r, WeightMethod("logistic", penalty=penalty, C=0.05,
                                                    nonnegative=True))  # fmt: skip
    assert (free > 0).all()
    np.testing.assert_allclose(bounded, free, rtol=1e-4, atol=1e-6)


def test_logistic_recovers_the_generating_weights():
    t = _pairs(n=20_000)
    c, r = t.normalised(fit_normalizers(t, ["identity"] * 3))
    w = learn_pair_weights(c, r, WeightMethod("logistic", penalty=None))
    np.testing.assert_allclose(w * 10, TRUE, atol=0.06)  # scores were scaled by 10


def test_nonnegative_bounds_a_negative_weight_at_zero():
    t = _pairs()
    c, r = t.normalised(fit_normalizers(t, ["zscore"] * 3))
    w = learn_pair_weights(c, r, WeightMethod("logistic", nonnegative=True))
    assert w[2] == 0.0 and w[0] > w[1] > 0


def test_best_single_and_equal():
    t = _pairs()
    c, r = t.normalised(fit_normalizers(t, ["zscore"] * 3))
    accs = [np.mean(c[:, j] > r[:, j]) for j in range(3)]
    assert learn_pair_weights(c, r, "best_single").tolist() == np.eye(3)[np.argmax(accs)].tolist()
    assert learn_pair_weights(c, r, "equal").tolist() == [1.0, 1.0, 1.0]


def test_a_negative_weight_becomes_a_positive_one_on_the_flipped_component(tmp_path):
    t = _pairs()
    fit = learn_weights(t, ["zscore"] * 3, "logistic")
    assert fit.higher_is_better == (True, True, False)
    assert all(w > 0 for w in fit.weights.values()) and fit.raw_weights["long"] < 0
    # same decisions as the unflipped linear model
    c, r = t.normalised(fit_normalizers(t, ["zscore"] * 3))
    raw = np.array([fit.raw_weights[lab] for lab in t.labels])
    from metricrm.weighting.tables import table_with_directions

    flipped = table_with_directions(t, fit.higher_is_better)
    fc, fr = flipped.normalised(fit.normalizers)
    w = np.array([fit.weights[lab] for lab in t.labels])
    np.testing.assert_array_equal(np.sign((c - r) @ raw), np.sign((fc - fr) @ w))


def test_by_category_learns_one_weight_set_per_category():
    rng = np.random.default_rng(3)
    n = 4000
    a, b = rng.normal(size=(n, 2)), rng.normal(size=(n, 2))
    cat = np.where(np.arange(n) % 2 == 0, "math", "chat")
    w = np.where(cat[:, None] == "math", [2.0, 0.0], [0.0, 2.0])
    a_wins = rng.random(n) < expit(((a - b) * w).sum(axis=1))
    ch, rj = np.where(a_wins[:, None], a, b), np.where(a_wins[:, None], b, a)
    t = PairTable.from_arrays({"x": ch[:, 0], "y": ch[:, 1]}, {"x": rj[:, 0], "y": rj[:, 1]},
                              categories=cat)  # fmt: skip
    fit = learn_weights(t, ["zscore", "zscore"], "logistic", by_category=True)
    assert fit.by_label["math"]["x"] > 5 * fit.by_label["math"]["y"]
    assert fit.by_label["chat"]["y"] > 5 * fit.by_label["chat"]["x"]


# ------------------------------------------------------------------------------- items


def _items(n_groups: int = 60, per: int = 8, seed: int = 0) -> ItemTable:
    rng = np.random.default_rng(seed)
    n = n_groups * per
    x = rng.normal(size=(n, 3))
    human = x @ np.array([1.0, 0.6, 0.0]) + rng.normal(scale=0.8, size=n)
    return ItemTable.from_arrays(
        {"a": x[:, 0], "b": x[:, 1] * 5, "noise": x[:, 2]},
        {"expert": human},
        groups=np.repeat(np.arange(n_groups), per),
        systems=np.tile([f"s{i}" for i in range(per)], n_groups),
    )


def test_least_squares_is_numpy_lstsq_with_an_intercept():
    t = _items()
    x = t.normalised(fit_normalizers(t, ["zscore"] * 3))
    h = t.human["expert"]
    design = np.column_stack([x, np.ones(len(h))])
    ref = np.linalg.lstsq(design, h, rcond=None)[0][:3]
    np.testing.assert_allclose(learn_item_weights(x, h, "least_squares"), ref, rtol=1e-8)


def test_pearson_weights_reach_the_least_squares_correlation_and_kendall_improves_on_it():
    t = _items()
    x = t.normalised(fit_normalizers(t, ["zscore"] * 3))
    h = t.human["expert"]
    ls = learn_item_weights(x, h, "least_squares")
    r_ls = stats.pearsonr(x @ ls, h).statistic
    wp = learn_item_weights(x, h, "pearson")
    assert stats.pearsonr(x @ wp, h).statistic == pytest.approx(r_ls, abs=1e-6)
    from metricrm.weighting.learning import group_kendall

    wk = learn_item_weights(x, h, "kendall", groups=t.groups)
    assert group_kendall(x @ wk, h, t.groups) >= group_kendall(x @ ls, h, t.groups) - 1e-12
    assert abs(wk).sum() == pytest.approx(1.0)


def test_item_best_single_uses_the_per_group_kendall():
    t = _items()
    x = t.normalised(fit_normalizers(t, ["zscore"] * 3))
    h = t.human["expert"]
    taus = []
    for j in range(3):
        per = [stats.kendalltau(x[t.groups == g, j], h[t.groups == g]).statistic
               for g in np.unique(t.groups)]  # fmt: skip
        taus.append(np.mean(per))
    w = learn_item_weights(x, h, "best_single", groups=t.groups)
    assert w.tolist() == np.eye(3)[np.argmax(taus)].tolist()


# ------------------------------------------------------------------------------- folds


def test_group_folds_keep_groups_whole_balanced_and_ignore_row_order():
    groups = np.repeat(np.arange(40), np.arange(40) % 4 + 1)
    folds = group_folds(groups, 5, seed=3)
    assert sorted(np.concatenate(folds).tolist()) == list(range(groups.size))
    for f in folds:
        others = np.setdiff1d(np.arange(groups.size), f)
        assert not set(groups[f]) & set(groups[others])
    sizes = [f.size for f in folds]
    assert max(sizes) - min(sizes) <= 4
    perm = np.random.default_rng(0).permutation(groups.size)
    shuffled = group_folds(groups[perm], 5, seed=3)
    assert [set(groups[perm][f]) for f in shuffled] == [set(groups[f]) for f in folds]
    with pytest.raises(ScorerConfigError, match="cannot make 50 folds from 40 groups"):
        group_folds(groups, 50)


def test_cross_validation_scores_each_pair_with_weights_that_never_saw_its_group():
    t = _pairs()
    held = cross_validate_weights(t, {"bt": "logistic", "eq": "equal"}, k=4, seed=1)
    folds = group_folds(t.groups, 4, seed=1)
    for f, test in enumerate(folds):
        train = np.setdiff1d(np.arange(len(t)), test)
        fit = learn_weights(t, ["zscore"] * 3, "logistic", rows=train)
        assert held.weights["bt"][f] == pytest.approx(fit.weights)
        assert (held.fold[test] == f).all()
    assert set(held.methods) == {"bt", "eq", "best_single", "good", "fine", "long"}
    np.testing.assert_array_equal(held.scores["good"][0], t.chosen[:, 0])
    np.testing.assert_array_equal(held.scores["long"][0], t.chosen[:, 2])


def test_held_out_table_intervals_and_permutation_test():
    t = _pairs(n=2400, seed=5)
    held = cross_validate_weights(t, {"bt": "logistic", "eq": "equal"}, k=5)
    frame = held_out_table(held, n_resamples=400, seed=0).set_index("method")
    for m, row in frame.iterrows():
        assert row.ci_low <= row.value <= row.ci_high, m
        c, r = held.scores[m]
        assert row.value == pytest.approx(np.mean(mr.meta.pairwise_outcomes(c, r)))
    assert frame.loc["best_single", "p_value"] != frame.loc["best_single", "p_value"]  # NaN
    assert frame.loc["bt", "value"] > frame.loc["best_single", "value"]
    assert frame.loc["bt", "p_value"] < 0.01  # the data were built from all three components
    assert frame.loc["long", "p_value"] > 0.5  # the anti-correlated component is worse
    tau = held_out_table(held, statistic="tau_like", n_resamples=100).set_index("method")
    c, r = held.scores["bt"]
    assert tau.loc["bt", "value"] == pytest.approx(mr.meta.kendall_tau_like(c, r).value)


def test_held_out_item_levels():
    t = _items()
    held = cross_validate_weights(t, ["least_squares", "kendall"], k=5)
    item = held_out_table(held, statistic="kendall", level="item", n_resamples=200)
    row = item.set_index("method").loc["least_squares"]
    per = [stats.kendalltau(held.scores["least_squares"][t.groups == g],
                            t.human["expert"][t.groups == g]).statistic
           for g in np.unique(t.groups)]  # fmt: skip
    assert row.value == pytest.approx(np.mean(per))
    system = held_out_table(held, statistic="kendall", level="system", n_resamples=200)
    s = system.set_index("method").loc["least_squares"]
    sys_names = np.unique(t.systems)
    means = [held.scores["least_squares"][t.systems == s_].mean() for s_ in sys_names]
    hmeans = [t.human["expert"][t.systems == s_].mean() for s_ in sys_names]
    assert s.value == pytest.approx(stats.kendalltau(hmeans, means).statistic)


def test_tables_refuse_components_of_different_lengths():
    with pytest.raises(
        ScorerInputError,
        match=r"components have different lengths: 'a' has 3 chosen scores, 'b' has 2",
    ):
        PairTable.from_arrays({"a": [1, 2, 3], "b": [1, 2]}, {"a": [1, 2, 3], "b": [1, 2]})
    with pytest.raises(ScorerInputError, match=r"no rejected scores for component 'b'"):
        PairTable.from_arrays({"a": [1, 2], "b": [1, 2]}, {"a": [1, 2]})
    with pytest.raises(ScorerInputError, match=r"score 1 of component 'a' is nan"):
        ItemTable.from_arrays({"a": [1, float("nan")]}, {"h": [1, 2]})


def test_fit_composite_on_scored_pairs_and_reload(tmp_path):
    pairs = mr.load_sample("preference")
    parts = [
        Component.build("chars", "length_chars"),
        Component.build("words", "length_tokens", normalizer="rank"),
    ]
    from metricrm.weighting import score_pair_table

    table = score_pair_table(parts, pairs, cache=tmp_path / "cache", progress=False)
    composite = fit_composite(parts, table, WeightMethod("logistic", C=10.0))
    path = composite.save(tmp_path / "reward.yaml")
    again = mr.get_scorer("composite", path=str(path), cache=tmp_path / "cache")
    texts = [p.chosen for p in pairs]
    np.testing.assert_array_equal(again.score(texts).scores, composite.score(texts).scores)
    c, r = table.chosen, table.rejected
    assert composite.info["method"]["kind"] == "logistic" and composite.info["n"] == len(pairs)
    assert np.isfinite(c).all() and np.isfinite(r).all()


# ------------------------------------------------------------------------------ Pareto


def test_pareto_mask_matches_brute_force():
    rng = np.random.default_rng(0)
    v = np.round(rng.random((200, 2)), 1)
    brute = [not any((w >= p).all() and (w > p).any() for w in v) for p in v]
    assert pareto_mask(v).tolist() == brute
    assert pareto_mask([[1, 0], [0, 1], [0.5, 0.5], [0.4, 0.4]]).tolist() == [
        True,
        True,
        True,
        False,
    ]


def test_simplex_grid():
    g = simplex_grid(3, 0.25)
    assert g.shape == (15, 3)  # C(4 + 2, 2)
    np.testing.assert_allclose(g.sum(axis=1), 1.0)


def test_pareto_sweep_values_and_front():
    t = _pairs(n=1200)
    hard = np.arange(len(t)) % 3 == 0
    frame = pareto_sweep(t, [PairObjective("hard", hard), PairObjective("all")], step=0.25)
    assert len(frame) == 15 and frame.pareto.any()
    front = frame[frame.pareto][["train_hard", "train_all"]].to_numpy()
    everything = frame[["train_hard", "train_all"]].to_numpy()
    for p in front:
        assert not any((q >= p).all() and (q > p).any() for q in everything)
    # one weighting recomputed by hand
    from metricrm.weighting import group_split

    train, test = group_split(t.groups, 0.3, seed=0)
    norms = fit_normalizers(t, ["zscore"] * 3, rows=train)
    c, r = t.normalised(norms)
    row = frame.iloc[5]
    w = row[["good", "fine", "long"]].to_numpy(dtype=float)
    acc = np.mean(mr.meta.pairwise_outcomes(c[test] @ w, r[test] @ w))
    assert row.test_all == pytest.approx(acc)


def test_per_group_kendall_is_scipy_tau_b_with_ties_gaps_and_uneven_groups():
    from metricrm.weighting.learning import per_group_kendall

    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(30), rng.integers(1, 9, 30))
    values = np.round(rng.normal(size=groups.size), 1)
    human = np.round(rng.normal(size=groups.size))
    human[::7] = np.nan
    ref = []
    for g in np.unique(groups):
        m = (groups == g) & ~np.isnan(human)
        ref.append(stats.kendalltau(values[m], human[m]).statistic if m.sum() >= 2 else np.nan)
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(per_group_kendall(values, human, groups), ref, equal_nan=True)


def test_compose_on_pointwise_items_scores_holds_out_and_fits(tmp_path):
    from metricrm.weighting import compose

    items = [it for it in mr.load_sample("reference") if "da" in it.human]
    parts = [Component.build("chrf", "chrf"), Component.build("words", "length_tokens")]
    result = compose(parts, items, method="least_squares", k=3, n_resamples=100,
                     cache=tmp_path / "cache", progress=False)  # fmt: skip
    frame = result.frame.set_index("method")
    assert set(frame.index) == {"composite", "equal", "best_single", "chrf", "words"}
    assert (frame["statistic"] == "kendall").all() and (frame["level"] == "item").all()
    x = result.table.scores
    chrf_taus = []
    for g in np.unique(result.table.groups):
        rows = result.table.groups == g
        chrf_taus.append(stats.kendalltau(x[rows, 0], result.table.human["da"][rows]).statistic)
    assert frame.loc["chrf", "value"] == pytest.approx(np.nanmean(chrf_taus))
    reward = result.composite
    assert reward.info["human"] == "da" and reward.info["k"] == 3
    responses = [it.response for it in items]
    direct = reward.score(responses, references=[list(it.references) for it in items])
    assert np.isfinite(direct.scores).all()
