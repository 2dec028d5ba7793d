"""Significance clusters: rank many scorers the way WMT metrics tasks report them.

Scorers are sorted by their statistic (best first). Walking down the list, a scorer opens a new,
lower cluster when it is significantly worse (p < alpha) than the best scorer of the current
cluster (``rule="head"``), or, with ``rule="any"``, than any member of the current cluster (the
stricter reading used by mt-metrics-eval's ``AssignRanks``, which also compares with <=).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _checks
from .resampling import permutation_pvalue_matrix


@dataclass(frozen=True)
class ClusterResult:
    """Scorers sorted best first, with their statistic, cluster (1 = top) and the p-value matrix
    in that order (``pvalues[i, j]``: p-value for "scorer i is better than scorer j")."""

    names: list[str]
    values: np.ndarray
    clusters: np.ndarray
    pvalues: np.ndarray

    def as_dict(self) -> dict[str, int]:
        return dict(zip(self.names, (int(c) for c in self.clusters)))


def significance_clusters(
    names: Sequence[str],
    values: Any,
    pvalues: Any,
    *,
    alpha: float = 0.05,
    higher_is_better: bool = True,
    rule: str = "head",
) -> ClusterResult:
    """Cluster scorers from their statistics and a (k, k) matrix of p-values given in the order
    of ``names`` (``pvalues[i, j]``: "i is better than j"). Sorting is stable, so equal
    statistics keep their input order."""
    who = "significance_clusters"
    _checks.choice(who, "rule", rule, ("head", "any"))
    alpha = _checks.probability(who, "alpha", alpha)
    names = [str(n) for n in names]
    k = len(names)
    v = _checks.as_float_array(who, "values", values)
    p = _checks.as_float_array(who, "pvalues", pvalues, ndim=2, allow_nan=True)
    if v.size != k or p.shape != (k, k):
        raise _checks.ScorerInputError(
            f"{who}: expected {k} values and a ({k}, {k}) p-value matrix "
            f"(got {v.size} values and a {p.shape} matrix)"
        )
    if len(set(names)) != k:
        raise _checks.ScorerInputError(f"{who}: scorer names must be unique (got {names})")
    order = np.argsort(-v if higher_is_better else v, kind="stable")
    p = p[np.ix_(order, order)]
    clusters = np.empty(k, dtype=int)
    current, start = 1, 0
    for i in range(k):
        if i > start:
            rivals = [start] if rule == "head" else range(start, i)
            if any(p[r, i] < alpha for r in rivals):
                current, start = current + 1, i
        clusters[i] = current
    return ClusterResult([names[i] for i in order], v[order], clusters, p)


def rank_scorers(
    statistic: Callable[..., float],
    candidates: Mapping[str, Any],
    *shared: Any,
    rng: np.random.Generator,
    n_resamples: int = 1000,
    alpha: float = 0.05,
    standardize: bool = False,
    higher_is_better: bool = True,
    rule: str = "head",
) -> ClusterResult:
    """Compute every scorer's statistic, paired permutation p-values between all scorers (one
    shared set of swaps) and the significance clusters.

    ``candidates`` maps scorer name -> its per-item outcomes or scores; ``shared`` arrays (human
    scores) are passed to ``statistic`` unchanged. See
    :func:`~metricrm.meta.resampling.paired_permutation_test` for ``standardize``.
    """
    names = list(candidates)
    values, p = permutation_pvalue_matrix(
        statistic,
        [candidates[n] for n in names],
        *shared,
        rng=rng,
        n_resamples=n_resamples,
        standardize=standardize,
        higher_is_better=higher_is_better,
    )
    if np.isnan(values).any():
        bad = [n for n, v in zip(names, values) if np.isnan(v)]
        raise _checks.ScorerInputError(f"rank_scorers: the statistic is undefined (NaN) for {bad}")
    return significance_clusters(
        names, values, p, alpha=alpha, higher_is_better=higher_is_better, rule=rule
    )
