"""Contracts of metricrm.meta.williams found by mutation testing: the Williams t against its
determinant form (Williams 1959; Graham & Baldwin 2014) with scipy's t distribution on random
correlation triples, one- and two-sided p-values, the degenerate denominators, ``williams`` against
the three correlations computed by scipy on the scored items, and every error message in full."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from metricrm.core.errors import ScorerConfigError, ScorerInputError
from metricrm.meta import williams, williams_test

from .contract_helpers import raises_exactly as _raises

NAN = float("nan")


def _reference(r12, r13, r23, n):
    """t and one-sided p with |R| the determinant of the 3 x 3 correlation matrix."""
    det = np.linalg.det(np.array([[1, r12, r13], [r12, 1, r23], [r13, r23, 1]], dtype=float))
    rbar = (r12 + r13) / 2
    t = (r12 - r13) * math.sqrt((n - 1) * (1 + r23))
    t /= math.sqrt(2 * (n - 1) / (n - 3) * det + rbar**2 * (1 - r23) ** 3)
    return t, float(stats.t.sf(abs(t), n - 3))


def test_williams_test_equals_the_determinant_form_on_random_triples():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(4, 60))
        data = rng.normal(size=(3, n + 5))
        data[1] += rng.normal() * data[0]
        data[2] += rng.normal() * data[0] + rng.normal() * data[1]
        c = np.corrcoef(data)
        r_a, r_b, r_ab = float(c[0, 1]), float(c[0, 2]), float(c[1, 2])
        t, p = _reference(r_a, r_b, r_ab, n)
        one = williams_test(r_a, r_b, r_ab, n)
        assert one.statistic == pytest.approx(t, rel=1e-9, abs=1e-12)
        assert one.pvalue == pytest.approx(p, rel=1e-9, abs=1e-300)
        assert (one.r_a, one.r_b, one.r_ab, one.n) == (r_a, r_b, r_ab, n)
        two = williams_test(r_a, r_b, r_ab, n, one_sided=False)
        assert two.pvalue == pytest.approx(min(1.0, 2 * p), rel=1e-9, abs=1e-300)
        assert two.statistic == one.statistic


def test_williams_test_types_cap_and_degenerate_denominators():
    r = williams_test(1, 0, 0, np.int64(10))  # ints are correlations too
    assert all(type(v) is float for v in (r.pvalue, r.statistic, r.r_a, r.r_b, r.r_ab))
    assert type(r.n) is int and r.n == 10
    # equal correlations: t = 0, one-sided p 0.5, two-sided capped at 1
    assert williams_test(0.5, 0.5, 0.3, 20).statistic == 0.0
    assert williams_test(0.5, 0.5, 0.3, 20, one_sided=False).pvalue == 1.0
    # K = 0 and rbar = 0: the denominator is 0; the sign of r_a - r_b gives +-inf, p 0
    up = williams_test(0.5, -0.5, -1.0, 10)
    down = williams_test(-0.5, 0.5, -1.0, 10)
    assert (up.statistic, up.pvalue) == (math.inf, 0.0)
    assert (down.statistic, down.pvalue) == (-math.inf, 0.0)
    # r_ab = 1 forces r_a = r_b: K = 0 and (1 - r_ab) = 0, so t = 0 and p = 0.5
    same = williams_test(0.5, 0.5, 1.0, 10)
    assert (same.statistic, same.pvalue) == (0.0, 0.5)
    # the smallest n (4) has 1 degree of freedom
    t, p = _reference(0.9, 0.2, 0.3, 4)
    r = williams_test(0.9, 0.2, 0.3, 4)
    assert r.statistic == pytest.approx(t, rel=1e-12) and r.pvalue == pytest.approx(p, rel=1e-12)
    # K at the tolerance (rounding of a valid triple) is accepted; clearly below it is not
    k = 1 - 0.8**2 - 0.6**2 - 1.0 + 2 * 0.8 * 0.6 * 1.0  # -(0.8 - 0.6)^2 = -0.04
    assert k < -1e-12
    with pytest.raises(ScorerInputError, match="K = -0.04 < 0"):
        williams_test(0.8, 0.6, 1.0, 10)


@pytest.mark.parametrize("one_sided", [True, False])
def test_williams_equals_williams_test_of_scipy_correlations(one_sided):
    rng = np.random.default_rng(1)
    for _ in range(30):
        n = int(rng.integers(6, 40))
        h = rng.normal(size=n)
        a = h + rng.normal(size=n)
        b = h + 2 * rng.normal(size=n)
        h[rng.random(n) < 0.2] = np.nan
        keep = ~np.isnan(h)
        if keep.sum() < 4:
            continue
        for fn, scipy_fn in ((None, stats.pearsonr), (stats.spearmanr, stats.spearmanr)):
            r = (
                williams(h, a, b, one_sided=one_sided)
                if fn is None
                else williams(h, a, b, fn, one_sided=one_sided)
            )
            ra = scipy_fn(h[keep], a[keep])[0]
            rb = scipy_fn(h[keep], b[keep])[0]
            rab = scipy_fn(a[keep], b[keep])[0]
            want = williams_test(ra, rb, rab, int(keep.sum()), one_sided=one_sided)
            assert r.n == int(keep.sum())
            assert (r.r_a, r.r_b, r.r_ab) == pytest.approx((ra, rb, rab), rel=1e-12, abs=1e-14)
            assert r.pvalue == pytest.approx(want.pvalue, rel=1e-9, abs=1e-300)
            assert r.statistic == pytest.approx(want.statistic, rel=1e-9)


def test_williams_takes_the_statistic_of_any_result_form():
    h = [1.0, 2.0, 3.0, 4.0, 5.0]
    a = [1.0, 3.0, 2.0, 4.0, 5.0]
    b = [2.0, 1.0, 3.0, 5.0, 4.0]
    want = williams(h, a, b)
    for fn in (
        lambda x, y: float(stats.pearsonr(x, y)[0]),
        lambda x, y: (float(stats.pearsonr(x, y)[0]),),
        lambda x, y: stats.pearsonr(x, y),
    ):
        got = williams(h, a, b, fn)
        assert got.pvalue == pytest.approx(want.pvalue, rel=1e-12)


def test_errors_in_full():
    who = "williams_test"
    for bad in (3, 0, True, 4.0, "10"):
        with _raises(ScorerConfigError, f"{who}: `n` must be an integer >= 4 (got {bad!r})"):
            williams_test(0.5, 0.4, 0.3, bad)
    for name in ("r_a", "r_b", "r_ab"):
        for bad in (1.5, -1.01, NAN, True, "0.5", None):
            args = {"r_a": 0.5, "r_b": 0.4, "r_ab": 0.3, name: bad}
            with _raises(
                ScorerInputError, f"{who}: `{name}` must be a correlation in [-1, 1] (got {bad!r})"
            ):
                williams_test(args["r_a"], args["r_b"], args["r_ab"], 10)
    with _raises(
        ScorerInputError,
        f"{who}: correlations r_a=0.9, r_b=-0.9, r_ab=0.9 cannot "
        "hold together (their correlation matrix is not positive semi-definite: "
        "K = -2.89 < 0)",
    ):
        williams_test(0.9, -0.9, 0.9, 10)
    with _raises(
        ScorerInputError,
        f"{who}: correlations r_a=1.0, r_b=0.0, r_ab=1.0 cannot "
        "hold together (their correlation matrix is not positive semi-definite: "
        "K = -1 < 0)",
    ):
        williams_test(1, 0, 1, 10)

    who = "williams"
    h, a, b = [1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 4.0], [2.0, 1.0, 3.0, 4.0]
    with _raises(
        ScorerInputError,
        f"{who}: `human` has inf at index 1 (1 such entries); "
        "expected a finite number or NaN (missing)",
    ):
        williams([1.0, np.inf, 3.0, 4.0], a, b)
    with _raises(
        ScorerInputError,
        f"{who}: `metric_a` has nan at index 0 (1 such entries); expected a finite number",
    ):
        williams(h, [NAN, 1.0, 2.0, 3.0], b)
    with _raises(
        ScorerInputError, f"{who}: expected `metric_b` to be 1-dimensional (got shape (1, 4))"
    ):
        williams(h, a, [b])
    with _raises(
        ScorerInputError,
        f"{who}: expected one entry per item in every input (got 4 human, 4 metric_a, 3 metric_b)",
    ):
        williams(h, a, b[:3])
    with _raises(ScorerInputError, f"{who}: expected at least 4 items with a human score (got 3)"):
        williams([1.0, 2.0, NAN, 4.0], a, b)
    with _raises(
        ScorerInputError,
        f"{who}: the human-a, a-b correlation is undefined (NaN; a constant input?)",
    ):
        williams(h, [1.0] * 4, b)
    with _raises(
        ScorerInputError,
        f"{who}: the human-a, human-b, a-b correlation is undefined (NaN; a constant input?)",
    ):
        williams([2.0] * 4, [1.0] * 4, [1.0] * 4)
    with _raises(
        ScorerInputError,
        f"{who}: the human-b, a-b correlation is undefined (NaN; a constant input?)",
    ):
        williams(h, a, [1.0] * 4)
