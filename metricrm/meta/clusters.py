"""Significance clusters: rank many scorers the way WMT metrics tasks report them.

Scorers are sorted by their statistic (best first). Walking down the list, a scorer opens a new,
lower cluster when it is significantly worse than

- ``rule="wmt"`` (the default): any member of the current cluster with the boundary
  ``p <= alpha``, exactly mt-metrics-eval's ``AssignRanks`` (used for the WMT21-WMT24 metrics
  task rankings); no member of a cluster is then significantly worse than an earlier member;
- ``rule="any"``: any member of the current cluster;
- ``rule="head"``: the best scorer of the current cluster (metricrm's default before 0.2; a
  cluster can then hold two scorers that differ significantly).

"Significantly worse" is ``p < alpha`` (``boundary="strict"``, the default for "head" and "any") or
``p <= alpha`` (``boundary="inclusive"``, the only boundary of "wmt"). ``alpha`` may be 1.0: with
the inclusive boundary every scorer then gets its own cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _checks
from .resampling import EarlyStopping, permutation_pvalue_matrix


@dataclass(frozen=True)
class ClusterResult:
    """Scorers sorted best first, with their statistic, cluster (1 = top) and the p-value matrix
    in that order (``pvalues[i, j]``: p-value for "scorer i is better than scorer j")."""

    names: list[str]
    values: np.ndarray
    clusters: np.ndarray
    pvalues: np.ndarray
    rule: str = "wmt"
    boundary: str = "inclusive"
    alpha: float = 0.05

    def as_dict(self) -> dict[str, int]:
        return dict(zip(self.names, (int(c) for c in self.clusters)))


RULES = ("head", "any", "wmt")
BOUNDARIES = ("strict", "inclusive")


def resolve_rule(who: str, rule: str, boundary: str | None) -> tuple[str, str]:
    """(rule, boundary) after defaults: "wmt" means "any" members with the inclusive boundary."""
    _checks.choice(who, "rule", rule, RULES)
    if boundary is not None:
        _checks.choice(who, "boundary", boundary, BOUNDARIES)
    if rule == "wmt":
        if boundary == "strict":
            raise _checks.ScorerConfigError(
                f"{who}: rule='wmt' compares with p <= alpha (boundary='inclusive'); for p < alpha "
                "use rule='any' (got boundary='strict')"
            )
        return rule, "inclusive"
    return rule, boundary or "strict"


def significance_clusters(
    names: Sequence[str],
    values: Any,
    pvalues: Any,
    *,
    alpha: float = 0.05,
    higher_is_better: bool = True,
    rule: str = "wmt",
    boundary: str | None = None,
) -> ClusterResult:
    """Cluster scorers from their statistics and a (k, k) matrix of p-values given in the order
    of ``names`` (``pvalues[i, j]``: "i is better than j"; only entries of a better-ranked i
    against a worse-ranked j are read, NaN never counts as significant). Sorting is stable, so
    equal statistics keep their input order. See the module docstring for ``rule``, ``boundary``
    and ``alpha`` in (0, 1]."""
    who = "significance_clusters"
    rule, boundary = resolve_rule(who, rule, boundary)
    alpha = _checks.probability(who, "alpha", alpha, closed_high=True)
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
            rivals = p[[start] if rule == "head" else slice(start, i), i]
            worse = rivals <= alpha if boundary == "inclusive" else rivals < alpha
            if worse.any():
                current, start = current + 1, i
        clusters[i] = current
    return ClusterResult(
        [names[i] for i in order], v[order], clusters, p, rule=rule, boundary=boundary, alpha=alpha
    )


def rank_scorers(
    statistic: Callable[..., float],
    candidates: Mapping[str, Any],
    *shared: Any,
    rng: np.random.Generator,
    n_resamples: int = 1000,
    alpha: float = 0.05,
    standardize: bool = False,
    higher_is_better: bool = True,
    rule: str = "wmt",
    boundary: str | None = None,
    plus_one: bool = True,
    early_stopping: EarlyStopping | None = None,
) -> ClusterResult:
    """Compute every scorer's statistic, paired permutation p-values between all scorers (one
    shared set of swaps) and the significance clusters (``rule``, ``boundary``, ``alpha``: see
    :func:`significance_clusters`; ``plus_one``, ``early_stopping``: see
    :func:`~metricrm.meta.resampling.permutation_pvalue_matrix`).

    ``candidates`` maps scorer name -> its per-item outcomes or scores; ``shared`` arrays (human
    scores) are passed to ``statistic`` unchanged. See
    :func:`~metricrm.meta.resampling.paired_permutation_test` for ``standardize``.
    """
    names = list(candidates)
    rule, boundary = resolve_rule("rank_scorers", rule, boundary)
    _checks.probability("rank_scorers", "alpha", alpha, closed_high=True)
    values, p = permutation_pvalue_matrix(
        statistic,
        [candidates[n] for n in names],
        *shared,
        rng=rng,
        n_resamples=n_resamples,
        standardize=standardize,
        higher_is_better=higher_is_better,
        plus_one=plus_one,
        early_stopping=early_stopping,
    )
    if np.isnan(values).any():
        bad = [n for n, v in zip(names, values) if np.isnan(v)]
        raise _checks.ScorerInputError(f"rank_scorers: the statistic is undefined (NaN) for {bad}")
    return significance_clusters(
        names,
        values,
        p,
        alpha=alpha,
        higher_is_better=higher_is_better,
        rule=rule,
        boundary=boundary,
    )
