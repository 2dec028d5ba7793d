"""Correlations between human and metric scores on pointwise data.

Every correlation shares one contract, the one scipy uses: ``f(human, metric) -> (statistic,
pvalue)``, where the p-value is NaN when the statistic has none. The first argument is the human
(gold) score: it matters for tie-calibrated accuracy, which introduces ties into the metric only.
A statistic that is undefined (a constant input) is NaN, never an exception.

Row-wise versions (:func:`pearson_rows`, :func:`spearman_rows`) compute one correlation per row of
2-D input; the resampling code uses them to evaluate many resamples at once.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from . import _checks


class CorrelationResult(NamedTuple):
    statistic: float
    pvalue: float


def _pair(who: str, human: Any, metric: Any) -> tuple[np.ndarray, np.ndarray]:
    x = _checks.as_float_array(who, "human", human)
    y = _checks.as_float_array(who, "metric", metric)
    n = _checks.same_length(who, human=x, metric=y)
    if n < 2:
        raise _checks.ScorerInputError(f"{who}: expected at least 2 items (got {n})")
    return x, y


def _row_scale(d: np.ndarray) -> np.ndarray:
    """Largest absolute value of each row (1 for a row of zeros), keeping the last axis."""
    m = np.abs(d).max(axis=-1, keepdims=True)
    return np.where(m > 0, m, 1.0)


def pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson's r along the last axis (inputs broadcast); NaN for a constant row."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    xm = x - x.mean(axis=-1, keepdims=True)
    ym = y - y.mean(axis=-1, keepdims=True)
    # r does not depend on the scale: bring each row's largest deviation to 1 so that the sums of
    # squares neither underflow (deviations below ~1e-154) nor overflow (above ~1e154)
    xm = xm / _row_scale(xm)
    ym = ym / _row_scale(ym)
    sxx = np.einsum("...i,...i->...", xm, xm)
    syy = np.einsum("...i,...i->...", ym, ym)
    sxy = np.einsum("...i,...i->...", xm, ym)
    # A row is constant when every value equals its first: test that rather than sxx == 0, which
    # rounding can miss for constant rows of non-representable values.
    const = (x == x[..., :1]).all(axis=-1) | (y == y[..., :1]).all(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = sxy / np.sqrt(sxx * syy)
    r = np.clip(r, -1.0, 1.0)
    return np.where(const, np.nan, r)


def spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho along the last axis: Pearson's r of average ranks."""
    from scipy.stats import rankdata

    return pearson_rows(rankdata(x, axis=-1), rankdata(y, axis=-1))


def _t_pvalue(r: float, n: int) -> float:
    """Two-sided p-value of r under independence, via the t distribution with n - 2 df."""
    if np.isnan(r):
        return float("nan")
    if n < 3:
        return 1.0
    from scipy.special import betainc

    # P(|T| >= |t|) with t = r sqrt(df / (1 - r^2)) equals I_{1 - r^2}(df / 2, 1 / 2).
    return float(betainc((n - 2) / 2.0, 0.5, max(0.0, 1.0 - r * r)))


def pearson(human: Any, metric: Any) -> CorrelationResult:
    """Pearson's r with the two-sided p-value scipy.stats.pearsonr reports."""
    x, y = _pair("pearson", human, metric)
    r = float(pearson_rows(x, y))
    return CorrelationResult(r, _t_pvalue(r, x.size))


def spearman(human: Any, metric: Any) -> CorrelationResult:
    """Spearman's rho (average ranks for ties) with scipy.stats.spearmanr's two-sided p-value."""
    x, y = _pair("spearman", human, metric)
    r = float(spearman_rows(x, y))
    return CorrelationResult(r, _t_pvalue(r, x.size))


def _kendall(who: str, human: Any, metric: Any, variant: str) -> CorrelationResult:
    from scipy import stats

    x, y = _pair(who, human, metric)
    if (x == x[0]).all() or (y == y[0]).all():
        return CorrelationResult(float("nan"), float("nan"))
    res = stats.kendalltau(x, y, variant=variant)
    return CorrelationResult(float(res.statistic), float(res.pvalue))


