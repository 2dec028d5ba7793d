"""Williams test: is one metric's correlation with the human scores higher than another's?

The two correlations share the human scores, so they are dependent; Williams (1959) accounts for
that through the correlation between the two metrics (as advocated by Graham & Baldwin 2014 and
used for system-level metric comparisons in WMT up to 2020; mt-metrics-eval ``WilliamsSigDiff``).
With r_a = corr(human, a), r_b = corr(human, b), r_ab = corr(a, b) and n items:

    K = 1 - r_a^2 - r_b^2 - r_ab^2 + 2 r_a r_b r_ab
    t = (r_a - r_b) sqrt((n - 1)(1 + r_ab)) / sqrt(2 K (n - 1) / (n - 3) + rbar^2 (1 - r_ab)^3)

with rbar = (r_a + r_b) / 2, and t has n - 3 degrees of freedom.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _checks
from .correlation import pearson
from .levels import _stat_p


@dataclass(frozen=True)
class WilliamsResult:
    """p-value, t statistic and the three correlations (``r_a`` = corr(human, a), ``r_b`` =
    corr(human, b), ``r_ab`` = corr(a, b)) over ``n`` items."""

    pvalue: float
    statistic: float
    r_a: float
    r_b: float
    r_ab: float
    n: int


def _williams_t(r_a: float, r_b: float, r_ab: float, n: int) -> float:
    k = 1.0 - r_a**2 - r_b**2 - r_ab**2 + 2.0 * r_a * r_b * r_ab
    rbar = (r_a + r_b) / 2.0
    num = (r_a - r_b) * np.sqrt((n - 1) * (1.0 + r_ab))
    den = np.sqrt(2.0 * (n - 1) / (n - 3) * k + rbar**2 * (1.0 - r_ab) ** 3)
    if den == 0:
        return 0.0 if r_a == r_b else float(np.copysign(np.inf, r_a - r_b))
    return float(num / den)


def williams_test(
    r_a: float, r_b: float, r_ab: float, n: int, *, one_sided: bool = True
) -> WilliamsResult:
    """Williams test from the three correlations and the number of items.

    ``one_sided`` (the default, as mt-metrics-eval) gives P(T >= |t|): the p-value for "the
    larger of the two correlations is larger"; otherwise the two-sided 2 P(T >= |t|), capped at 1.
    The correlations must be possible together: K above must not be negative.
    """
    who = "williams_test"
    n = _checks.positive_int(who, "n", n, minimum=4)
    for name, r in (("r_a", r_a), ("r_b", r_b), ("r_ab", r_ab)):
        if not _checks.is_number(r) or not -1 <= r <= 1:
            raise _checks.ScorerInputError(
                f"{who}: `{name}` must be a correlation in [-1, 1] (got {r!r})"
            )
    r_a, r_b, r_ab = float(r_a), float(r_b), float(r_ab)
    k = 1.0 - r_a**2 - r_b**2 - r_ab**2 + 2.0 * r_a * r_b * r_ab
    if k < -1e-12:
        raise _checks.ScorerInputError(
            f"{who}: correlations r_a={r_a}, r_b={r_b}, r_ab={r_ab} cannot hold together (their "
            f"correlation matrix is not positive semi-definite: K = {k:.3g} < 0)"
        )
    from scipy.stats import t as t_dist

    t = _williams_t(r_a, r_b, r_ab, n)
    p = float(t_dist.sf(abs(t), n - 3))
    if not one_sided:
        p = min(1.0, 2.0 * p)
    return WilliamsResult(p, t, r_a, r_b, r_ab, n)


def williams(
    human: Any,
    metric_a: Any,
    metric_b: Any,
    corr_fn: Callable[..., Any] = pearson,
    *,
    one_sided: bool = True,
) -> WilliamsResult:
    """Williams test of ``corr_fn(human, a)`` against ``corr_fn(human, b)`` on the same items.

    ``corr_fn`` follows the scipy contract (Pearson by default, the only case for which the test
    is derived). Items with a NaN human score are left out of all three correlations and of n
    (mt-metrics-eval's ``WilliamsSigDiff`` counts them in n). For level-averaged correlations
    compute the three values and call :func:`williams_test`.
    """
    who = "williams"
    h = _checks.as_float_array(who, "human", human, allow_nan=True)
    a = _checks.as_float_array(who, "metric_a", metric_a)
    b = _checks.as_float_array(who, "metric_b", metric_b)
    _checks.same_length(who, human=h, metric_a=a, metric_b=b)
    keep = ~np.isnan(h)
    h, a, b = h[keep], a[keep], b[keep]
    if h.size < 4:
        raise _checks.ScorerInputError(
            f"{who}: expected at least 4 items with a human score (got {h.size})"
        )
    r_a, _ = _stat_p(corr_fn(h, a))
    r_b, _ = _stat_p(corr_fn(h, b))
    r_ab, _ = _stat_p(corr_fn(a, b))
    bad = [n for n, r in (("human-a", r_a), ("human-b", r_b), ("a-b", r_ab)) if np.isnan(r)]
    if bad:
        raise _checks.ScorerInputError(
            f"{who}: the {', '.join(bad)} correlation is undefined (NaN; a constant input?)"
        )
    return williams_test(r_a, r_b, r_ab, int(h.size), one_sided=one_sided)
