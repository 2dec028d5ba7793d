"""Held-out evaluation of weightings: k folds grouped by prompt or source segment.

:func:`cross_validate_weights` fits the normalizers and each method's weights on k-1 folds and
scores the held-out fold, so every pair (or item) is scored by weights that never saw its group;
each single component is scored alongside (its normalised score), and ``best_single`` picks, per
fold, the component that agreed best on the training folds. :func:`held_out_table` then reports
each method's agreement with the humans, a bootstrap interval that resamples groups, and a
paired permutation test against the best single component, all from :mod:`metricrm.meta`.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import meta
from ..core.errors import ScorerConfigError
from ..core.validation import check_choice, check_integer, check_number
from .learning import ITEM_KINDS, PAIR_KINDS, as_method, learn_weights, per_group_kendall
from .tables import ItemTable, PairTable, group_folds, table_with_directions

BEST_SINGLE = "best_single"
PAIR_STATISTICS = ("accuracy", "tau_like", "rmbench")
ITEM_STATISTICS = ("kendall", "pearson")
ITEM_LEVELS = ("item", "system", "flat")


@dataclass
class HeldOut:
    """Held-out scores of every method for every row of ``table``.

    ``scores[method]`` is ``(chosen, rejected)`` for pairs or one array for items; methods are
    the weightings asked for, ``best_single`` and each component label. ``fold[i]`` is the fold
    that held row i out; ``weights[method]`` the weights learned in each fold; ``selected``
    the component ``best_single`` chose in each fold.
    """

    table: PairTable | ItemTable
    scores: dict[str, Any]
    fold: np.ndarray
    weights: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    selected: list[str] = field(default_factory=list)
    human: str | None = None

    @property
    def methods(self) -> list[str]:
        return list(self.scores)


def cross_validate_weights(
    table: PairTable | ItemTable,
    methods: Mapping[str, Any] | Sequence[Any],
    *,
    normalizers: Any = "zscore",
    k: int = 5,
    seed: int = 0,
    human: str | None = None,
    by_category: bool = False,
) -> HeldOut:
    """Held-out scores of each weighting method (and of each component, and ``best_single``)
    with folds grouped by ``table.groups``.

    ``methods``: ``{name: method}`` or a list of methods (named by kind); a method is a kind, a
    mapping or a :class:`~metricrm.weighting.learning.WeightMethod`. ``normalizers``: one kind
    for all components or one per component, fitted on the training folds of each split."""
    who = "cross_validate_weights"
    kinds = PAIR_KINDS if table.kind == "preference" else ITEM_KINDS
    if not isinstance(methods, Mapping):
        methods = {
            getattr(m, "kind", m) if not isinstance(m, Mapping) else m["kind"]: m for m in methods
        }
    parsed = {name: as_method(m, kinds, f"{who}: method {name!r}") for name, m in methods.items()}
    clash = sorted(set(parsed) & (set(table.labels) | {BEST_SINGLE}))
    if clash:
        raise ScorerConfigError(
            f"{who}: method name(s) {clash} clash with component labels or {BEST_SINGLE!r}"
        )
    kinds_per = _normalizer_kinds(who, normalizers, table.labels)
    key = None
    if table.kind == "pointwise":
        key = human or next(iter(table.human))
        if key not in table.human:
            raise ScorerConfigError(f"{who}: no human judgment {key!r} ({', '.join(table.human)})")
    folds = group_folds(table.groups, k, seed=seed)
    n = len(table)
    fold_of = np.empty(n, dtype=np.int64)
    names = [*parsed, BEST_SINGLE, *table.labels]
    if table.kind == "preference":
        out = {m: (np.zeros(n), np.zeros(n)) for m in names}
    else:
        out = {m: np.zeros(n) for m in names}
    weights: dict[str, list[dict[str, float]]] = {m: [] for m in [*parsed, BEST_SINGLE]}
    selected: list[str] = []
    for f, test in enumerate(folds):
        fold_of[test] = f
        train = np.setdiff1d(np.arange(n), test)
        for name, m in [*parsed.items(), (BEST_SINGLE, as_method(BEST_SINGLE, kinds, who))]:
            fit = learn_weights(
                table,
                kinds_per,
                m,
                human=key,
                rows=train,
                by_category=by_category and m.kind not in ("equal", BEST_SINGLE),
            )
            weights[name].append(fit.weights)
            if name == BEST_SINGLE:
                selected.append(max(fit.weights, key=fit.weights.get))
            _store(out, name, table, test, fit)
    # A single component is its own raw score, oriented: no fitting involved.
    signs = np.where(np.asarray(table.higher_is_better), 1.0, -1.0)
    for j, lab in enumerate(table.labels):
        if table.kind == "preference":
            out[lab] = (signs[j] * table.chosen[:, j], signs[j] * table.rejected[:, j])
        else:
            out[lab] = signs[j] * table.scores[:, j]
    return HeldOut(table, out, fold_of, weights, selected, key)


def _normalizer_kinds(who: str, normalizers: Any, labels: Sequence[str]) -> list[Any]:
    if isinstance(normalizers, Mapping):
        missing = [lab for lab in labels if lab not in normalizers]
        if missing:
            raise ScorerConfigError(f"{who}: no normalizer for component {missing[0]!r}")
        return [normalizers[lab] for lab in labels]
    if isinstance(normalizers, (list, tuple)):
        if len(normalizers) != len(labels):
            raise ScorerConfigError(
                f"{who}: {len(normalizers)} normalizers for {len(labels)} components"
            )
        return list(normalizers)
    return [normalizers] * len(labels)


def _store(out: dict, name: str, table: Any, test: np.ndarray, fit: Any) -> None:
    """Held-out rewards of ``test`` rows under ``fit`` (weights and per-category weights)."""
    part = table_with_directions(table.take(test), fit.higher_is_better)
    w_default = np.array([fit.weights[lab] for lab in table.labels])
    rows_w = np.tile(w_default, (len(test), 1))
    if fit.by_label and part.categories is not None:
        for cat, wc in fit.by_label.items():
            rows_w[part.categories == cat] = [wc[lab] for lab in table.labels]
    if table.kind == "preference":
        c, r = part.normalised(fit.normalizers)
        out[name][0][test] = (c * rows_w).sum(axis=1)
        out[name][1][test] = (r * rows_w).sum(axis=1)
    else:
        out[name][test] = (part.normalised(fit.normalizers) * rows_w).sum(axis=1)


# ------------------------------------------------------------------------------ statistics


def _rng(seed: int, *key: Any) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(repr(key).encode("utf-8"))])


def pair_outcomes(chosen: np.ndarray, rejected: np.ndarray, ties: np.ndarray, statistic: str):
    """Per-pair outcomes of one statistic (NaN for pairs it leaves out)."""
    if statistic == "tau_like":
        out = meta.tau_like_outcomes(chosen, rejected, higher_is_better=True)
        out[ties] = np.nan
        return out
    score_ties = "loss" if statistic == "rmbench" else "half"
    return meta.pairwise_outcomes(chosen, rejected, score_ties=score_ties, human_ties=ties)


def _pair_rows(held: HeldOut, statistic: str, subsets: Mapping[str, np.ndarray]):
    t = held.table
    for subset, mask in subsets.items():
        outcomes = {
            m: pair_outcomes(c, r, t.ties, statistic)[mask] for m, (c, r) in held.scores.items()
        }
        yield subset, outcomes, t.groups[mask]


def held_out_table(
    held: HeldOut,
    *,
    statistic: str | None = None,
    level: str = "item",
    subsets: str | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    compare_to: str = BEST_SINGLE,
):
    """One row per (method, subset): held-out ``value``, bootstrap interval (groups resampled),
    ``n``, and ``delta`` / ``p_value``: the paired permutation test (one-sided, ``n_resamples``
    swaps) of "the method agrees better than ``compare_to``".

    Pairs: ``statistic`` "accuracy" (score ties count half; the default), "tau_like" (WMT
    DARR) or "rmbench" (score ties count as wrong; subsets by the table's ``difficulty`` meta).
    ``subsets="category"`` adds a row per category. Items: "kendall" (default) or "pearson"
    at ``level`` "item" (per group, averaged), "system" (system means) or "flat".
    """
    import pandas as pd

    who = "held_out_table"
    n_resamples = check_integer(who, "n_resamples", n_resamples, minimum=1)
    confidence = check_number(who, "confidence", confidence, above=0, maximum=0.999999)
    if compare_to not in held.scores:
        raise ScorerConfigError(
            f"{who}: compare_to {compare_to!r} is not a method ({held.methods})"
        )
    t = held.table
    rows = []
    if t.kind == "preference":
        statistic = check_choice(who, "statistic", statistic or "accuracy", PAIR_STATISTICS)
        parts: dict[str, np.ndarray] = {"all": np.ones(len(t), dtype=bool)}
        if statistic == "rmbench":
            if "difficulty" not in t.meta:
                raise ScorerConfigError(
                    f"{who}: statistic 'rmbench' needs the pairs' difficulty (score the table "
                    "with meta=['difficulty'])"
                )
            parts.update({d: t.meta["difficulty"] == d for d in ("hard", "normal", "easy")})
        if subsets == "category" and t.categories is not None:
            parts.update({str(c): t.categories == c for c in sorted(set(t.categories))})
        for subset, outcomes, groups in _pair_rows(held, statistic, parts):
            base = outcomes[compare_to]
            for m, o in outcomes.items():
                boot = meta.bootstrap(
                    meta.MEAN,
                    o,
                    rng=_rng(seed, "boot", m, subset),
                    n_resamples=n_resamples,
                    confidence=confidence,
                    groups=groups,
                )
                test = _compare(m, compare_to, o, base, meta.MEAN, seed, subset, n_resamples)
                rows.append(
                    _row(m, subset, statistic, "pair", boot, int((~np.isnan(o)).sum()), test)
                )
    else:
        statistic = check_choice(who, "statistic", statistic or "kendall", ITEM_STATISTICS)
        check_choice(who, "level", level, ITEM_LEVELS)
        h = t.human[held.human]
        for m, values in held.scores.items():
            rows.append(
                _item_row(
                    held, m, values, h, statistic, level, n_resamples, confidence, seed, compare_to
                )
            )
    frame = pd.DataFrame(rows)
    return frame


def _compare(m, compare_to, a, b, statistic, seed, key, n_resamples, standardize=False):
    if m == compare_to:
        return float("nan"), float("nan")
    res = meta.paired_permutation_test(
        statistic,
        a,
        b,
        rng=_rng(seed, "perm", m, key),
        n_resamples=n_resamples,
        standardize=standardize,
    )
    return res.difference, res.pvalue


def _row(method, subset, statistic, level, boot, n, test) -> dict[str, Any]:
    return {
        "method": method,
        "subset": subset,
        "statistic": statistic,
        "level": level,
        "value": boot.estimate,
        "ci_low": boot.low,
        "ci_high": boot.high,
        "n": n,
        "delta": test[0],
        "p_value": test[1],
    }


_CORR = {"kendall": meta.kendall_tau_b, "pearson": meta.pearson}


def _item_row(held, m, values, h, statistic, level, n_resamples, confidence, seed, compare_to):
    t = held.table
    base = held.scores[compare_to]
    key = (statistic, level)
    if level == "item":
        per = _per_group(values, h, t.groups, statistic)
        ref = _per_group(base, h, t.groups, statistic)
        ok = ~np.isnan(per) & ~np.isnan(ref)
        boot = meta.bootstrap(
            meta.MEAN,
            per[ok],
            rng=_rng(seed, "boot", m, key),
            n_resamples=n_resamples,
            confidence=confidence,
        )
        test = _compare(m, compare_to, per[ok], ref[ok], meta.MEAN, seed, key, n_resamples)
        return _row(m, "all", statistic, level, boot, int(ok.sum()), test)
    if level == "system":
        if t.systems is None:
            raise ScorerConfigError("held_out_table: level 'system' needs the items' systems")
        scored = ~np.isnan(h)
        mm, _, _ = meta.system_segment_matrix(values, t.systems, t.groups)
        bm, _, _ = meta.system_segment_matrix(base, t.systems, t.groups)
        hm, _, _ = meta.system_segment_matrix(np.where(scored, h, np.nan), t.systems, t.groups)
        stat = meta.system_level("kendall" if statistic == "kendall" else "pearson")
        boot = meta.bootstrap(
            stat,
            mm.T,
            hm.T,
            rng=_rng(seed, "boot", m, key),
            n_resamples=n_resamples,
            confidence=confidence,
        )
        test = (float("nan"), float("nan"))
        if m != compare_to:
            res = meta.paired_permutation_test(
                stat,
                mm.T,
                bm.T,
                hm.T,
                rng=_rng(seed, "perm", m, key),
                n_resamples=n_resamples,
                standardize=True,
            )
            test = (res.difference, res.pvalue)
        return _row(m, "all", statistic, level, boot, int(mm.shape[0]), test)
    ok = ~np.isnan(h)
    fn = _CORR[statistic]

    def flat(a: np.ndarray, hh: np.ndarray) -> float:
        return float(fn(hh, a).statistic)

    boot = meta.bootstrap(
        flat,
        values[ok],
        h[ok],
        rng=_rng(seed, "boot", m, key),
        n_resamples=n_resamples,
        confidence=confidence,
    )
    test = _compare(m, compare_to, values[ok], base[ok], flat, seed, key, n_resamples, True)
    return _row(m, "all", statistic, level, boot, int(ok.sum()), test)


def _per_group(values: np.ndarray, h: np.ndarray, groups: np.ndarray, statistic: str):
    if statistic == "kendall":
        return per_group_kendall(values, h, groups)
    out = []
    for g in np.unique(groups):
        rows = (groups == g) & ~np.isnan(h)
        if rows.sum() < 2 or np.ptp(values[rows]) == 0 or np.ptp(h[rows]) == 0:
            out.append(np.nan)
        else:
            out.append(float(meta.pearson(h[rows], values[rows]).statistic))
    return np.array(out)
