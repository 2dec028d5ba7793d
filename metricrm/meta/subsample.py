"""Test-set subsampling: how would a significance result look on a smaller test set?

:func:`subsample_indices` draws items without replacement, uniformly or stratified (each stratum,
e.g. a domain or document, keeps its share: proportional allocation, remainders to the largest
fractional parts, ties broken at random; mt-metrics-eval's ``stats.Sample``).
:func:`subsampled_significance` repeats a paired permutation test on many such subsamples and
reports how often the difference is significant: an estimate of the power at that test-set size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _checks
from .resampling import paired_permutation_test


def _allocate(counts: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    ideal = size * counts / counts.sum()
    take = np.floor(ideal).astype(np.int64)
    left = size - int(take.sum())
    if left:
        shuffled = rng.permutation(counts.size)  # random tie-break among equal remainders
        frac = (ideal - take)[shuffled]
        take[shuffled[np.argsort(-frac, kind="stable")[:left]]] += 1
    return take


def subsample_indices(
    n: int, size: int, *, rng: np.random.Generator, strata: Any = None
) -> np.ndarray:
    """``size`` distinct item indices out of ``n``, sorted.

    Without ``strata`` every subset of that size is equally likely. With ``strata`` (one label
    per item) each stratum gives floor(size * its share) items and the remaining items go to the
    strata with the largest fractional parts (ties at random), so a stratum never gives more
    items than it has.
    """
    who = "subsample_indices"
    _checks.generator(who, rng)
    n = _checks.positive_int(who, "n", n)
    size = _checks.positive_int(who, "size", size)
    if size > n:
        raise _checks.ScorerConfigError(f"{who}: `size` must be <= n = {n} (got {size})")
    if strata is None:
        return np.sort(rng.choice(n, size, replace=False))
    _, codes = _checks.labels(who, "strata", strata, n)
    counts = np.bincount(codes)
    take = _allocate(counts, size, rng)
    picked = [
        rng.choice(np.flatnonzero(codes == k), int(t), replace=False)
        for k, t in enumerate(take)
        if t
    ]
    return np.sort(np.concatenate(picked))


@dataclass(frozen=True)
class SubsampleSignificance:
    """Per subsample: the observed difference and its p-value; ``share_significant`` is the
    share of subsamples with p < ``alpha``."""

    size: int
    alpha: float
    share_significant: float
    pvalues: np.ndarray = field(repr=False)
    differences: np.ndarray = field(repr=False)


def subsampled_significance(
    statistic: Callable[..., float],
    a: Any,
    b: Any,
    *shared: Any,
    size: int,
    rng: np.random.Generator,
    n_subsamples: int = 100,
    strata: Any = None,
    alpha: float = 0.05,
    **test_kwargs: Any,
) -> SubsampleSignificance:
    """Run :func:`~metricrm.meta.resampling.paired_permutation_test` of ``a`` against ``b`` on
    ``n_subsamples`` subsamples of ``size`` items each (drawn by :func:`subsample_indices`, one
    ``rng`` for the draws and the tests in turn). ``test_kwargs`` go to the test
    (``n_resamples``, ``alternative``, ``standardize``, ``plus_one``, ``early_stopping``, ...).
    """
    who = "subsampled_significance"
    _checks.generator(who, rng)
    n_subsamples = _checks.positive_int(who, "n_subsamples", n_subsamples)
    alpha = _checks.probability(who, "alpha", alpha, closed_high=True)
    arrays = [np.asarray(x) for x in (a, b, *shared)]
    n = _checks.same_length(who, **{f"array {i}": x for i, x in enumerate(arrays)})
    pvalues = np.empty(n_subsamples)
    diffs = np.empty(n_subsamples)
    for k in range(n_subsamples):
        idx = subsample_indices(n, size, rng=rng, strata=strata)
        r = paired_permutation_test(statistic, *(x[idx] for x in arrays), rng=rng, **test_kwargs)
        pvalues[k], diffs[k] = r.pvalue, r.difference
    return SubsampleSignificance(
        size=int(size),
        alpha=alpha,
        share_significant=float(np.mean(pvalues < alpha)),
        pvalues=pvalues,
        differences=diffs,
    )
