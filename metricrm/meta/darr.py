"""DARR: relative-ranking pairs built from direct-assessment (DA) scores, as in WMT17-WMT20.

Two translations of the same source segment form a pair when their DA scores differ by at least
``threshold`` points (25 in WMT; mt-metrics-eval's ``KendallLike`` compares ``|diff| >= thresh``),
the one with the higher score being the better. A metric is then scored with the WMT tau-like
statistic over the pairs (:func:`~metricrm.meta.pairwise.kendall_tau_like`; a metric tie counts
as discordant), pooled over segments.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _checks
from .pairwise import TauLikeResult, kendall_tau_like


def relative_ranking_pairs(
    scores: Any,
    *,
    groups: Any = None,
    threshold: float = 25.0,
    inclusive: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays ``(better, worse)`` of the DARR pairs among ``scores`` (NaN = unscored).

    Pairs form within each group (e.g. the source segment; all items when ``groups`` is None)
    when the scores differ by ``>= threshold`` (``> threshold`` with ``inclusive=False``);
    ``better[k]`` is the item with the higher score. Pairs are listed group by group (groups in
    sorted label order), within a group by item position. ``threshold`` must be > 0: equal
    scores never make a pair.
    """
    who = "relative_ranking_pairs"
    s = _checks.as_float_array(who, "scores", scores, allow_nan=True)
    n = s.size
    if not _checks.is_number(threshold) or not threshold > 0:
        raise _checks.ScorerConfigError(
            f"{who}: `threshold` must be a number > 0 (got {threshold!r}); equal scores never "
            "make a pair"
        )
    if groups is None:
        codes = np.zeros(n, dtype=np.intp)
    else:
        _, codes = _checks.labels(who, "groups", groups, n)
    scored = np.flatnonzero(~np.isnan(s))
    order = scored[np.argsort(codes[scored], kind="stable")]
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    better: list[np.ndarray] = []
    worse: list[np.ndarray] = []
    for members in np.split(order, bounds):
        if members.size < 2:
            continue
        i, j = np.triu_indices(members.size, 1)
        a, b = members[i], members[j]
        diff = s[a] - s[b]
        far = np.abs(diff) >= threshold if inclusive else np.abs(diff) > threshold
        a, b, diff = a[far], b[far], diff[far]
        better.append(np.where(diff > 0, a, b))
        worse.append(np.where(diff > 0, b, a))
    if not better:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
    return np.concatenate(better).astype(np.intp), np.concatenate(worse).astype(np.intp)


def darr_tau_like(
    human: Any,
    metric: Any,
    *,
    groups: Any = None,
    threshold: float = 25.0,
    inclusive: bool = True,
    higher_is_better: bool = True,
) -> TauLikeResult:
    """WMT tau-like of ``metric`` over the DARR pairs built from the DA scores ``human``."""
    who = "darr_tau_like"
    m = _checks.as_float_array(who, "metric", metric)
    h = _checks.as_float_array(who, "human", human, allow_nan=True)
    _checks.same_length(who, human=h, metric=m)
    better, worse = relative_ranking_pairs(
        h, groups=groups, threshold=threshold, inclusive=inclusive
    )
    if better.size == 0:
        apart = f"{threshold} or more" if inclusive else f"more than {threshold}"
        raise _checks.ScorerInputError(
            f"{who}: no two items of a group differ by {apart}; expected at least one pair"
        )
    return kendall_tau_like(m[better], m[worse], higher_is_better=higher_is_better)
