"""Benchmark totals over fixed cells, and a bootstrap that keeps the cells fixed.

A benchmark total such as RewardBench's leaderboard score or RM-Bench's hard / normal / easy
total is a weighted mean of *cell* means: a cell is a subset (RewardBench) or a (domain,
difficulty) pair (RM-Bench), and the weights come from the benchmark's own rules, not from how
many items each cell has. :func:`weighted_cell_means` is that total as a
:class:`~metricrm.meta.resampling.SumStatistic`, so bootstraps and paired permutation tests run
vectorised over it.

The cells of a benchmark are fixed by its design, so :func:`stratified_bootstrap` resamples
within each stratum (a subset, a domain): every resample keeps each stratum's size and no cell
goes missing, which a plain bootstrap over all items cannot promise for a small subset.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _checks
from .resampling import (
    BootstrapResult,
    SumStatistic,
    _prepare,
    _row_counts,
    _step,
    bootstrap_indices,
    percentile_interval,
)


def weighted_cell_means(weights: Any, *, name: str = "weighted_cell_means") -> SumStatistic:
    """The statistic ``sum_c weights[c] * mean(outcomes of cell c)`` on ``(outcomes, cells)``.

    ``outcomes`` hold one value per item (NaN = left out of its cell's mean); ``cells`` the
    integer cell code (0 .. len(weights) - 1) of each item. Cells with weight 0 do not enter the
    total; a cell with a positive weight and no outcome makes the value NaN. Weights are used as
    given (normalise them to sum to 1 for a weighted mean).
    """
    who = "weighted_cell_means"
    w = _checks.as_float_array(who, "weights", weights)
    _checks.non_empty(who, w.size, "cells")
    if (w < 0).any():
        raise _checks.ScorerConfigError(
            f"{who}: weights must be >= 0 (got {w[w < 0][0]} at cell {int(np.argmax(w < 0))})"
        )
    k = w.size
    used = w > 0

    def features(outcomes: np.ndarray, cells: np.ndarray) -> np.ndarray:
        o = np.asarray(outcomes, dtype=np.float64)
        c = np.asarray(cells)
        bad = c.dtype.kind not in "iu" or c.shape != o.shape
        if bad or (c.size and (c.min() < 0 or c.max() >= k)):
            raise _checks.ScorerInputError(
                f"{who}: expected one integer cell code in [0, {k}) per outcome "
                f"(got {c.dtype} codes of shape {c.shape} for {o.shape} outcomes)"
            )
        ok = ~np.isnan(o)
        out = np.zeros((o.size, 2 * k))
        rows = np.arange(o.size)
        out[rows, c] = np.where(ok, o, 0.0)
        out[rows, k + c] = ok
        return out

    def finalize(sums: np.ndarray) -> np.ndarray:
        s = np.asarray(sums, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = s[..., :k] / s[..., k:]
        return np.sum(np.where(used, means, 0.0) * w, axis=-1)  # NaN in a used cell stays

    return SumStatistic(features, finalize, name=name)


def stratified_bootstrap(
    statistic: SumStatistic,
    *arrays: Any,
    strata: Any,
    rng: np.random.Generator,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    groups: Any = None,
) -> BootstrapResult:
    """Bootstrap percentile interval of ``statistic(*arrays)`` resampling within each stratum.

    Each resample draws, for every stratum, as many items as it has (or, with ``groups``, as many
    whole groups: e.g. an RM-Bench prompt with its 9 style pairs) from that stratum with
    replacement. A group must lie in one stratum. Strata are drawn in sorted label order, each as
    the rows of ``bootstrap_indices(n_stratum, n_resamples, rng)``, so with a single stratum the
    resamples are exactly those of :func:`~metricrm.meta.resampling.bootstrap` with the same
    ``groups`` and generator. ``statistic`` must be a
    :class:`~metricrm.meta.resampling.SumStatistic` (resamples are feature sums).
    """
    who = "stratified_bootstrap"
    _checks.generator(who, rng)
    n_resamples = _checks.positive_int(who, "n_resamples", n_resamples)
    confidence = _checks.probability(who, "confidence", confidence)
    if not isinstance(statistic, SumStatistic):
        raise _checks.ScorerConfigError(
            f"{who}: expected a SumStatistic (got {type(statistic).__name__})"
        )
    arrs, n = _prepare(who, arrays)
    feats = np.asarray(statistic.features(*arrs), dtype=np.float64)
    s_names, s_codes = _checks.labels(who, "strata", strata, n)
    if groups is None:
        g_codes = np.arange(n)
    else:
        g_names, g_codes = _checks.labels(who, "groups", groups, n)
        pairs = np.unique(np.stack([g_codes, s_codes], axis=1), axis=0)
        if pairs.shape[0] > g_names.size:
            bad = str(g_names[pairs[np.flatnonzero(np.diff(pairs[:, 0]) == 0)[0], 0]])
            raise _checks.ScorerInputError(
                f"{who}: group {bad!r} spans more than one stratum; expected every group "
                "inside one stratum"
            )
    estimate = float(statistic.finalize(feats.sum(axis=0)))
    sums = np.zeros((n_resamples, feats.shape[1]))
    for k in range(s_names.size):
        inside = s_codes == k
        labels, local = np.unique(g_codes[inside], return_inverse=True)
        per_group = np.zeros((labels.size, feats.shape[1]))
        np.add.at(per_group, local.reshape(-1), feats[inside])
        step = _step(labels.size)
        for start in range(0, n_resamples, step):
            idx = bootstrap_indices(labels.size, min(step, n_resamples - start), rng)
            sums[start : start + idx.shape[0]] += _row_counts(idx, labels.size) @ per_group
    dist = np.asarray(statistic.finalize(sums), dtype=np.float64)
    low, high = percentile_interval(dist, confidence)
    return BootstrapResult(
        estimate=estimate,
        low=low,
        high=high,
        confidence=confidence,
        n_resamples=n_resamples,
        n_invalid=int(np.isnan(dist).sum()),
        distribution=dist,
    )
