"""Contracts of metricrm.meta.levels found by mutation testing: ``correlate`` at every level
against a loop over the groups with scipy's own functions (missing human scores, groups too small
or undefined, macro and micro averages, NaN entered as 0, system means over the scored or over
every item), the ways a correlation function may return its result, scipy's degenerate-data
warnings, ``system_segment_matrix`` against a loop, and every error message in full."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from metricrm.core.errors import ScorerConfigError, ScorerInputError
from metricrm.meta import correlate, pearson, system_segment_matrix
from metricrm.meta.levels import LevelResult

from .contract_helpers import raises_exactly as _raises

NAN = float("nan")


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12, abs=1e-14)


def _data(rng, n, n_labels):
    h = rng.integers(0, 4, size=n).astype(float)
    h[rng.random(n) < 0.15] = np.nan
    m = h + rng.normal(size=n)
    m[np.isnan(m)] = rng.normal(size=int(np.isnan(m).sum()))
    m = np.round(m, 1)
    labels = rng.choice([f"g{k}" for k in range(n_labels)], size=n)
    return h, m, labels


def _scipy(fn, x, y, kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = fn(x, y, **kw)
    return float(r[0]), float(r[1])


FUNCS = [
    (stats.pearsonr, {}),
    (stats.spearmanr, {}),
    (stats.kendalltau, {}),
    (stats.kendalltau, {"variant": "c"}),
]


@pytest.mark.parametrize("fn,kw", FUNCS)
def test_flat_level_equals_scipy_on_the_scored_items(fn, kw):
    rng = np.random.default_rng(1)
    for _ in range(10):
        h, m, _ = _data(rng, int(rng.integers(5, 30)), 3)
        keep = ~np.isnan(h)
        if keep.sum() < 3:
            continue
        r = correlate(h, m, fn, **kw)
        s, p = _scipy(fn, h[keep], m[keep], kw)
        assert _same(r.statistic, s) and _same(r.pvalue, p)
        assert (r.level, r.n_items, r.n_missing) == ("flat", int(keep.sum()), int((~keep).sum()))
        assert (r.n_groups, r.n_skipped_small, r.n_skipped_undefined) == (0, 0, 0)
        assert r.group_statistics is None and r.group_sizes is None


@pytest.mark.parametrize("fn,kw", FUNCS)
@pytest.mark.parametrize("average", ["macro", "micro"])
@pytest.mark.parametrize("undefined", ["skip", "zero"])
def test_item_level_equals_a_loop_over_groups(fn, kw, average, undefined):
    rng = np.random.default_rng(2)
    for _ in range(8):
        n = int(rng.integers(4, 40))
        h, m, labels = _data(rng, n, int(rng.integers(1, 8)))
        h[labels == "g1"] = 2.0  # a constant group: undefined
        stats_, sizes, small, undef = [], [], 0, 0
        for g in sorted(set(labels)):
            sel = (labels == g) & ~np.isnan(h)
            if sel.sum() < 2:
                small += 1
                continue
            s, _ = _scipy(fn, h[sel], m[sel], kw)
            if math.isnan(s):
                undef += 1
                if undefined == "skip":
                    continue
                s = 0.0
            stats_.append(s)
            sizes.append(int(sel.sum()))
        r = correlate(
            h, m, fn, level="item", groups=labels, average=average, undefined=undefined, **kw
        )
        if not stats_:
            want = NAN
        elif average == "micro":
            want = sum(s * w for s, w in zip(stats_, sizes)) / sum(sizes)
        else:
            want = sum(stats_) / len(stats_)
        assert _same(r.statistic, want) and math.isnan(r.pvalue)
        assert type(r.statistic) is float and type(r.pvalue) is float
        keep = ~np.isnan(h)
        assert (r.level, r.n_items, r.n_missing) == ("item", int(keep.sum()), n - int(keep.sum()))
        assert (r.n_groups, r.n_skipped_small, r.n_skipped_undefined) == (len(stats_), small, undef)
        np.testing.assert_allclose(r.group_statistics, stats_, rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(r.group_sizes, sizes)
        assert r.group_statistics.dtype == np.float64 and r.group_sizes.dtype == np.int64
        assert all(type(v) is int for v in (r.n_items, r.n_missing, r.n_groups))


@pytest.mark.parametrize("cells", ["scored", "all"])
@pytest.mark.parametrize("fn,kw", FUNCS)
def test_system_level_equals_a_loop_over_systems(cells, fn, kw):
    rng = np.random.default_rng(3)
    for _ in range(8):
        n = int(rng.integers(10, 40))
        h, m, labels = _data(rng, n, int(rng.integers(3, 7)))
        h[labels == "g0"] = np.nan  # a system with no human score
        sys_h, sys_m = [], []
        for g in sorted(set(labels)):
            sel = (labels == g) & ~np.isnan(h)
            if not sel.any():
                continue
            sys_h.append(h[sel].mean())
            sys_m.append(m[labels == g].mean() if cells == "all" else m[sel].mean())
        if len(sys_h) < 3:
            continue
        r = correlate(h, m, fn, level="system", systems=labels, system_cells=cells, **kw)
        s, p = _scipy(fn, np.array(sys_h), np.array(sys_m), kw)
        assert _same(r.statistic, s) and _same(r.pvalue, p)
        keep = ~np.isnan(h)
        assert (r.level, r.n_items, r.n_missing) == ("system", int(keep.sum()), n - keep.sum())
        assert (r.n_groups, r.n_skipped_small) == (len(sys_h), len(set(labels)) - len(sys_h))
        assert r.n_skipped_undefined == 0 and r.group_statistics is None


def test_system_means_over_every_item_include_items_without_a_human_score():
    h = [1.0, NAN, 2.0, 3.0, 5.0, NAN]
    m = [0.0, 10.0, 1.0, 2.0, 4.0, 8.0]
    systems = ["a", "a", "b", "b", "c", "c"]
    seen = {}

    def spy(x, y):
        seen["x"], seen["y"] = x.tolist(), y.tolist()
        return 0.25

    correlate(h, m, spy, level="system", systems=systems)
    assert seen == {"x": [1.0, 2.5, 5.0], "y": [0.0, 1.5, 4.0]}
    correlate(h, m, spy, level="system", systems=systems, system_cells="all")
    assert seen == {"x": [1.0, 2.5, 5.0], "y": [5.0, 1.5, 6.0]}
    # a system with no item at all among its labels' scored items is skipped and counted
    r = correlate(
        [1.0, 2.0, 3.0, NAN],
        [1.0, 3.0, 2.0, 7.0],
        spy,
        level="system",
        systems=["a", "b", "c", "d"],
        system_cells="all",
    )
    assert seen == {"x": [1.0, 2.0, 3.0], "y": [1.0, 3.0, 2.0]}
    assert (r.n_groups, r.n_skipped_small, r.n_items, r.n_missing) == (3, 1, 3, 1)


def test_result_forms_of_the_correlation_function():
    x, y = [1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 4.0]

    class OnlyStatistic:
        statistic = 0.5

    cases = [
        (lambda a, b: 0.25, (0.25, NAN)),
        (lambda a, b: np.float32(0.5), (0.5, NAN)),
        (lambda a, b: (0.75,), (0.75, NAN)),
        (lambda a, b: (0.75, 0.125), (0.75, 0.125)),
        (lambda a, b: (0.75, 0.125, "extra"), (0.75, 0.125)),
        (lambda a, b: OnlyStatistic(), (0.5, NAN)),
        (lambda a, b: stats.pearsonr(a, b), tuple(map(float, stats.pearsonr(x, y)))),
    ]
    for fn, (s, p) in cases:
        r = correlate(x, y, fn)
        assert _same(r.statistic, s) and _same(r.pvalue, p)
        assert type(r.statistic) is float and type(r.pvalue) is float
    # keyword arguments reach the function at every level
    got = []

    def kw_fn(a, b, *, scale):
        got.append(scale)
        return scale

    correlate(x, y, kw_fn, scale=2.0)
    correlate(x, y, kw_fn, level="item", groups=[0, 0, 1, 1], scale=3.0)
    correlate(x, y, kw_fn, level="system", systems=[0, 1, 2, 3], scale=4.0)
    assert got == [2.0, 3.0, 3.0, 4.0]


def test_scipy_degenerate_data_warnings_are_silenced_and_others_are_not():
    x = [1.0, 2.0, 1.0, 2.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = correlate(
            [1.0, 1.0, 1.0, 2.0],
            [1.0, 2.0, 3.0, 4.0],
            stats.pearsonr,
            level="item",
            groups=[0, 0, 0, 1],
        )
        assert r.n_groups == 0 and math.isnan(r.statistic) and r.n_skipped_small == 1
        assert r.n_skipped_undefined == 1
        assert math.isnan(correlate([2.0, 2.0], [1.0, 2.0], stats.spearmanr).statistic)

    def noisy(a, b):
        warnings.warn("not degenerate", RuntimeWarning, stacklevel=1)
        return 0.5

    with pytest.warns(RuntimeWarning, match="not degenerate"):
        correlate(x, x, noisy)


def test_defaults_flat_macro_skip_scored_and_pearson():
    rng = np.random.default_rng(5)
    h, m, labels = _data(rng, 30, 4)
    keep = ~np.isnan(h)
    assert correlate(h, m).statistic == pytest.approx(stats.pearsonr(h[keep], m[keep])[0])

    def fields(r):
        return (
            r.statistic,
            r.level,
            r.n_items,
            r.n_missing,
            r.n_groups,
            r.n_skipped_small,
            r.n_skipped_undefined,
            math.isnan(r.pvalue),
        )

    item = correlate(h, m, level="item", groups=labels)
    assert fields(item) == fields(
        correlate(h, m, pearson, level="item", groups=labels, average="macro", undefined="skip")
    )
    system = correlate(h, m, level="system", systems=labels)
    assert fields(system) == fields(
        correlate(h, m, pearson, level="system", systems=labels, system_cells="scored")
    )
    assert system.pvalue == pytest.approx(
        correlate(h, m, stats.pearsonr, level="system", systems=labels).pvalue, rel=1e-12
    )
    assert LevelResult(0.5, NAN, "flat", 3, 0).n_groups == 0


def test_system_segment_matrix_equals_a_loop():
    rng = np.random.default_rng(6)
    for _ in range(10):
        sys_names = ["s2", "s0", "s1"]
        seg_names = [3, 1, 2, 10]
        cells = [(a, b) for a in sys_names for b in seg_names]
        take = rng.permutation(len(cells))[: int(rng.integers(1, len(cells)))]
        pairs = [cells[k] for k in take]
        v = rng.normal(size=len(pairs))
        v[rng.random(v.size) < 0.2] = np.nan
        mat, s_lab, g_lab = system_segment_matrix(v, [p[0] for p in pairs], [p[1] for p in pairs])
        want_s = sorted({p[0] for p in pairs})
        want_g = sorted({p[1] for p in pairs})
        assert s_lab.tolist() == want_s and g_lab.tolist() == want_g
        want = np.full((len(want_s), len(want_g)), np.nan)
        for (a, b), val in zip(pairs, v):
            want[want_s.index(a), want_g.index(b)] = val
        np.testing.assert_array_equal(mat, want)
        assert mat.dtype == np.float64


def test_errors_in_full():
    who = "correlate"
    x = [1.0, 2.0, 3.0]
    for name, bad, allowed in (
        ("level", "segment", "'flat', 'item', 'system'"),
        ("average", "mean", "'macro', 'micro'"),
        ("undefined", "nan", "'skip', 'zero'"),
        ("system_cells", "every", "'scored', 'all'"),
    ):
        with _raises(ScorerConfigError, f"{who}: `{name}` must be one of {allowed} (got {bad!r})"):
            correlate(x, x, **{name: bad})
    with _raises(
        ScorerInputError,
        f"{who}: `human` has inf at index 1 (1 such entries); "
        "expected a finite number or NaN (missing)",
    ):
        correlate([1.0, np.inf], [1.0, 2.0])
    with _raises(
        ScorerInputError,
        f"{who}: `metric` has nan at index 0 (1 such entries); expected a finite number",
    ):
        correlate([1.0, 2.0], [NAN, 2.0])
    with _raises(
        ScorerInputError,
        f"{who}: expected one entry per item in every input (got 3 human, 2 metric)",
    ):
        correlate(x, [1.0, 2.0])
    with _raises(ScorerInputError, f"{who}: expected at least one of the items (got none)"):
        correlate([], [])
    with _raises(
        ScorerInputError,
        f"{who}: expected at least 2 items with a human score (got 1 of 3; the rest are NaN)",
    ):
        correlate([1.0, NAN, NAN], x)
    for level, arg in (("item", "groups"), ("system", "systems")):
        with _raises(
            ScorerConfigError, f"{who}: level={level!r} needs `{arg}` (one label per item)"
        ):
            correlate(x, x, level=level)
        with _raises(
            ScorerInputError,
            f"{who}: expected `{arg}` to have one label per item (3) (got shape (2,))",
        ):
            correlate(x, x, level=level, **{arg: [0, 1]})
    for h, n_sys in (([1.0, 2.0, 3.0], 1), ([NAN, NAN, NAN], 0)):
        with _raises(
            ScorerInputError,
            f"{who}: system level needs at least 2 systems with a human score (got {n_sys})",
        ):
            correlate(h, x, level="system", systems=[0, 0, 0])

    who = "system_segment_matrix"
    with _raises(
        ScorerInputError,
        f"{who}: `values` has inf at index 0 (1 such entries); "
        "expected a finite number or NaN (missing)",
    ):
        system_segment_matrix([np.inf], ["a"], [0])
    with _raises(
        ScorerInputError,
        f"{who}: expected `systems` to have one label per item (2) (got shape (1,))",
    ):
        system_segment_matrix([1.0, 2.0], ["a"], [0, 1])
    with _raises(
        ScorerInputError,
        f"{who}: expected `segments` to have one label per item (2) (got shape (3,))",
    ):
        system_segment_matrix([1.0, 2.0], ["a", "b"], [0, 1, 2])
    with _raises(
        ScorerInputError,
        f"{who}: system 'b' and segment 1 occur more than once "
        "(again at item 3); expected one score per pair",
    ):
        system_segment_matrix([1.0, 2.0, 3.0, 4.0, 5.0], ["a", "b", "a", "b", "b"], [0, 1, 1, 1, 1])


# ------------------------------------------------------- found by the mutation run's survivors


def test_each_group_reaches_the_function_in_input_order():
    # 60 items in 2 groups: an unstable sort would shuffle the items of a group
    rng = np.random.default_rng(7)
    groups = rng.integers(0, 2, size=60)
    h = np.arange(60.0)
    seen = []

    def spy(x, y):
        seen.append(x.tolist())
        return 0.5

    correlate(h, h, spy, level="item", groups=groups)
    assert seen == [h[groups == 0].tolist(), h[groups == 1].tolist()]


def test_no_group_used_keeps_integer_sizes_and_two_systems_are_enough():
    r = correlate([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], level="item", groups=[0, 1, 2])
    assert r.group_sizes.dtype == np.int64 and r.group_sizes.size == 0
    assert r.group_statistics.dtype == np.float64 and r.group_statistics.size == 0
    r = correlate(
        [1.0, 2.0, 5.0, 4.0], [1.0, 1.5, 3.0, 2.0], level="system", systems=["a", "a", "b", "b"]
    )
    assert r.statistic == pytest.approx(1.0) and r.n_groups == 2


def test_a_pair_given_twice_is_refused_and_the_first_pair_in_order_is_named():
    with _raises(
        ScorerInputError,
        "system_segment_matrix: system 'a' and segment 0 occur more "
        "than once (again at item 1); expected one score per pair",
    ):
        system_segment_matrix([1.0, 2.0, 3.0], ["a", "a", "b"], [0, 0, 0])
    with _raises(
        ScorerInputError,
        "system_segment_matrix: system 'a' and segment 0 occur more "
        "than once (again at item 3); expected one score per pair",
    ):
        system_segment_matrix([1.0, 2.0, 3.0, 4.0], ["a", "a", "a", "a"], [1, 0, 1, 0])
