"""Contracts of metricrm.meta.spa found by mutation testing: the sign matrix's law, the system
p-values and SPA against a loop over system pairs and resamples with the same signs (integer
scores, so ties are exact), dropped segments, lower-is-better metrics, the result fields and every
error message in full."""

from __future__ import annotations

import numpy as np
import pytest

from metricrm.core.errors import ScorerConfigError, ScorerInputError
from metricrm.meta import soft_pairwise_accuracy
from metricrm.meta.spa import pairwise_system_pvalues, permutation_signs

from .contract_helpers import raises_exactly as _raises

NAN = float("nan")


def _loop_pvalues(s, signs):
    k = len(s)
    p = np.full((k, k), np.nan)
    for i in range(k):
        for j in range(k):
            if i == j:
                continue
            d = [a - b for a, b in zip(s[i], s[j])]
            observed = sum(d)
            hits = sum(sum(sg * x for sg, x in zip(row, d)) >= observed for row in signs)
            p[i, j] = hits / len(signs)
    return p


def test_signs_are_plus_or_minus_one_with_even_odds():
    signs = permutation_signs(50, 400, np.random.default_rng(0))
    assert signs.shape == (400, 50) and signs.dtype == np.float64
    assert set(np.unique(signs).tolist()) == {-1.0, 1.0}
    assert abs((signs == -1).mean() - 0.5) < 0.02


def test_pvalues_and_spa_equal_a_loop():
    rng = np.random.default_rng(1)
    for trial in range(25):
        k, n = int(rng.integers(2, 5)), int(rng.integers(1, 9))
        h = rng.integers(0, 4, size=(k, n)).astype(float)
        m = rng.integers(-2, 3, size=(k, n)).astype(float)
        h[rng.random((k, n)) < 0.1] = np.nan
        complete = ~np.isnan(h).any(axis=0)
        if not complete.any():
            continue
        higher = trial % 2 == 0
        r = soft_pairwise_accuracy(
            h, m, rng=np.random.default_rng(trial), n_resamples=60, higher_is_better=higher
        )
        signs = permutation_signs(int(complete.sum()), 60, np.random.default_rng(trial))
        hh, mm = h[:, complete], m[:, complete] * (1 if higher else -1)
        ph = _loop_pvalues(hh.tolist(), signs.tolist())
        pm = _loop_pvalues(mm.tolist(), signs.tolist())
        np.testing.assert_array_equal(r.human_pvalues, ph)
        np.testing.assert_array_equal(r.metric_pvalues, pm)
        np.testing.assert_array_equal(pairwise_system_pvalues(hh, signs), ph)
        pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
        spa = 1 - sum(abs(ph[i, j] - pm[i, j]) for i, j in pairs) / len(pairs)
        assert r.value == pytest.approx(spa, rel=1e-12) and type(r.value) is float
        assert (r.n_segments, r.n_segments_dropped, r.n_resamples) == (
            int(complete.sum()),
            int((~complete).sum()),
            60,
        )


def test_defaults_and_a_metric_that_agrees():
    h = np.array([[3.0, 2.0, 4.0], [1.0, 2.0, 0.0], [2.0, 2.0, 2.0]])
    r = soft_pairwise_accuracy(h, h * 2, rng=np.random.default_rng(0))
    assert r.n_resamples == 1000 and r.value == 1.0  # scaling keeps every p-value
    signs = permutation_signs(3, 1000, np.random.default_rng(0))
    np.testing.assert_array_equal(r.human_pvalues, _loop_pvalues(h.tolist(), signs.tolist()))
    low = soft_pairwise_accuracy(h, -h, rng=np.random.default_rng(0), higher_is_better=False)
    assert low.value == 1.0


