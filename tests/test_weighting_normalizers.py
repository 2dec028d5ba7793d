"""Normalizers: fitted once, frozen, saved; each checked against its reference library."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.special import expit

from metricrm.core.errors import NotFittedError, ScorerConfigError, ScorerInputError
from metricrm.weighting import make_normalizer, reliability_table
from metricrm.weighting.normalizers import KINDS

RNG = np.random.default_rng(7)
CALIB = RNG.gamma(2.0, 3.0, size=400)
OTHER = np.concatenate([RNG.gamma(2.0, 3.0, size=50), [-5.0, 0.0, 100.0], CALIB[:5]])


def _pairs(n: int = 3000, scale: float = 1.5, seed: int = 0):
    """Pairs drawn from a Bradley-Terry model with a known scale: (preferred, other) scores."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    first_wins = rng.random(n) < expit(scale * (a - b))
    return np.where(first_wins, a, b), np.where(first_wins, b, a)


def test_zscore_matches_scikit_learn_standard_scaler():
    pre = pytest.importorskip("sklearn.preprocessing")
    ref = pre.StandardScaler().fit(CALIB[:, None]).transform(OTHER[:, None])[:, 0]
    got = make_normalizer("zscore").fit(CALIB).transform(OTHER)
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    np.testing.assert_allclose(got, (OTHER - CALIB.mean()) / np.std(CALIB), rtol=1e-12)


def test_robust_matches_scikit_learn_robust_scaler():
    pre = pytest.importorskip("sklearn.preprocessing")
    ref = pre.RobustScaler().fit(CALIB[:, None]).transform(OTHER[:, None])[:, 0]
    got = make_normalizer("robust").fit(CALIB).transform(OTHER)
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    assert make_normalizer("robust").fit(CALIB).state()["iqr"] == pytest.approx(stats.iqr(CALIB))


def test_minmax_matches_scikit_learn_minmax_scaler():
    pre = pytest.importorskip("sklearn.preprocessing")
    ref = pre.MinMaxScaler().fit(CALIB[:, None]).transform(OTHER[:, None])[:, 0]
    got = make_normalizer("minmax").fit(CALIB).transform(OTHER)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-15)


def test_rank_is_scipy_percentile_of_score_mean_kind():
    rounded = np.round(CALIB)  # many ties: mid-rank matters
    ref = [stats.percentileofscore(rounded, v, kind="mean") / 100 for v in np.round(OTHER)]
    got = make_normalizer("rank").fit(rounded).transform(np.round(OTHER))
    np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_rank_compressed_to_quantiles_stays_within_one_over_max_points():
    big = RNG.normal(size=20_000)
    exact = [stats.percentileofscore(big, v, kind="mean") / 100 for v in OTHER[:20] / 5]
    norm = make_normalizer({"kind": "rank", "max_points": 201}).fit(big)
    assert len(norm.state()["points"]) == 201
    np.testing.assert_allclose(norm.transform(OTHER[:20] / 5), exact, atol=1 / 200)


@pytest.mark.parametrize("kind", ["zscore", "robust", "minmax", "rank"])
def test_lower_is_better_flips_the_order_and_frozen_means_batch_independent(kind):
    up = make_normalizer(kind).fit(CALIB)
    down = make_normalizer(kind).fit(CALIB, higher_is_better=False)
    a, b = up.transform(OTHER), down.transform(OTHER)
    # the order reverses exactly (ties stay ties)
    np.testing.assert_array_equal(
        np.sign(np.subtract.outer(a, a)), -np.sign(np.subtract.outer(b, b))
    )
    whole = down.transform(OTHER)
    parts = np.concatenate([down.transform(OTHER[:7]), down.transform(OTHER[7:])])
    np.testing.assert_array_equal(whole, parts)
    np.testing.assert_array_equal(down.transform(OTHER[3:4]), whole[3:4])


def test_bt_scale_is_the_logistic_regression_slope():
    lm = pytest.importorskip("sklearn.linear_model")
    better, worse = _pairs()
    norm = make_normalizer("bt").fit(np.concatenate([better, worse]), pairs=(better, worse))
    d = better - worse
    x, y = np.concatenate([d, -d])[:, None], np.concatenate([np.ones(d.size), np.zeros(d.size)])
    ref = lm.LogisticRegression(C=1e12, fit_intercept=False, tol=1e-10).fit(x, y).coef_[0, 0]
    assert norm.state()["scale"] == pytest.approx(ref, rel=1e-4)
    assert norm.state()["scale"] == pytest.approx(1.5, abs=0.15)  # the generating scale
    center = np.median(np.concatenate([better, worse]))
    np.testing.assert_allclose(norm.transform(OTHER), expit(ref * (OTHER - center)), rtol=1e-4)


