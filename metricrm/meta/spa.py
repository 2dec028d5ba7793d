"""Soft pairwise accuracy (SPA) of a metric at system level (Thompson et al., WMT24).

For every pair of systems (i, j), a paired permutation test on per-segment scores gives the
one-sided p-value for "system i is better than system j", once from human scores and once from
metric scores. SPA = mean over pairs i < j of 1 - |p_human(i, j) - p_metric(i, j)|: a metric scores
1 when it is exactly as sure about each system ordering as the humans are.

As in the reference implementation (mt-metrics-eval ``pce.py``): each permutation flips, segment
by segment, which of the two systems a score belongs to; the same sign matrix is used for every
system pair and for both the human and the metric test; p = (number of permuted deltas >=
observed delta) / n_resamples, without the +1 correction.

Ties are exact: a permuted delta that equals the observed one counts as ">=" even when
floating-point rounding puts it a hair below (the signed sums are formed in another order than
the observed sums). The tolerance is relative to the size of the sums, ``_TIE_RTOL`` times the
summed absolute scores of the two systems: far above rounding error (a few ``eps`` per
segment), far below any difference a score resolution can express.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _checks

_TIE_RTOL = 1e-11  # relative to sum(|scores|) of the two systems; see the module docstring


@dataclass(frozen=True)
class SPAResult:
    """SPA, the two (n_systems, n_systems) p-value matrices (entry [i, j]: "i better than j",
    NaN diagonal) and how many segments were used or dropped for a missing human score."""

    value: float
    human_pvalues: np.ndarray
    metric_pvalues: np.ndarray
    n_segments: int
    n_segments_dropped: int
    n_resamples: int


def permutation_signs(n_segments: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(n_resamples, n_segments) matrix of +1 / -1: -1 swaps the two systems on that segment."""
    flips = rng.integers(0, 2, size=(n_resamples, n_segments), dtype=bool)
    return np.where(flips, -1.0, 1.0)


def pairwise_system_pvalues(scores: Any, signs: np.ndarray) -> np.ndarray:
    """p[i, j]: share of sign flips whose permuted delta of system sums is >= the observed
    ``sum(scores[i]) - sum(scores[j])`` (one-sided, "i better than j"; an exact tie counts, see
    the module docstring); NaN on the diagonal."""
    s = np.asarray(scores, dtype=np.float64)
    totals = s.sum(axis=1)
    partial = signs @ s.T  # (n_resamples, n_systems): signed sum of each system's scores
    observed = totals[:, None] - totals[None, :]
    null = partial[:, :, None] - partial[:, None, :]
    size = np.abs(s).sum(axis=1)
    tol = _TIE_RTOL * np.maximum(1.0, size[:, None] + size[None, :])
    p = (null >= (observed - tol)[None]).mean(axis=0)
    np.fill_diagonal(p, np.nan)
    return p


def soft_pairwise_accuracy(
    human: Any,
    metric: Any,
    *,
    rng: np.random.Generator,
    n_resamples: int = 1000,
    higher_is_better: bool = True,
) -> SPAResult:
    """SPA from (n_systems, n_segments) human and metric score matrices (same system order).

    Segments with a missing (NaN) human score for any system are dropped and counted; the metric
    must score every cell. ``higher_is_better=False`` negates the metric first; human scores must
    be higher-is-better (negate e.g. raw MQM error counts before calling).
    """
    who = "soft_pairwise_accuracy"
    _checks.generator(who, rng)
    n_resamples = _checks.positive_int(who, "n_resamples", n_resamples)
    h = _checks.as_float_array(who, "human", human, ndim=2, allow_nan=True)
    m = _checks.as_float_array(who, "metric", metric, ndim=2)
    if h.shape != m.shape:
        raise _checks.ScorerInputError(
            f"{who}: expected human and metric matrices of the same shape (n_systems, n_segments) "
            f"(got {h.shape} and {m.shape})"
        )
    if h.shape[0] < 2:
        raise _checks.ScorerInputError(f"{who}: expected at least 2 systems (got {h.shape[0]})")
    complete = ~np.isnan(h).any(axis=0)
    if not complete.any():
        raise _checks.ScorerInputError(
            f"{who}: no segment has a human score for every system; expected at least one"
        )
    h, m = h[:, complete], m[:, complete]
    if not higher_is_better:
        m = -m
    signs = permutation_signs(h.shape[1], n_resamples, rng)
    ph = pairwise_system_pvalues(h, signs)
    pm = pairwise_system_pvalues(m, signs)
    upper = np.triu_indices(h.shape[0], 1)
    value = float(1.0 - np.abs(ph - pm)[upper].mean())
    return SPAResult(value, ph, pm, int(complete.sum()), int((~complete).sum()), n_resamples)