def kendall_tau_b(human: Any, metric: Any) -> CorrelationResult:
    """Kendall's tau-b, (C - D) / sqrt((P - T_x)(P - T_y)), computed by scipy.stats.kendalltau."""
    return _kendall("kendall_tau_b", human, metric, "b")


def kendall_tau_c(human: Any, metric: Any) -> CorrelationResult:
    """Stuart's tau-c, 2 m (C - D) / (n^2 (m - 1)) with m the smaller number of distinct values."""
    return _kendall("kendall_tau_c", human, metric, "c")


def kendall_rows(x: np.ndarray, y: np.ndarray, variant: str = "b") -> np.ndarray:
    """Kendall's tau along the last axis. scipy has no batched form: this loops over rows."""
    from scipy import stats

    x, y = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    flat_x = x.reshape(-1, x.shape[-1])
    flat_y = y.reshape(-1, y.shape[-1])
    out = np.empty(flat_x.shape[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        for i, (a, b) in enumerate(zip(flat_x, flat_y)):
            out[i] = stats.kendalltau(a, b, variant=variant).statistic
    return out.reshape(x.shape[:-1])


# ----------------------------------------------------------------- tie-calibrated pairwise accuracy


@dataclass(frozen=True)
class TieCalibrationResult:
    """Tie-calibrated pairwise accuracy (acc23) and the metric tie threshold that achieved it.

    ``n_pairs`` item pairs were compared in ``n_groups`` groups; ``n_groups_skipped`` groups had
    fewer than two scored items; ``n_missing`` items had no human score (NaN) and were left out.
    ``statistic``/``pvalue`` give the shared (statistic, NaN) contract.
    """

    accuracy: float
    epsilon: float
    n_pairs: int
    n_groups: int
    n_groups_skipped: int
    n_missing: int

    @property
    def statistic(self) -> float:
        return self.accuracy

    @property
    def pvalue(self) -> float:
        return float("nan")


def _tied_diffs(h: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Metric |diff| of every pair of items with equal human scores."""
    order = np.lexsort((m, h))
    hs, ms = h[order], m[order]
    starts = np.flatnonzero(np.r_[True, hs[1:] != hs[:-1]])
    sizes = np.diff(np.r_[starts, hs.size])
    parts = [np.empty(0)]
    for start, size in zip(starts[sizes > 1], sizes[sizes > 1]):
        i, j = np.triu_indices(size, 1)
        cls = ms[start : start + size]
        parts.append(cls[j] - cls[i])  # sorted by m within the class: already non-negative
    return np.concatenate(parts)


def _concordant_hist(
    h: np.ndarray, m: np.ndarray, cuts: np.ndarray, block_elems: int = 1 << 22
) -> np.ndarray:
    """Histogram of the metric |diff| of concordant pairs over ``cuts`` (sorted): entry c counts
    the pairs whose |diff| is in (cuts[c - 1], cuts[c]]; the last entry those above cuts[-1].

    Items are sorted by metric score first, so for i < j the metric diff m[j] - m[i] is already
    |diff| and a pair is concordant exactly when both diffs are positive. Row blocks keep memory
    at O(block_elems) however many pairs there are.
    """
    order = np.argsort(m, kind="stable")
    h, m = h[order], m[order]
    n = h.size
    hist = np.zeros(cuts.size + 1, dtype=np.int64)
    step = max(1, block_elems // max(n, 1))
    for start in range(0, n - 1, step):
        rows = np.arange(start, min(start + step, n - 1))
        # entry (r, c) is the pair (rows[r], start + 1 + c); keep it only when that is later
        later = np.arange(start + 1, n)[None, :] > rows[:, None]
        dm = m[None, start + 1 :] - m[rows, None]
        dh = h[None, start + 1 :] - h[rows, None]
        d = dm[(dh > 0) & (dm > 0) & later]
        hist += np.bincount(np.searchsorted(cuts, d, side="left"), minlength=cuts.size + 1)
    return hist


def tie_calibrated_accuracy(
    human: Any,
    metric: Any,
    *,
    groups: Any = None,
    epsilon: float | None = None,
) -> TieCalibrationResult:
    """Pairwise accuracy with tie calibration ("acc23", Deutsch, Foster & Freitag 2023).

    Over all pairs of items (within each group when ``groups`` is given) a pair is correct when
    the metric orders it as the humans do, or when both tie it: humans tie when their scores are
    equal, the metric ties when ``|metric diff| <= epsilon``. So acc23 = (concordant + ties in
    both) / pairs. With ``groups`` the accuracy is computed per group and averaged (one epsilon
    for all groups, as in the paper's item-grouped setting). Without ``epsilon`` the threshold is
    searched over 0 and every distinct metric |diff| of a human-tied pair (the only values where
    accuracy can rise; a concordant pair only loses when tied) and the smallest best epsilon is
    returned. Cost: O(P log C) for P pairs and C candidates, memory O(n + tied pairs).
    NaN human scores are left out and counted.
    """
    who = "tie_calibrated_accuracy"
    h = _checks.as_float_array(who, "human", human, allow_nan=True)
    m = _checks.as_float_array(who, "metric", metric)
    n = _checks.same_length(who, human=h, metric=m)
    if epsilon is not None and (not _checks.is_number(epsilon) or not epsilon >= 0):
        raise _checks.ScorerConfigError(
            f"{who}: `epsilon` must be a number >= 0 or None (got {epsilon!r})"
        )
    if groups is None:
        codes, n_labels = np.zeros(n, dtype=np.intp), 1
    else:
        uniq, codes = _checks.labels(who, "groups", groups, n)
        n_labels = uniq.size
    scored = ~np.isnan(h)
    n_missing = int(n - scored.sum())
    order = np.argsort(codes[scored], kind="stable")
    h, m, codes = h[scored][order], m[scored][order], codes[scored][order]
    bounds = np.flatnonzero(np.diff(codes)) + 1
    parts = [(gh, gm) for gh, gm in zip(np.split(h, bounds), np.split(m, bounds)) if gh.size >= 2]
    n_groups = len(parts)
    skipped = n_labels - n_groups  # groups with fewer than 2 scored items (including none)
    if n_groups == 0:
        raise _checks.ScorerInputError(
            f"{who}: expected at least one group with 2 or more scored items (got none; "
            f"{n_missing} items had no human score)"
        )

    tied = [_tied_diffs(gh, gm) for gh, gm in parts]
    if epsilon is None:
        cuts = np.unique(np.concatenate([np.zeros(1), *tied]))
    else:
        cuts = np.asarray([float(epsilon)])
    # value(cuts[c]) = (sum over groups of w_g * (#concordant + #tied pairs with d <= cuts[c]
    #                   - #concordant pairs with d <= cuts[c])) / denominator
    single = groups is None
    total = np.zeros(cuts.size)
    n_pairs = 0
    for (gh, gm), a in zip(parts, tied):
        p = gh.size * (gh.size - 1) // 2
        b_hist = _concordant_hist(gh, gm, cuts)
        a_hist = np.bincount(np.searchsorted(cuts, a, side="left"), minlength=cuts.size + 1)
        counts = b_hist.sum() + np.cumsum(a_hist - b_hist)[:-1]  # exact integers
        total += counts if single else counts / p
        n_pairs += p
    values = total / (n_pairs if single else n_groups)
    if epsilon is not None:
        return TieCalibrationResult(
            float(values[0]), float(epsilon), n_pairs, n_groups, skipped, n_missing
        )
    tol = 0.0 if single else 1e-12  # averaging per-group fractions is not exact
    k = int(np.flatnonzero(values >= values.max() - tol)[0])
    return TieCalibrationResult(
        float(values[k]), float(cuts[k]), n_pairs, n_groups, skipped, n_missing
    )