def test_errors_in_full():
    who = "soft_pairwise_accuracy"
    h = [[1.0, 2.0], [2.0, 1.0]]
    with _raises(
        ScorerConfigError,
        f"{who}: `rng` must be a numpy.random.Generator, e.g. "
        "numpy.random.default_rng(0) (got int)",
    ):
        soft_pairwise_accuracy(h, h, rng=1)
    for bad in (0, 1.5, True):
        with _raises(
            ScorerConfigError, f"{who}: `n_resamples` must be an integer >= 1 (got {bad!r})"
        ):
            soft_pairwise_accuracy(h, h, rng=np.random.default_rng(0), n_resamples=bad)
    with _raises(
        ScorerInputError,
        f"{who}: `human` has inf at index (1, 0) (1 such entries); "
        "expected a finite number or NaN (missing)",
    ):
        soft_pairwise_accuracy([[1.0, 2.0], [np.inf, 1.0]], h, rng=np.random.default_rng(0))
    with _raises(ScorerInputError, f"{who}: expected `human` to be 2-dimensional (got shape (2,))"):
        soft_pairwise_accuracy([1.0, 2.0], h, rng=np.random.default_rng(0))
    with _raises(
        ScorerInputError,
        f"{who}: `metric` has nan at index (0, 1) (1 such entries); expected a finite number",
    ):
        soft_pairwise_accuracy(h, [[1.0, NAN], [2.0, 1.0]], rng=np.random.default_rng(0))
    with _raises(
        ScorerInputError,
        f"{who}: expected human and metric matrices of the same "
        "shape (n_systems, n_segments) (got (2, 2) and (2, 3))",
    ):
        soft_pairwise_accuracy(h, [[1.0, 2.0, 3.0]] * 2, rng=np.random.default_rng(0))
    with _raises(ScorerInputError, f"{who}: expected at least 2 systems (got 1)"):
        soft_pairwise_accuracy([[1.0, 2.0]], [[1.0, 2.0]], rng=np.random.default_rng(0))
    with _raises(
        ScorerInputError,
        f"{who}: no segment has a human score for every system; expected at least one",
    ):
        soft_pairwise_accuracy([[1.0, NAN], [NAN, 1.0]], h, rng=np.random.default_rng(0))


def test_tie_tolerance_is_relative_to_both_systems_sizes_with_a_floor_of_one():
    # system 0 minus system 1 per segment: 1, 5e-11 and 0 (a large shared segment). Flipping
    # segment 1 gives 1 - 5e-11, 1e-10 below the observed 1 + 5e-11: within the tolerance
    # 1e-11 * (|system 0| + |system 1|) = 2.1e-10, so it counts as a tie
    s = np.array([[1.0, 0.0, 10.0], [0.0, -5e-11, 10.0]])
    p = pairwise_system_pvalues(s, np.array([[1.0, -1.0, 1.0]]))
    assert p[0, 1] == 1.0
    # tiny scores: the tolerance is at least 1e-11 (not 2e-11): -0.6e-11 is no tie with 0.6e-11
    p = pairwise_system_pvalues(np.array([[0.6e-11], [0.0]]), np.array([[1.0], [-1.0]]))
    assert p[0, 1] == 0.5 and np.isnan(p[0, 0]) and np.isnan(p[1, 1])


def test_float32_scores_are_summed_in_float64():
    # float32 scores (as models return them) give the p-values of the same values in float64
    s = np.array([[0.6, 0.5, 0.2, 0.3, 0.0], [0.0, 0.0, 0.1, 0.8, 0.6]], dtype=np.float32)
    flips = [
        [1, 1, 1, 1, 1],
        [1, 1, 1, 1, 0],
        [1, 1, 0, 0, 1],
        [1, 0, 1, 1, 1],
        [0, 0, 1, 0, 1],
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 1],
        [1, 1, 0, 1, 1],
    ]
    signs = np.where(np.array(flips, dtype=bool), -1.0, 1.0)
    want = pairwise_system_pvalues(s.astype(np.float64), signs)
    np.testing.assert_array_equal(pairwise_system_pvalues(s, signs), want)
    assert want[0, 1] == 0.625
