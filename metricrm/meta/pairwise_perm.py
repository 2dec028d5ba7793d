"""The pairwise permutation test of WMT23+ (mt-metrics-eval ``PairwisePermutationSigDiff``).

Tie-calibrated pairwise accuracy (acc23) compares every pair of items within a group (e.g. the
translations of one source segment): a pair is right when the metric orders it as the humans do,
or ties it (``|metric diff| <= epsilon``) when they do. To test whether metric a beats metric b,
this test swaps, pair by pair, which metric's *comparison* counts for which side, instead of
swapping scores: each metric keeps its own tie threshold, so no re-calibration per resample.

The statistic is the mean over groups of the per-group accuracy (groups with fewer than two
scored items are left out), i.e. a weighted sum over pairs with weight 1 / (pairs in the group x
groups). The permuted difference is therefore a signed sum over the pairs where the two metrics
disagree, and a whole block of resamples is one matrix product. Resamples are drawn in fixed-size
blocks from the explicit ``rng``: a seed gives the same result, with or without early stopping
(which only decides how many of the same resamples are used).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _checks
from .correlation import tie_calibrated_accuracy
from .resampling import (
    _BLOCK_ELEMS,
    EarlyStopping,
    _check_early,
    _pvalue,
    run_with_early_stopping,
)

VARIANTS = ("acc23", "tau23")


@dataclass(frozen=True)
class PairComparisons:
    """Every compared item pair: ``correct[k]`` (1.0 / 0.0), its weight in the statistic
    (``weight.sum() == 1``), its group and the two item indices."""

    correct: np.ndarray
    weight: np.ndarray
    group: np.ndarray
    first: np.ndarray
    second: np.ndarray
    n_groups: int
    n_groups_skipped: int

    @property
    def accuracy(self) -> float:
        return float(self.weight @ self.correct)


def _group_pairs(
    who: str, h: np.ndarray, groups: Any, max_pairs: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int]:
    n = h.size
    if groups is None:
        codes, n_labels = np.zeros(n, dtype=np.intp), 1
    else:
        uniq, codes = _checks.labels(who, "groups", groups, n)
        n_labels = uniq.size
    scored = np.flatnonzero(~np.isnan(h))
    order = scored[np.argsort(codes[scored], kind="stable")]
    parts = [p for p in np.split(order, np.flatnonzero(np.diff(codes[order])) + 1) if p.size > 1]
    total = sum(p.size * (p.size - 1) // 2 for p in parts)
    if total > max_pairs:
        raise _checks.ScorerInputError(
            f"{who}: {total} item pairs to compare exceed max_pairs={max_pairs}; group the items "
            "(e.g. by source segment) or raise max_pairs"
        )
    if not parts:
        raise _checks.ScorerInputError(
            f"{who}: expected at least one group with 2 or more scored items (got none)"
        )
    first, second, group, weight = [], [], [], []
    for g, members in enumerate(parts):
        i, j = np.triu_indices(members.size, 1)
        first.append(members[i])
        second.append(members[j])
        group.append(np.full(i.size, g))
        weight.append(np.full(i.size, 1.0 / (i.size * len(parts))))
    return (
        np.concatenate(first),
        np.concatenate(second),
        np.concatenate(group),
        np.concatenate(weight),
        len(parts),
        n_labels - len(parts),
    )


def _correct(h: np.ndarray, m: np.ndarray, first: np.ndarray, second: np.ndarray, eps: float):
    dh = np.sign(h[first] - h[second])
    dm = m[first] - m[second]
    sm = np.where(np.abs(dm) <= eps, 0.0, np.sign(dm))
    return (dh == sm).astype(np.float64)


def _epsilon(who: str, name: str, value: Any, calibrate: bool = True) -> float | None:
    """``value`` as a float >= 0; None (calibrate it) only where ``calibrate``."""
    if value is None and calibrate:
        return None
    if (
        value is None or not _checks.is_number(value) or not value >= 0  # NaN too
    ):
        allowed = " or None (calibrate)" if calibrate else ""
        raise _checks.ScorerConfigError(
            f"{who}: `{name}` must be a number >= 0{allowed} (got {value!r})"
        )
    return float(value)


def pairwise_comparisons(
    human: Any,
    metric: Any,
    *,
    groups: Any = None,
    epsilon: float = 0.0,
    max_pairs: int = 20_000_000,
) -> PairComparisons:
    """Every within-group item pair with whether ``metric`` gets it right (acc23 with
    ``epsilon``); ``.accuracy`` equals
    ``tie_calibrated_accuracy(human, metric, groups=groups, epsilon=epsilon).accuracy``."""
    who = "pairwise_comparisons"
    h = _checks.as_float_array(who, "human", human, allow_nan=True)
    m = _checks.as_float_array(who, "metric", metric)
    _checks.same_length(who, human=h, metric=m)
    eps = _epsilon(who, "epsilon", epsilon, calibrate=False)
    first, second, group, weight, n_groups, skipped = _group_pairs(who, h, groups, max_pairs)
    return PairComparisons(
        _correct(h, m, first, second, eps), weight, group, first, second, n_groups, skipped
    )


@dataclass(frozen=True)
class PairwisePermutationResult:
    """Statistic of each metric, their difference (a - b) and its p-value.

    ``epsilon_a`` / ``epsilon_b``: the tie thresholds used (given or calibrated); ``n_used`` of
    ``n_resamples`` resamples entered the p-value (fewer after early stopping); ``n_pairs`` item
    pairs in ``n_groups`` groups were compared, ``n_disagree`` of them differently by a and b.
    """

    value_a: float
    value_b: float
    difference: float
    pvalue: float
    alternative: str
    variant: str
    epsilon_a: float
    epsilon_b: float
    n_resamples: int
    n_used: int
    n_pairs: int
    n_groups: int
    n_disagree: int
    distribution: np.ndarray = field(repr=False)


def pairwise_permutation_test(
    human: Any,
    metric_a: Any,
    metric_b: Any,
    *,
    rng: np.random.Generator,
    groups: Any = None,
    epsilon_a: float | None = 0.0,
    epsilon_b: float | None = 0.0,
    variant: str = "acc23",
    n_resamples: int = 1000,
    alternative: str = "greater",
    plus_one: bool = True,
    early_stopping: EarlyStopping | None = None,
    max_pairs: int = 20_000_000,
) -> PairwisePermutationResult:
    """Is metric a's tie-calibrated pairwise accuracy above metric b's beyond chance?

    ``groups``: one label per item (e.g. source segment; None = one group). ``epsilon_a`` /
    ``epsilon_b``: each metric's tie threshold; None calibrates it on these data (the epsilon of
    :func:`~metricrm.meta.correlation.tie_calibrated_accuracy` with the same groups, as
    mt-metrics-eval does when its epsilons are None). ``variant``: "acc23" or "tau23"
    (= 2 acc23 - 1). NaN human scores are left out. The p-value is one-sided for "a better"
    (``alternative="greater"``), "less" or "two-sided"; ``plus_one`` and ``early_stopping`` as in
    :func:`~metricrm.meta.resampling.paired_permutation_test` (mt-metrics-eval: ``plus_one=False``,
    ``EarlyStopping(block=100)`` in its tasks). Memory and time grow with the number of pairs
    where the two metrics disagree; ``max_pairs`` bounds the pairs compared.
    """
    who = "pairwise_permutation_test"
    _checks.generator(who, rng)
    n_resamples = _checks.positive_int(who, "n_resamples", n_resamples)
    _checks.choice(who, "variant", variant, VARIANTS)
    _checks.choice(who, "alternative", alternative, ("greater", "less", "two-sided"))
    early_stopping = _check_early(who, early_stopping)
    max_pairs = _checks.positive_int(who, "max_pairs", max_pairs)
    h = _checks.as_float_array(who, "human", human, allow_nan=True)
    a = _checks.as_float_array(who, "metric_a", metric_a)
    b = _checks.as_float_array(who, "metric_b", metric_b)
    _checks.same_length(who, human=h, metric_a=a, metric_b=b)
    eps = []
    for name, value, m in (("epsilon_a", epsilon_a, a), ("epsilon_b", epsilon_b, b)):
        e = _epsilon(who, name, value)
        eps.append(e if e is not None else tie_calibrated_accuracy(h, m, groups=groups).epsilon)
    first, second, _, weight, n_groups, _ = _group_pairs(who, h, groups, max_pairs)
    ca = _correct(h, a, first, second, eps[0])
    cb = _correct(h, b, first, second, eps[1])
    scale = 2.0 if variant == "tau23" else 1.0
    shift = -1.0 if variant == "tau23" else 0.0
    value_a = scale * float(weight @ ca) + shift
    value_b = scale * float(weight @ cb) + shift
    observed = value_a - value_b
    differ = ca != cb
    delta = scale * weight[differ] * (ca[differ] - cb[differ])  # a's side minus b's side
    chunk = max(1, _BLOCK_ELEMS // max(delta.size, 1))
    drawn: list[np.ndarray] = []
    n_drawn = 0

    def null_block(start: int, stop: int) -> np.ndarray:
        nonlocal n_drawn
        while n_drawn < stop:
            rows = min(chunk, n_resamples - n_drawn)
            swap = rng.integers(0, 2, size=(rows, delta.size), dtype=bool)
            drawn.append(np.where(swap, -1.0, 1.0) @ delta)
            n_drawn += rows
        return np.concatenate(drawn)[start:stop]

    null = run_with_early_stopping(null_block, n_resamples, observed, alternative, early_stopping)
    return PairwisePermutationResult(
        value_a=value_a,
        value_b=value_b,
        difference=observed,
        pvalue=_pvalue(null, observed, alternative, plus_one),
        alternative=alternative,
        variant=variant,
        epsilon_a=eps[0],
        epsilon_b=eps[1],
        n_resamples=n_resamples,
        n_used=int(null.size),
        n_pairs=int(first.size),
        n_groups=n_groups,
        n_disagree=int(delta.size),
        distribution=null,
    )
