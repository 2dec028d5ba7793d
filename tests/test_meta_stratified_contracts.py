"""Contracts of metricrm.meta.stratified found by mutation testing: ``weighted_cell_means``
against a loop over cells (NaN outcomes, cells of weight 0, empty cells), ``stratified_bootstrap``
against a brute force that rebuilds every resample from the same draws (strata in sorted order,
whole groups, blocks of resamples) and evaluates the statistic on it, and every error message in
full."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from metricrm.core.errors import ScorerConfigError, ScorerInputError
from metricrm.meta import (
    MEAN,
    SumStatistic,
    bootstrap_indices,
    percentile_interval,
    stratified_bootstrap,
    weighted_cell_means,
)

from .contract_helpers import raises_exactly as _raises

NAN = float("nan")
BLOCK = 1 << 18


def _loop_total(w, outcomes, cells):
    total = 0.0
    for c, wc in enumerate(w):
        if wc == 0:
            continue
        vals = [o for o, k in zip(outcomes, cells) if k == c and not math.isnan(o)]
        if not vals:
            return NAN
        total += wc * sum(vals) / len(vals)
    return total


def test_weighted_cell_means_equal_a_loop_over_cells():
    rng = np.random.default_rng(0)
    for _ in range(100):
        k = int(rng.integers(1, 5))
        n = int(rng.integers(0, 12))
        w = rng.choice([0.0, 0.25, 1.0, 2.0], size=k)
        o = rng.choice([0.0, 0.5, 1.0, NAN], size=n)
        c = rng.integers(0, k, size=n)
        stat = weighted_cell_means(w.tolist())
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # empty cells are 0/0 without a warning
            got = stat(o, c)
        want = _loop_total(w, o, c)
        assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, rel=1e-12)
        assert stat.name == "weighted_cell_means"
    assert weighted_cell_means([1], name="total").name == "total"
    # int and unsigned cell codes, weights as given (not normalised)
    stat = weighted_cell_means([2, 0, 1])
    assert stat([1.0, 0.0, NAN, 0.5], np.array([0, 0, 1, 2], dtype=np.uint8)) == 1.5
    feats = stat.features([1.0, NAN], [2, 0])  # sums, then counts; NaN counts nowhere
    np.testing.assert_array_equal(feats, [[0, 0, 1, 0, 0, 1], [0, 0, 0, 0, 0, 0]])
    assert feats.dtype == np.float64


def _brute_stratified(stat, arrays, strata, groups, n_resamples, seed):
    n = len(arrays[0])
    strata = np.asarray(strata)
    groups = np.arange(n) if groups is None else np.asarray(groups)
    rng = np.random.default_rng(seed)
    items_by_draw = []  # per stratum: (n_resamples, drawn groups) -> item lists
    for s in sorted(set(strata.tolist())):
        inside = np.flatnonzero(strata == s)
        labels = sorted(set(groups[inside].tolist()))
        members = [inside[groups[inside] == g] for g in labels]
        step = max(1, BLOCK // len(labels))
        rows = []
        for start in range(0, n_resamples, step):
            rows.extend(bootstrap_indices(len(labels), min(step, n_resamples - start), rng))
        items_by_draw.append([np.concatenate([members[j] for j in row]) for row in rows])
    dist = []
    for r in range(n_resamples):
        idx = np.concatenate([per[r] for per in items_by_draw])
        dist.append(stat(*[np.asarray(a)[idx] for a in arrays]))
    return np.array(dist)


@pytest.mark.parametrize("grouped", [False, True])
def test_stratified_bootstrap_equals_a_brute_force_over_the_same_draws(grouped):
    rng = np.random.default_rng(1)
    for trial in range(12):
        n = int(rng.integers(4, 30))
        o = rng.choice([0.0, 1.0, 0.5, NAN], size=n, p=[0.4, 0.4, 0.1, 0.1])
        strata = rng.choice(["b", "a", "c"], size=n)
        cells = np.unique(strata, return_inverse=True)[1].reshape(-1)
        w = rng.choice([0.5, 1.0, 0.0], size=3)
        groups = None
        if grouped:  # groups inside strata: stratum label plus a small number
            groups = np.array([f"{s}{k}" for s, k in zip(strata, rng.integers(0, 3, size=n))])
        stat = weighted_cell_means(w) if trial % 2 else MEAN
        arrays = (o, cells) if trial % 2 else (np.nan_to_num(o),)
        conf = [0.95, 0.9, 0.5][trial % 3]
        r = stratified_bootstrap(
            stat,
            *arrays,
            strata=strata,
            groups=groups,
            rng=np.random.default_rng(trial),
            n_resamples=40,
            confidence=conf,
        )
        dist = _brute_stratified(stat, arrays, strata, groups, 40, trial)
        np.testing.assert_allclose(r.distribution, dist, rtol=1e-12, atol=1e-14)
        want = stat(*arrays)
        assert (math.isnan(r.estimate) and math.isnan(want)) or r.estimate == pytest.approx(want)
        low, high = percentile_interval(r.distribution, conf)
        assert _same(r.low, low) and _same(r.high, high)
        assert (r.confidence, r.n_resamples, r.n_invalid) == (conf, 40, int(np.isnan(dist).sum()))
        assert type(r.estimate) is float and type(r.n_invalid) is int
        assert r.distribution.dtype == np.float64


def _same(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12, abs=1e-14)


def test_stratified_bootstrap_in_blocks_and_defaults():
    # 6,000 items in one stratum and 10 in another: blocks of 43 resamples for the first
    rng = np.random.default_rng(2)
    o = rng.random(6010)
    strata = np.array(["big"] * 6000 + ["small"] * 10)
    r = stratified_bootstrap(MEAN, o, strata=strata, rng=np.random.default_rng(4), n_resamples=90)
    dist = _brute_stratified(MEAN, (o,), strata, None, 90, 4)
    np.testing.assert_allclose(r.distribution, dist, rtol=1e-12)
    # defaults: 1000 resamples, 95%
    small = stratified_bootstrap(
        MEAN, [1.0, 2.0, 3.0], strata=[0, 0, 1], rng=np.random.default_rng(0)
    )
    assert (small.n_resamples, small.confidence) == (1000, 0.95)
    np.testing.assert_allclose(
        small.distribution, _brute_stratified(MEAN, ([1.0, 2.0, 3.0],), [0, 0, 1], None, 1000, 0)
    )


def test_errors_in_full():
    who = "weighted_cell_means"
    with _raises(
        ScorerInputError,
        f"{who}: `weights` has nan at index 1 (1 such entries); expected a finite number",
    ):
        weighted_cell_means([1.0, NAN])
    with _raises(
        ScorerInputError, f"{who}: expected `weights` to be 1-dimensional (got shape (1, 2))"
    ):
        weighted_cell_means([[1.0, 2.0]])
    with _raises(ScorerInputError, f"{who}: expected at least one of the cells (got none)"):
        weighted_cell_means([])
    with _raises(ScorerConfigError, f"{who}: weights must be >= 0 (got -0.5 at cell 2)"):
        weighted_cell_means([1.0, 0.0, -0.5, -1.0])
    stat = weighted_cell_means([1.0, 1.0, 1.0])
    for codes, got in (
        ([0.0, 1.0], "float64 codes of shape (2,)"),
        ([0, 3], "int64 codes of shape (2,)"),
        ([-1, 0], "int64 codes of shape (2,)"),
        ([0], "int64 codes of shape (1,)"),
        (["0", "1"], "<U1 codes of shape (2,)"),
    ):
        with _raises(
            ScorerInputError,
            f"{who}: expected one integer cell code in [0, 3) per "
            f"outcome (got {got} for (2,) outcomes)",
        ):
            stat.features([1.0, 0.0], codes)

    who = "stratified_bootstrap"
    o = [1.0, 0.0, 1.0]

    def run(*arrays, **kw):
        args = dict(strata=[0, 0, 1], rng=np.random.default_rng(0), n_resamples=5)
        args.update(kw)
        return stratified_bootstrap(
            MEAN if "statistic" not in args else args.pop("statistic"), *(arrays or (o,)), **args
        )

    with _raises(
        ScorerConfigError,
        f"{who}: `rng` must be a numpy.random.Generator, e.g. "
        "numpy.random.default_rng(0) (got NoneType)",
    ):
        run(rng=None)
    for bad in (0, 2.5, True):
        with _raises(
            ScorerConfigError, f"{who}: `n_resamples` must be an integer >= 1 (got {bad!r})"
        ):
            run(n_resamples=bad)
    for bad in (0, 1, 1.5, "0.9", True):
        with _raises(
            ScorerConfigError, f"{who}: `confidence` must be a number in (0, 1) (got {bad!r})"
        ):
            run(confidence=bad)
    with _raises(ScorerConfigError, f"{who}: expected a SumStatistic (got function)"):
        run(statistic=lambda x: float(np.mean(x)))
    with _raises(ScorerInputError, f"{who}: expected at least one data array (got none)"):
        stratified_bootstrap(MEAN, strata=[0], rng=np.random.default_rng(0))
    with _raises(
        ScorerInputError, f"{who}: data arrays must hold one entry per item (got a scalar)"
    ):
        run(1.0)
    with _raises(
        ScorerInputError,
        f"{who}: expected one entry per item in every input (got 3 array 0, 2 array 1)",
    ):
        run(o, [0, 1], statistic=weighted_cell_means([1.0, 1.0]))
    with _raises(ScorerInputError, f"{who}: expected at least one of the items (got none)"):
        run([], strata=[])
    with _raises(
        ScorerInputError,
        f"{who}: expected `strata` to have one label per item (3) (got shape (2,))",
    ):
        run(strata=[0, 1])
    with _raises(
        ScorerInputError,
        f"{who}: expected `groups` to have one label per item (3) (got shape (4,))",
    ):
        run(groups=[0, 0, 1, 1])
    with _raises(
        ScorerInputError,
        f"{who}: group 'p2' spans more than one stratum; expected every group inside one stratum",
    ):
        run([1.0, 0.0, 1.0, 1.0], strata=[0, 1, 1, 0], groups=["p1", "p2", "p1x", "p2"])


# ------------------------------------------------------- found by the mutation run's survivors


def test_a_statistic_that_is_not_a_ratio_sees_positive_sums():
    # a plain total: a ratio of sums (means) would not tell sums from their negatives
    total = SumStatistic(
        lambda x: np.asarray(x, dtype=float)[:, None], lambda s: s[..., 0], name="total"
    )
    o = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    strata = [0, 0, 1, 1, 1]
    r = stratified_bootstrap(total, o, strata=strata, rng=np.random.default_rng(0), n_resamples=30)
    np.testing.assert_allclose(r.distribution, _brute_stratified(total, (o,), strata, None, 30, 0))
    assert (r.distribution > 0).all() and r.estimate == 31.0


def test_outcomes_of_any_numeric_array_type_count_alike():
    stat = weighted_cell_means([0.5, 0.5])
    want = stat([1.0, 0.0, NAN, 1.0], [0, 0, 1, 1])
    assert stat(np.array([1.0, 0.0, NAN, 1.0], dtype=object), [0, 0, 1, 1]) == want
    assert stat(["1", "0", "nan", "1"], [0, 0, 1, 1]) == want
