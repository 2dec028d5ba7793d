"""Bootstrap confidence intervals and paired permutation tests, vectorised over resamples.

All randomness comes from an explicit ``numpy.random.Generator``: the same seed gives the same
output. The resamples are the rows of one (n_resamples, n) index or swap-mask matrix
(:func:`bootstrap_indices`, :func:`permutation_masks`; bootstrap indices are drawn block by block,
which gives the same numbers and bounds memory) and the statistic is evaluated for a whole block
of resamples per numpy call when its form allows it:

- :class:`SumStatistic`: a function of per-item feature sums (accuracy, tau-like, system-level
  correlations over segments). The sums of a block of resamples are one gather-and-add or one
  matrix product of draw counts; whole-group resampling only needs per-group sums; a permutation
  only moves the rows where the two scorers differ.
- :class:`RowStatistic`: a function computed along the last axis of a batch (Pearson, Spearman);
  resampled data are gathered block by block.
- any other callable ``f(*arrays) -> float``: evaluated in a loop, one resample at a time.

Arrays hold one item per entry along axis 0 (a 2-D array (n_items, d) is fine: e.g. the
per-segment columns of a systems-by-segments matrix, transposed). Statistics take the array that
belongs to the scorer first and shared arrays (human scores) after it, the order
:func:`paired_permutation_test` uses when it swaps two scorers' arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _checks
from .correlation import kendall_rows, pearson_rows, spearman_rows

_BLOCK_ELEMS = 1 << 18  # elements per block of resamples: bounds memory, stays cache-friendly


@dataclass(frozen=True)
class SumStatistic:
    """A statistic computed from column sums of per-item features.

    ``features(*arrays) -> (n_items, k)``: row i must depend on item i only (so that resampling
    or swapping items resamples or swaps rows). ``finalize(sums) -> value`` maps sums of shape
    (..., k) to values of shape (...).
    """

    features: Callable[..., np.ndarray]
    finalize: Callable[[np.ndarray], np.ndarray]
    name: str = "sum_statistic"

    def __call__(self, *arrays: Any) -> float:
        return float(
            self.finalize(np.asarray(self.features(*arrays), dtype=np.float64).sum(axis=0))
        )


@dataclass(frozen=True)
class RowStatistic:
    """A statistic with a batched form: ``batched(*arrays)`` takes arrays with a leading batch
    axis, (batch, n_items, ...), and returns one value per batch row."""

    batched: Callable[..., np.ndarray]
    name: str = "row_statistic"

    def __call__(self, *arrays: Any) -> float:
        return float(self.batched(*(np.asarray(a)[None] for a in arrays))[0])


def _mean_features(outcomes: np.ndarray) -> np.ndarray:
    o = np.asarray(outcomes, dtype=np.float64)
    used = ~np.isnan(o)
    return np.stack([np.where(used, o, 0.0), used.astype(np.float64)], axis=1)


def _ratio(sums: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums[..., 0] / sums[..., 1]


#: Mean of per-item outcomes, NaN outcomes excluded: pairwise accuracy from
#: :func:`~metricrm.meta.pairwise.pairwise_outcomes`, tau-like from ``tau_like_outcomes``.
MEAN = SumStatistic(_mean_features, _ratio, name="mean")
#: Pearson's r of (metric, human) arrays, batched (symmetric in its two arguments; no NaN:
#: leave out unscored items first).
PEARSON = RowStatistic(pearson_rows, name="pearson")
#: Spearman's rho of (metric, human) arrays, batched (symmetric; no NaN either).
SPEARMAN = RowStatistic(spearman_rows, name="spearman")

_ROW_CORR: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "pearson": pearson_rows,
    "spearman": spearman_rows,
    "kendall": kendall_rows,
}


def system_level(corr: str | Callable[..., Any] = "pearson", cells: str = "scored") -> SumStatistic:
    """System-level correlation over resampled segments.

    Takes ``(metric_columns, human_columns)``, both (n_segments, n_systems) (the transposes of
    systems-by-segments matrices): the metric comes first, like the scorer-specific array in
    :func:`paired_permutation_test`. A NaN human cell is left out of that system's human mean,
    and of its metric mean with ``cells="scored"`` (the default); ``cells="all"`` averages the
    metric over every segment of the resample (WMT's system scores) that the system has (a NaN
    metric cell, a segment the system did not translate, is left out). ``corr`` is "pearson",
    "spearman" or "kendall" (tau-b; no batched form, so its finalize loops over resamples), or
    any function ``corr(human, metric)`` with the scipy contract (a result with
    ``.statistic``, or a number), called once per resample on the means of the systems that
    have at least one human score in it.
    """
    _checks.choice("system_level", "cells", cells, ("scored", "all"))
    if callable(corr):
        corr_fn = corr

        def row_corr(h: np.ndarray, m: np.ndarray) -> np.ndarray:
            out = np.empty(h.shape[:-1])
            for idx in np.ndindex(out.shape):
                ok = ~np.isnan(h[idx])
                value = corr_fn(h[idx][ok], m[idx][ok])
                out[idx] = float(getattr(value, "statistic", value))
            return out

        label = getattr(corr, "__name__", "custom")
    else:
        _checks.choice("system_level", "corr", corr, tuple(_ROW_CORR))
        row_corr, label = _ROW_CORR[corr], corr
    every = cells == "all"

    def features(metric_cols: np.ndarray, human_cols: np.ndarray) -> np.ndarray:
        h = np.asarray(human_cols, dtype=np.float64)
        m = np.asarray(metric_cols, dtype=np.float64)
        avail = ~np.isnan(h)
        m_avail = ~np.isnan(m) if every else avail
        m_used = np.where(m_avail, m, 0.0)
        m_count = m_avail
        return np.concatenate([np.where(avail, h, 0.0), avail, m_used, m_count], axis=1)

    def finalize(sums: np.ndarray) -> np.ndarray:
        s_h, c_h, s_m, c_m = np.split(sums, 4, axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return row_corr(s_h / c_h, s_m / c_m)

    name = f"system_{label}" if not every else f"system_{label}_all_cells"
    return SumStatistic(features, finalize, name=name)


# ------------------------------------------------------------------------------------- drawing


def bootstrap_indices(n: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """All bootstrap resamples at once: an (n_resamples, n) matrix of item (or group) indices."""
    _checks.generator("bootstrap_indices", rng)
    return rng.integers(0, n, size=(n_resamples, n), dtype=np.intp)


def permutation_masks(n: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """All permutations at once: an (n_resamples, n) boolean matrix, True = swap that item."""
    _checks.generator("permutation_masks", rng)
    return rng.integers(0, 2, size=(n_resamples, n), dtype=bool)


def _step(width: int) -> int:
    """Resamples per block so that a block holds about _BLOCK_ELEMS elements."""
    return max(1, _BLOCK_ELEMS // max(width, 1))


def _row_counts(idx: np.ndarray, n: int) -> np.ndarray:
    """(b, n) occurrence counts of each index in each row of ``idx`` (b, m)."""
    b = idx.shape[0]
    flat = (idx + (np.arange(b, dtype=np.int64) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)


def _resampled_sums(feats: np.ndarray, const: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Column sums of ``feats`` over the rows listed in each row of ``idx``: (b, k).

    A constant column (``const``) sums to value * m without looking at the draws. Few other
    features: gather and add, column by column. Many: count how often each row is drawn and
    multiply (b * n counts, one matrix product).
    """
    if feats.shape[1] - const.sum() > 4:
        return _row_counts(idx, feats.shape[0]) @ feats
    out = np.empty((idx.shape[0], feats.shape[1]))
    for j in range(feats.shape[1]):
        out[:, j] = feats[0, j] * idx.shape[1] if const[j] else feats[:, j][idx].sum(axis=1)
    return out