def test_bt_reliability_table_of_a_calibrated_model_is_close_to_the_diagonal():
    better, worse = _pairs(n=20_000, seed=1)
    norm = make_normalizer("bt").fit(np.concatenate([better, worse]), pairs=(better, worse))
    table = norm.reliability()
    assert list(table.columns) == ["low", "high", "n", "predicted", "observed"]
    assert table["n"].sum() == 20_000
    assert ((table["predicted"] >= table["low"]) & (table["predicted"] <= table["high"])).all()
    np.testing.assert_allclose(table["observed"], table["predicted"], atol=0.03)


def test_reliability_table_counts_by_hand():
    # confidences sigmoid(|z|): 0.5 (bin 0), 0.73 (bin 2), 0.88 (bin 3), 0.95 (bin 4)
    z = np.array([0.0, 1.0, -1.0, 2.0, 3.0])
    targets = np.array([1.0, 1.0, 1.0, 0.5, 1.0])
    rows = reliability_table(z, targets, n_bins=5)
    assert [r["n"] for r in rows] == [1, 2, 1, 1]
    # a logit of 0 counts half; for z=-1 the favoured side is the rejected one: 0 of 1 right
    assert [r["observed"] for r in rows] == [0.5, 0.5, 0.5, 1.0]
    assert rows[1]["predicted"] == pytest.approx(expit(1.0))


def test_bt_needs_pairs_and_varied_pairs():
    with pytest.raises(ScorerInputError, match=r"component 'rm': the bt normalizer is fitted on"):
        make_normalizer("bt").fit(CALIB, who="component 'rm'")
    with pytest.raises(ScorerInputError, match="every pair's two scores are equal"):
        make_normalizer("bt").fit(CALIB, pairs=(CALIB[:5], CALIB[:5]))


@pytest.mark.parametrize("kind", KINDS)
def test_state_round_trip_gives_the_same_values_and_digest(kind):
    better, worse = _pairs(n=200)
    norm = make_normalizer(kind).fit(np.concatenate([better, worse]), pairs=(better, worse))
    again = make_normalizer(norm.state())
    np.testing.assert_array_equal(again.transform(OTHER), norm.transform(OTHER))
    assert again.digest() == norm.digest() and again == norm


def test_digest_changes_with_a_parameter_or_the_direction():
    base = make_normalizer({"kind": "zscore", "mean": 1.0, "std": 2.0, "higher_is_better": True})
    moved = make_normalizer({"kind": "zscore", "mean": 1.5, "std": 2.0, "higher_is_better": True})
    flipped = make_normalizer(
        {"kind": "zscore", "mean": 1.0, "std": 2.0, "higher_is_better": False}
    )
    assert len({base.digest(), moved.digest(), flipped.digest()}) == 3


def test_unfitted_normalizer_names_who_and_what_is_missing():
    with pytest.raises(
        NotFittedError,
        match=r"^component 'chrf': the zscore normalizer was never fitted \(its parameters \(mean, std\)",
    ):
        make_normalizer("zscore").transform([1.0], who="component 'chrf'")


def test_bad_calibration_data_is_refused_with_the_item():
    with pytest.raises(ScorerInputError, match=r"item 2 is nan"):
        make_normalizer("zscore").fit([1.0, 2.0, float("nan")])
    with pytest.raises(
        ScorerInputError, match=r"standard deviation of the 3 calibration scores is 0"
    ):
        make_normalizer("zscore").fit([4.0, 4.0, 4.0])
    with pytest.raises(ScorerInputError, match="at least 2 calibration scores"):
        make_normalizer("minmax").fit([1.0])


def test_hand_written_states_are_checked():
    with pytest.raises(ScorerConfigError, match=r"parameters std are missing"):
        make_normalizer({"kind": "zscore", "mean": 0.0})
    with pytest.raises(ScorerConfigError, match=r"`std` must be a number > 0 \(got -1\)"):
        make_normalizer({"kind": "zscore", "mean": 0.0, "std": -1})
    with pytest.raises(ScorerConfigError, match=r"`kind` must be one of"):
        make_normalizer({"kind": "softmax"})
    with pytest.raises(ScorerConfigError, match=r"not sorted"):
        make_normalizer({"kind": "rank", "points": [3, 1, 2]})
    with pytest.raises(ScorerConfigError, match=r"unknown parameter\(s\) scale"):
        make_normalizer({"kind": "minmax", "min": 0, "max": 1, "scale": 2})
