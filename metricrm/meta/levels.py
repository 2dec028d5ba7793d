"""Lift any correlation function to the three meta-evaluation levels: flat, item and system.

- ``"flat"``: one correlation over every scored item.
- ``"item"``: items are grouped (by source segment or document id), the correlation is computed
  within each group and the group values are averaged: unweighted (``average="macro"``, the
  default) or weighted by each group's number of scored items (``"micro"``, mt-metrics-eval's
  ``macro=False``). A group with fewer than two scored items is skipped and counted; a group
  whose statistic is undefined (NaN, e.g. a constant human or metric score in the group) is
  skipped and counted (``undefined="skip"``) or enters as 0 (``"zero"``, mt-metrics-eval's
  ``replace_nans_with_zeros``). The p-value is NaN: an average of per-group p-values is not a
  p-value.
- ``"system"``: human scores are averaged per system over the items with a human score; metric
  scores over the same items (``system_cells="scored"``, the default) or over every item of the
  system (``"all"``, as WMT's system-level metric scores are computed over the whole test set);
  then the system means are correlated (the p-value is the correlation function's).

Items whose human score is NaN (missing) are excluded before anything else and counted.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _checks
from .correlation import pearson

LEVELS = ("flat", "item", "system")


@dataclass(frozen=True)
class LevelResult:
    """A correlation at one level with the counts needed to read it.

    ``n_items``: items used (with a human score); ``n_missing``: items without one;
    ``n_groups``: groups (item level) or systems (system level) that entered the statistic;
    ``n_skipped_small``: groups/systems with fewer than 2 (item) or no (system) scored items;
    ``n_skipped_undefined``: item-level groups whose statistic was NaN (left out, or entered as 0
    with ``undefined="zero"``);
    ``group_statistics``: at item level, the per-group values that were averaged (in sorted
    label order), for a bootstrap over groups; ``group_sizes``: their numbers of scored items
    (the weights of ``average="micro"``).
    """

    statistic: float
    pvalue: float
    level: str
    n_items: int
    n_missing: int
    n_groups: int = 0
    n_skipped_small: int = 0
    n_skipped_undefined: int = 0
    group_statistics: np.ndarray | None = field(default=None, repr=False, compare=False)
    group_sizes: np.ndarray | None = field(default=None, repr=False, compare=False)


def _stat_p(result: Any) -> tuple[float, float]:
    """(statistic, pvalue) from a scipy-like result or a plain tuple/number."""
    if hasattr(result, "statistic"):
        return float(result.statistic), float(getattr(result, "pvalue", np.nan))
    if isinstance(result, tuple):
        return float(result[0]), float(result[1]) if len(result) > 1 else float("nan")
    return float(result), float("nan")


def _call(
    corr_fn: Callable[..., Any], x: np.ndarray, y: np.ndarray, kwargs: dict
) -> tuple[float, float]:
    from scipy.stats import DegenerateDataWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateDataWarning)
        return _stat_p(corr_fn(x, y, **kwargs))


def correlate(
    human: Any,
    metric: Any,
    corr_fn: Callable[..., Any] = pearson,
    *,
    level: str = "flat",
    groups: Any = None,
    systems: Any = None,
    average: str = "macro",
    undefined: str = "skip",
    system_cells: str = "scored",
    **corr_kwargs: Any,
) -> LevelResult:
    """Apply ``corr_fn(human, metric, **corr_kwargs) -> (statistic, pvalue)`` at ``level``.

    ``groups`` (one label per item) is required for ``level="item"``, ``systems`` for
    ``level="system"``. Any function with the scipy contract works, including scipy's own
    (``scipy.stats.kendalltau``) and those in :mod:`metricrm.meta.correlation`. Note: at item
    level :func:`~metricrm.meta.correlation.tie_calibrated_accuracy` would search one epsilon per
    group here; for the paper's single epsilon across groups pass ``groups=`` to it directly.
    ``average``, ``undefined`` (item level) and ``system_cells`` (system level): see the module
    docstring.
    """
    who = "correlate"
    _checks.choice(who, "level", level, LEVELS)
    _checks.choice(who, "average", average, ("macro", "micro"))
    _checks.choice(who, "undefined", undefined, ("skip", "zero"))
    _checks.choice(who, "system_cells", system_cells, ("scored", "all"))
    h = _checks.as_float_array(who, "human", human, allow_nan=True)
    m = _checks.as_float_array(who, "metric", metric)
    n = _checks.same_length(who, human=h, metric=m)
    _checks.non_empty(who, n)
    scored = ~np.isnan(h)
    n_missing = int(n - scored.sum())

    if level == "flat":
        if scored.sum() < 2:
            raise _checks.ScorerInputError(
                f"{who}: expected at least 2 items with a human score (got {int(scored.sum())} "
                f"of {n}; the rest are NaN)"
            )
        stat, p = _call(corr_fn, h[scored], m[scored], corr_kwargs)
        return LevelResult(stat, p, level, int(scored.sum()), n_missing)

    label_arg = "groups" if level == "item" else "systems"
    values = groups if level == "item" else systems
    if values is None:
        raise _checks.ScorerConfigError(
            f"{who}: level={level!r} needs `{label_arg}` (one label per item)"
        )
    uniq, codes = _checks.labels(who, label_arg, values, n)
    all_means = np.bincount(codes, weights=m, minlength=uniq.size) / np.maximum(
        np.bincount(codes, minlength=uniq.size), 1
    )
    h, m, codes = h[scored], m[scored], codes[scored]
    order = np.argsort(codes, kind="stable")
    h, m, codes = h[order], m[order], codes[order]
    bounds = np.flatnonzero(np.diff(codes)) + 1
    parts = list(zip(np.split(h, bounds), np.split(m, bounds))) if h.size else []
    n_small = uniq.size - len(parts)  # labels with no scored item at all

    if level == "item":
        stats: list[float] = []
        sizes: list[int] = []
        n_undefined = 0
        for gh, gm in parts:
            if gh.size < 2:
                n_small += 1
                continue
            stat, _ = _call(corr_fn, gh, gm, corr_kwargs)
            if np.isnan(stat):
                n_undefined += 1
                if undefined == "skip":
                    continue
                stat = 0.0
            stats.append(stat)
            sizes.append(gh.size)
        if not stats:
            value = float("nan")
        elif average == "micro":
            value = float(np.average(stats, weights=sizes))
        else:
            value = float(np.mean(stats))
        return LevelResult(
            value,
            float("nan"),
            level,
            int(h.size),
            n_missing,
            len(stats),
            n_small,
            n_undefined,
            np.asarray(stats, dtype=np.float64),
            np.asarray(sizes, dtype=np.int64),
        )

    sys_h = np.array([gh.mean() for gh, _ in parts])
    if system_cells == "all":
        present = np.unique(codes)  # labels with a scored item, in the order of `parts`
        sys_m = all_means[present]
    else:
        sys_m = np.array([gm.mean() for _, gm in parts])
    if sys_h.size < 2:
        raise _checks.ScorerInputError(
            f"{who}: system level needs at least 2 systems with a human score (got {sys_h.size})"
        )
    stat, p = _call(corr_fn, sys_h, sys_m, corr_kwargs)
    return LevelResult(stat, p, level, int(h.size), n_missing, int(sys_h.size), n_small)


def system_segment_matrix(
    values: Any, systems: Any, segments: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pivot long-form scores into a (n_systems, n_segments) matrix, NaN where a pair is absent.

    Returns the matrix with the sorted system and segment labels. A (system, segment) pair that
    occurs twice is an error.
    """
    who = "system_segment_matrix"
    v = _checks.as_float_array(who, "values", values, allow_nan=True)
    n = v.size
    sys_labels, si = _checks.labels(who, "systems", systems, n)
    seg_labels, gi = _checks.labels(who, "segments", segments, n)
    flat = si * seg_labels.size + gi
    uniq, counts = np.unique(flat, return_counts=True)
    if (counts > 1).any():
        k = int(np.flatnonzero(counts > 1)[0])
        dup = int(np.flatnonzero(flat == uniq[k])[1])
        raise _checks.ScorerInputError(
            f"{who}: system {sys_labels[si[dup]].item()!r} and segment "
            f"{seg_labels[gi[dup]].item()!r} occur more than once (again at item {dup}); "
            "expected one score per pair"
        )
    mat = np.full((sys_labels.size, seg_labels.size), np.nan)
    mat[si, gi] = v
    return mat, sys_labels, seg_labels