def _group_codes(groups: Any, n: int) -> tuple[int, np.ndarray, list[np.ndarray]]:
    uniq, codes = _checks.labels("bootstrap", "groups", groups, n)
    order = np.argsort(codes, kind="stable")
    members = np.split(order, np.flatnonzero(np.diff(codes[order])) + 1)
    return uniq.size, codes, members


def _prepare(who: str, arrays: Sequence[Any]) -> tuple[list[np.ndarray], int]:
    if not arrays:
        raise _checks.ScorerInputError(f"{who}: expected at least one data array (got none)")
    arrs = [np.asarray(a) for a in arrays]
    if any(a.ndim == 0 for a in arrs):
        raise _checks.ScorerInputError(
            f"{who}: data arrays must hold one entry per item (got a scalar)"
        )
    n = _checks.same_length(who, **{f"array {i}": a for i, a in enumerate(arrs)})
    _checks.non_empty(who, n)
    return arrs, n


# ------------------------------------------------------------------------------------ bootstrap


def _check_pass_groups(who: str, statistic: Any, pass_groups: bool) -> None:
    if pass_groups and isinstance(statistic, (SumStatistic, RowStatistic)):
        raise _checks.ScorerConfigError(
            f"{who}: `pass_groups` is for plain callables that take `groups=` "
            f"(got a {type(statistic).__name__})"
        )


class _Bootstrapper:
    """Evaluates a statistic on blocks of resamples (rows of item or group indices)."""

    def __init__(
        self,
        statistic: Callable[..., float],
        arrs: list[np.ndarray],
        n: int,
        groups: Any,
        pass_groups: bool,
    ):
        self.statistic, self.arrs, self.pass_groups = statistic, arrs, pass_groups
        self.grouped = groups is not None
        self.kind = (
            "sum"
            if isinstance(statistic, SumStatistic)
            else "row"
            if isinstance(statistic, RowStatistic)
            else "loop"
        )
        if self.grouped:
            self.width, codes, self.members = _group_codes(groups, n)
            self.sizes = np.array([len(m) for m in self.members])
            if self.kind == "row":
                self.kind = "loop"  # ragged resamples: no batched form
        else:
            self.width = n
        if self.kind == "sum":
            feats = np.asarray(statistic.features(*arrs), dtype=np.float64)
            if self.grouped:
                sums = np.zeros((self.width, feats.shape[1]))
                np.add.at(sums, codes, feats)
                feats = sums
            self.feats = np.asfortranarray(feats)  # contiguous columns for gathering
            self.const = (feats == feats[:1]).all(axis=0)
        per_row = self.width * (
            max(int(np.prod(a.shape[1:])) for a in arrs) if self.kind == "row" else 1
        )
        self.step = _step(per_row)

    def evaluate(self, idx: np.ndarray) -> np.ndarray:
        if self.kind == "sum":
            return np.asarray(
                self.statistic.finalize(_resampled_sums(self.feats, self.const, idx)),
                dtype=np.float64,
            )
        if self.kind == "row":
            return np.asarray(
                self.statistic.batched(*(a[idx] for a in self.arrs)), dtype=np.float64
            )
        out = np.empty(idx.shape[0])
        for b, row in enumerate(idx):
            if not self.grouped:
                out[b] = self.statistic(*(a[row] for a in self.arrs))
                continue
            take = np.concatenate([self.members[g] for g in row])
            kwargs = (
                {"groups": np.repeat(np.arange(row.size), self.sizes[row])}
                if self.pass_groups
                else {}
            )
            out[b] = self.statistic(*(a[take] for a in self.arrs), **kwargs)
        return out


def bootstrap_distribution(
    statistic: Callable[..., float],
    arrays: Sequence[Any],
    indices: np.ndarray,
    *,
    groups: Any = None,
    pass_groups: bool = False,
) -> np.ndarray:
    """The statistic on each resample described by ``indices``.

    Without ``groups``, row b of ``indices`` lists the items of resample b. With ``groups`` (one
    label per item), row b lists *group* positions (in sorted label order) and resample b is the
    union of those groups' items, a group drawn twice contributing its items twice. With
    ``pass_groups`` a plain-callable statistic also receives ``groups=`` labels that tell copies
    of a group apart (the draw position).
    """
    who = "bootstrap"
    arrs, n = _prepare(who, arrays)
    _check_pass_groups(who, statistic, pass_groups)
    engine = _Bootstrapper(statistic, arrs, n, groups, pass_groups)
    idx = np.asarray(indices)
    if idx.ndim != 2 or idx.dtype.kind not in "iu":
        raise _checks.ScorerInputError(
            f"{who}: expected an integer (n_resamples, m) index matrix "
            f"(got {idx.dtype} array of shape {idx.shape})"
        )
    if idx.size and (idx.min() < 0 or idx.max() >= engine.width):
        what = "group indices" if engine.grouped else "indices"
        raise _checks.ScorerInputError(
            f"{who}: {what} must lie in [0, {engine.width}) (got {idx.min()}..{idx.max()})"
        )
    out = np.empty(idx.shape[0])
    for s in range(0, idx.shape[0], engine.step):
        block = idx[s : s + engine.step]
        out[s : s + block.shape[0]] = engine.evaluate(block)
    return out


@dataclass(frozen=True)
class BootstrapResult:
    """Point estimate, percentile interval and the bootstrap distribution.

    ``n_invalid`` resamples gave NaN (e.g. a constant resample for a correlation) and were left
    out of the percentiles.
    """

    estimate: float
    low: float
    high: float
    confidence: float
    n_resamples: int
    n_invalid: int
    distribution: np.ndarray = field(repr=False)


def percentile_interval(distribution: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Equal-tailed percentile interval of the finite values of ``distribution``."""
    d = np.asarray(distribution, dtype=np.float64)
    d = d[~np.isnan(d)]
    if d.size == 0:
        return float("nan"), float("nan")
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(d, [tail, 1.0 - tail])
    return float(low), float(high)


def bootstrap(
    statistic: Callable[..., float],
    *arrays: Any,
    rng: np.random.Generator,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    groups: Any = None,
    pass_groups: bool = False,
    method: str = "indices",
) -> BootstrapResult:
    """Bootstrap percentile interval of ``statistic(*arrays)``, resampling items (or whole
    groups of items when ``groups`` is given) with replacement.

    With ``method="indices"`` the resamples are exactly the rows of
    ``bootstrap_indices(n, n_resamples, rng)`` (n items or groups); they are drawn block by block
    so the full index matrix never sits in memory (numpy draws integers in the same order
    whatever the block size). ``method="counts"`` (a :class:`SumStatistic` on items only) draws,
    per resample, how many times each *distinct* feature row is picked from a multinomial: the
    same bootstrap distribution, other draws, and O(n_resamples x distinct rows) work instead of
    O(n_resamples x n) - for accuracy-like outcomes there are only a handful of distinct rows.

    >>> import numpy as np
    >>> from metricrm.meta.resampling import MEAN, bootstrap
    >>> r = bootstrap(MEAN, np.array([1.0, 0.0, 1.0, 1.0]), rng=np.random.default_rng(0))
    >>> r.estimate
    0.75
    """
    who = "bootstrap"
    _checks.generator(who, rng)
    n_resamples = _checks.positive_int(who, "n_resamples", n_resamples)
    confidence = _checks.probability(who, "confidence", confidence)
    _checks.choice(who, "method", method, ("indices", "counts"))
    arrs, n = _prepare(who, arrays)
    _check_pass_groups(who, statistic, pass_groups)
    if method == "counts":
        if not isinstance(statistic, SumStatistic) or groups is not None:
            raise _checks.ScorerConfigError(
                f"{who}: method='counts' needs a SumStatistic and item resampling "
                f"(got {type(statistic).__name__}{' with groups' if groups is not None else ''})"
            )
        feats = np.asarray(statistic.features(*arrs), dtype=np.float64)
        estimate = float(statistic.finalize(feats.sum(axis=0)))
        rows, counts = np.unique(feats, axis=0, return_counts=True)
        draws = rng.multinomial(n, counts / n, size=n_resamples).astype(np.float64)
        dist = np.asarray(statistic.finalize(draws @ rows), dtype=np.float64)
    else:
        engine = _Bootstrapper(statistic, arrs, n, groups, pass_groups)
        kwargs = {"groups": np.asarray(groups)} if engine.grouped and pass_groups else {}
        estimate = float(statistic(*arrs, **kwargs))
        dist = np.empty(n_resamples)
        for s in range(0, n_resamples, engine.step):
            block = bootstrap_indices(engine.width, min(engine.step, n_resamples - s), rng)
            dist[s : s + block.shape[0]] = engine.evaluate(block)
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


# ------------------------------------------------------------------------------ permutation test


def _standardize(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    sd = a.std()
    return (a - a.mean()) / sd if sd > 0 else a - a.mean()


def permutation_distribution(
    statistic: Callable[..., float],
    a: Any,
    b: Any,
    shared: Sequence[Any],
    masks: np.ndarray,
) -> np.ndarray:
    """``statistic(a', *shared) - statistic(b', *shared)`` for each swap mask row, where a' takes
    ``b``'s entry on swapped items and b' takes ``a``'s."""
    who = "paired_permutation_test"
    arrs, n = _prepare(who, [a, b, *shared])
    a, b, shared_arrs = arrs[0], arrs[1], arrs[2:]
    if a.shape != b.shape:
        raise _checks.ScorerInputError(
            f"{who}: expected `a` and `b` of the same shape (got {a.shape} and {b.shape})"
        )
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 2 or masks.shape[1] != n:
        raise _checks.ScorerInputError(
            f"{who}: expected an (n_resamples, {n}) swap mask (got {masks.shape})"
        )
    n_res = masks.shape[0]
    out = np.empty(n_res)
    if isinstance(statistic, SumStatistic):
        fa = np.asarray(statistic.features(a, *shared_arrs), dtype=np.float64)
        fb = np.asarray(statistic.features(b, *shared_arrs), dtype=np.float64)
        delta, sa, sb = fb - fa, fa.sum(axis=0), fb.sum(axis=0)
        differ = np.flatnonzero((delta != 0).any(axis=1))  # swapping equal rows changes nothing
        delta = delta[differ]
        step = _step(differ.size)
        for s in range(0, n_res, step):
            moved = masks[s : s + step, differ].astype(np.float64) @ delta
            out[s : s + moved.shape[0]] = statistic.finalize(sa + moved) - statistic.finalize(
                sb - moved
            )
        return out
    if isinstance(statistic, RowStatistic):
        extra = (1,) * (a.ndim - 1)
        step = _step(a.size)
        for s in range(0, n_res, step):
            m = masks[s : s + step].reshape(-1, n, *extra)
            batch = (m.shape[0],)
            sh = [np.broadcast_to(x, batch + x.shape) for x in shared_arrs]
            out[s : s + m.shape[0]] = statistic.batched(np.where(m, b, a), *sh) - statistic.batched(
                np.where(m, a, b), *sh
            )
        return out
    extra = (1,) * (a.ndim - 1)
    for r in range(n_res):
        m = masks[r].reshape(n, *extra)
        out[r] = statistic(np.where(m, b, a), *shared_arrs) - statistic(
            np.where(m, a, b), *shared_arrs
        )
    return out


@dataclass(frozen=True)
class EarlyStopping:
    """Stop a permutation test once its decision is clear.

    After every ``block`` resamples the running estimate p_hat = hits / used is checked; the test
    stops when p_hat < ``low`` (clearly significant) or p_hat > ``high`` (clearly not), and the
    p-value is computed from the resamples used so far. The resamples are the first rows of the
    same draws a full run would use, so a seed gives the same result every time.
    mt-metrics-eval's ``PermutationSigDiffParams``: low 0.02, high 0.5, block 1000 (100 in its
    ``tasks``, as used for the WMT tables).
    """

    block: int = 100
    low: float = 0.02
    high: float = 0.5

    def __post_init__(self) -> None:
        who = "EarlyStopping"
        _checks.positive_int(who, "block", self.block)
        for name in ("low", "high"):
            v = getattr(self, name)
            if not _checks.is_number(v) or not 0.0 <= v <= 1.0:
                raise _checks.ScorerConfigError(
                    f"{who}: `{name}` must be a number in [0, 1] (got {v!r})"
                )
        if not self.low < self.high:
            raise _checks.ScorerConfigError(
                f"{who}: expected low < high (got low={self.low}, high={self.high})"
            )


@dataclass(frozen=True)
class PermutationResult:
    """Observed ``statistic(a) - statistic(b)`` and its permutation p-value.

    For ``alternative="greater"`` the p-value is (1 + #{permuted >= observed}) / (1 + n_used)
    (the +1 keeps it a valid p-value, never 0; ``plus_one=False`` gives mt-metrics-eval's
    #{permuted >= observed} / n_used); "less" mirrors it; "two-sided" compares absolute values.
    ``n_used`` resamples entered the p-value: fewer than ``n_resamples`` after early stopping.
    """

    difference: float
    pvalue: float
    alternative: str
    n_resamples: int
    distribution: np.ndarray = field(repr=False)
    n_used: int = 0


def _hits(null: np.ndarray, observed: float, alternative: str) -> int:
    tol = 1e-12 * max(1.0, abs(observed))  # rounding must not turn a tie into a miss
    if alternative == "greater":
        return int(np.count_nonzero(null >= observed - tol))
    if alternative == "less":
        return int(np.count_nonzero(null <= observed + tol))
    return int(np.count_nonzero(np.abs(null) >= abs(observed) - tol))


def _pvalue(null: np.ndarray, observed: float, alternative: str, plus_one: bool = True) -> float:
    hits = _hits(null, observed, alternative)
    if plus_one:
        return float((1.0 + hits) / (1.0 + null.size))
    return float(hits / null.size)


def _check_early(who: str, early_stopping: Any) -> EarlyStopping | None:
    if early_stopping is not None and not isinstance(early_stopping, EarlyStopping):
        raise _checks.ScorerConfigError(
            f"{who}: `early_stopping` must be None or an EarlyStopping "
            f"(got {type(early_stopping).__name__})"
        )
    return early_stopping


def run_with_early_stopping(
    null_block: Callable[[int, int], np.ndarray],
    n_resamples: int,
    observed: float,
    alternative: str,
    early_stopping: EarlyStopping | None,
) -> np.ndarray:
    """The null distribution of resamples [0, stop), evaluated block by block by
    ``null_block(start, stop)`` until the :class:`EarlyStopping` rule (if any) fires."""
    if early_stopping is None:
        return np.asarray(null_block(0, n_resamples), dtype=np.float64)
    parts: list[np.ndarray] = []
    hits = used = 0
    while used < n_resamples:
        stop = min(used + early_stopping.block, n_resamples)
        part = np.asarray(null_block(used, stop), dtype=np.float64)
        parts.append(part)
        hits += _hits(part, observed, alternative)
        used = stop
        if used % early_stopping.block == 0:
            p_hat = hits / used
            if p_hat < early_stopping.low or p_hat > early_stopping.high:
                break
    return np.concatenate(parts)


def paired_permutation_test(
    statistic: Callable[..., float],
    a: Any,
    b: Any,
    *shared: Any,
    rng: np.random.Generator,
    n_resamples: int = 1000,
    alternative: str = "greater",
    standardize: bool = False,
    method: str = "indices",
    plus_one: bool = True,
    early_stopping: EarlyStopping | None = None,
) -> PermutationResult:
    """Is ``statistic(a, *shared)`` larger than ``statistic(b, *shared)`` beyond chance?

    ``a`` and ``b`` are two scorers' per-item outcomes or scores on the same items; ``shared``
    (e.g. human scores) is passed unchanged. Each permutation swaps a's and b's entries on a random
    half of the items (as mt-metrics-eval's PERM-BOTH test). With ``standardize`` a and b are each
    z-scored first, which swapping raw scores of metrics on different scales needs (mt-metrics-eval
    does this for correlations); leave it off for outcomes such as pairwise accuracy.

    ``method="indices"`` uses the rows of ``permutation_masks(n, n_resamples, rng)``.
    ``method="counts"`` (a :class:`SumStatistic` only) draws, for each distinct non-zero row of
    feature differences, how many of its items are swapped from a Binomial(count, 1/2): the
    same null distribution with far fewer draws when outcomes take few values.

    ``plus_one`` and ``early_stopping`` (an :class:`EarlyStopping`): see :class:`PermutationResult`
    and :class:`EarlyStopping`; mt-metrics-eval uses ``plus_one=False`` with early stopping.
    """
    who = "paired_permutation_test"
    _checks.generator(who, rng)
    n_resamples = _checks.positive_int(who, "n_resamples", n_resamples)
    early_stopping = _check_early(who, early_stopping)
    _checks.choice(who, "alternative", alternative, ("greater", "less", "two-sided"))
    _checks.choice(who, "method", method, ("indices", "counts"))
    arrs, n = _prepare(who, [a, b, *shared])
    a_arr, b_arr = arrs[0], arrs[1]
    if standardize:
        a_arr, b_arr = _standardize(a_arr), _standardize(b_arr)
    observed = float(statistic(a_arr, *arrs[2:]) - statistic(b_arr, *arrs[2:]))
    if method == "counts":
        if not isinstance(statistic, SumStatistic):
            raise _checks.ScorerConfigError(
                f"{who}: method='counts' needs a SumStatistic (got {type(statistic).__name__})"
            )
        fa = np.asarray(statistic.features(a_arr, *arrs[2:]), dtype=np.float64)
        fb = np.asarray(statistic.features(b_arr, *arrs[2:]), dtype=np.float64)
        delta = fb - fa
        rows, counts = np.unique(delta[(delta != 0).any(axis=1)], axis=0, return_counts=True)
        moved = rng.binomial(counts, 0.5, size=(n_resamples, counts.size)).astype(np.float64) @ rows
        full = np.asarray(
            statistic.finalize(fa.sum(axis=0) + moved) - statistic.finalize(fb.sum(axis=0) - moved),
            dtype=np.float64,
        )

        def null_block(start: int, stop: int) -> np.ndarray:
            return full[start:stop]

    else:
        masks = permutation_masks(n, n_resamples, rng)

        def null_block(start: int, stop: int) -> np.ndarray:
            return permutation_distribution(statistic, a_arr, b_arr, arrs[2:], masks[start:stop])

    null = run_with_early_stopping(null_block, n_resamples, observed, alternative, early_stopping)
    return PermutationResult(
        observed,
        _pvalue(null, observed, alternative, plus_one),
        alternative,
        n_resamples,
        null,
        n_used=int(null.size),
    )


def permutation_pvalue_matrix(
    statistic: Callable[..., float],
    candidates: Sequence[Any],
    *shared: Any,
    rng: np.random.Generator,
    n_resamples: int = 1000,
    standardize: bool = False,
    higher_is_better: bool = True,
    plus_one: bool = True,
    early_stopping: EarlyStopping | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Statistic of every candidate and the (k, k) matrix p[i, j] of one-sided paired permutation
    p-values for "candidate i is better than candidate j" (NaN diagonal).

    One swap-mask matrix is drawn and reused for every pair, as WMT's implementation does. With
    ``early_stopping`` each pair stops on the p-value of "the better of the two (by statistic) is
    better"; both directions then use the same resamples. ``plus_one``: see
    :class:`PermutationResult`.
    """
    who = "permutation_pvalue_matrix"
    _checks.generator(who, rng)
    n_resamples = _checks.positive_int(who, "n_resamples", n_resamples)
    early_stopping = _check_early(who, early_stopping)
    k = len(candidates)
    if k < 2:
        raise _checks.ScorerInputError(f"{who}: expected at least 2 candidates (got {k})")
    arrs, n = _prepare(who, [*candidates, *shared])
    cands, shared_arrs = arrs[:k], arrs[k:]
    if standardize:
        cands = [_standardize(c) for c in cands]
    values = np.array([statistic(c, *shared_arrs) for c in cands], dtype=np.float64)
    masks = permutation_masks(n, n_resamples, rng)
    sign = 1.0 if higher_is_better else -1.0
    p = np.full((k, k), np.nan)
    for i in range(k):
        for j in range(i + 1, k):
            observed = sign * (values[i] - values[j])

            def null_block(start: int, stop: int, i: int = i, j: int = j) -> np.ndarray:
                return sign * permutation_distribution(
                    statistic, cands[i], cands[j], shared_arrs, masks[start:stop]
                )

            leader = "greater" if observed >= 0 else "less"
            null = run_with_early_stopping(
                null_block, n_resamples, observed, leader, early_stopping
            )
            p[i, j] = _pvalue(null, observed, "greater", plus_one)
            p[j, i] = _pvalue(null, observed, "less", plus_one)
    return values, p
