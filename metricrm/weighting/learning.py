"""Weight learning on normalised component scores, with scikit-learn and scipy.optimize.

From preference pairs (:func:`learn_pair_weights`):

- ``logistic``: Bradley-Terry, i.e. logistic regression without intercept on the differences
  of normalised component scores (each pair in both orientations), with an ``l2`` or ``l1``
  penalty of strength ``1 / C`` or none; scikit-learn's ``LogisticRegression``, or with
  ``nonnegative=True`` the same penalised likelihood minimised by scipy's L-BFGS-B with bounds.

From pointwise human scores (:func:`learn_item_weights`):

- ``least_squares``: linear regression of the human score on the normalised components
  (scikit-learn; ``positive=`` with ``nonnegative``).
- ``pearson``: weights maximising Pearson's r (scipy L-BFGS-B from the least-squares weights).
- ``kendall``: weights maximising Kendall's tau-b, per group averaged (item level) when the
  table has groups of several items, else over all items (scipy's derivative-free Powell
  search from the least-squares weights).

Baselines for both: ``equal`` (weight 1 each, meant for z-scored components) and
``best_single`` (the component with the best training agreement: pairwise accuracy, or
Kendall's tau-b). ``fixed`` uses given weights.

:func:`fit_composite` fits the normalizers and the weights on a table and returns the
:class:`Composite`. A learned negative weight becomes a positive one on the component with its
direction flipped (the normalizer refitted): the reward changes by a constant at most.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..core.errors import ScorerConfigError, ScorerInputError
from ..core.optional import require
from ..core.validation import check_choice, check_flag, check_number
from ..meta import kendall_tau_b, pairwise_outcomes
from .composite import Component, Composite, check_weights
from .tables import ItemTable, PairTable, fit_normalizers, table_with_directions

PAIR_KINDS = ("logistic", "equal", "best_single", "fixed")
ITEM_KINDS = ("least_squares", "pearson", "kendall", "equal", "best_single", "fixed")
PENALTIES = ("l2", "l1", None)


@dataclass(frozen=True)
class WeightMethod:
    """How weights are chosen: ``kind`` (see the module docstring) and its options.

    ``penalty``/``C`` shape the logistic fit (``C`` = inverse penalty strength, as in
    scikit-learn); ``nonnegative`` bounds weights at 0; ``ties`` says what a human tie counts
    for (``exclude`` or ``half``); ``weights`` are the fixed weights (label -> weight).
    """

    kind: str
    penalty: str | None = "l2"
    C: float = 1.0
    nonnegative: bool = False
    ties: str = "exclude"
    weights: Mapping[str, float] | None = None

    def check(self, who: str, kinds: Sequence[str]) -> WeightMethod:
        check_choice(who, "kind", self.kind, kinds)
        check_choice(who, "penalty", self.penalty, PENALTIES)
        check_number(who, "C", self.C, above=0)
        check_flag(who, "nonnegative", self.nonnegative)
        check_choice(who, "ties", self.ties, ("exclude", "half"))
        if self.kind == "fixed" and self.weights is None:
            raise ScorerConfigError(f"{who}: method 'fixed' needs weights")
        return self

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.kind == "logistic":
            out.update(penalty=self.penalty, C=self.C, ties=self.ties)
        if self.kind in ("logistic", "least_squares", "pearson", "kendall"):
            out["nonnegative"] = self.nonnegative
        if self.kind == "fixed":
            out["weights"] = dict(self.weights or {})
        return out


def as_method(spec: Any, kinds: Sequence[str], who: str) -> WeightMethod:
    """A :class:`WeightMethod` from itself, a kind name or a mapping of its fields."""
    if isinstance(spec, WeightMethod):
        method = spec
    elif isinstance(spec, str):
        method = WeightMethod(spec)
    elif isinstance(spec, Mapping):
        try:
            method = WeightMethod(**spec)
        except TypeError as exc:
            raise ScorerConfigError(f"{who}: bad method {dict(spec)!r}: {exc}") from exc
    else:
        raise ScorerConfigError(
            f"{who}: expected a method name ({', '.join(kinds)}), a mapping or a WeightMethod "
            f"(got {spec!r})"
        )
    return method.check(who, kinds)


# ------------------------------------------------------------------------------- pairs


def _logistic_kwargs(linear_model: Any, penalty: str | None, C: float) -> dict[str, Any]:
    """Arguments for LogisticRegression across scikit-learn versions (``penalty`` was replaced
    by ``l1_ratio`` and ``C=inf`` in 1.8)."""
    params = inspect.signature(linear_model.LogisticRegression).parameters
    modern = params["penalty"].default == "deprecated"
    solver = "liblinear" if penalty == "l1" else "lbfgs"
    if modern:
        kwargs = {
            "C": math.inf if penalty is None else C,
            "l1_ratio": 1.0 if penalty == "l1" else 0.0,
        }
    else:
        kwargs = {"penalty": penalty, "C": C}
    return {**kwargs, "solver": solver, "fit_intercept": False, "max_iter": 10000, "tol": 1e-8}


def _pair_design(diffs: np.ndarray, ties: np.ndarray, policy: str):
    """Both orientations of every pair: rows, targets, sample weights."""
    if policy == "exclude":
        diffs, ties = diffs[~ties], ties[~ties]
    if diffs.shape[0] == 0:
        raise ScorerInputError("learn_pair_weights: no pairs left to learn from (all are ties)")
    x = np.concatenate([diffs, -diffs, diffs[ties], -diffs[ties]])
    y = np.concatenate(
        [
            np.ones(len(diffs)),
            np.zeros(len(diffs)),
            np.zeros(int(ties.sum())),
            np.ones(int(ties.sum())),
        ]
    )
    w = np.concatenate([np.where(ties, 0.5, 1.0)] * 2 + [np.full(int(ties.sum()), 0.5)] * 2)
    return x, y, w


def _bounded_logistic(x, y, w, penalty: str | None, C: float) -> np.ndarray:
    """The penalised Bradley-Terry likelihood with weights >= 0, by scipy L-BFGS-B (the
    objective scikit-learn minimises: C * log-loss + 0.5 |w|^2, or |w|_1 for l1)."""
    from scipy.optimize import minimize
    from scipy.special import expit, log_expit

    signs = 2 * y - 1

    def loss(beta: np.ndarray) -> tuple[float, np.ndarray]:
        z = signs * (x @ beta)
        value = -(w * log_expit(z)).sum()
        grad = -((w * signs * expit(-z)) @ x)
        if penalty == "l2":
            value, grad = C * value + 0.5 * beta @ beta, C * grad + beta
        elif penalty == "l1":
            value, grad = C * value + beta.sum(), C * grad + 1.0
        return float(value), grad

    k = x.shape[1]
    result = minimize(
        loss,
        np.full(k, 0.1),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, None)] * k,
        options={"maxiter": 10000, "gtol": 1e-10, "ftol": 1e-15},
    )
    return np.asarray(result.x, dtype=np.float64)


def learn_pair_weights(
    chosen: np.ndarray,
    rejected: np.ndarray,
    method: Any = "logistic",
    *,
    ties: np.ndarray | None = None,
    labels: Sequence[str] | None = None,
) -> np.ndarray:
    """Weights (one per column) from normalised (n_pairs, k) chosen and rejected scores."""
    who = "learn_pair_weights"
    m = as_method(method, PAIR_KINDS, who)
    c, r = np.asarray(chosen, dtype=np.float64), np.asarray(rejected, dtype=np.float64)
    k = c.shape[1]
    tie = np.zeros(c.shape[0], dtype=bool) if ties is None else np.asarray(ties, dtype=bool)
    if m.kind == "equal":
        return np.ones(k)
    if m.kind == "fixed":
        return _fixed(who, m, labels, k)
    if m.kind == "best_single":
        acc = [np.nanmean(pairwise_outcomes(c[:, j], r[:, j], human_ties=tie)) for j in range(k)]
        return np.eye(k)[int(np.nanargmax(acc))]
    x, y, w = _pair_design(c - r, tie, m.ties)
    if m.nonnegative:
        return _bounded_logistic(x, y, w, m.penalty, m.C)
    linear_model = require("sklearn.linear_model", who=who, extra="weighting")
    model = linear_model.LogisticRegression(**_logistic_kwargs(linear_model, m.penalty, m.C))
    model.fit(x, y, sample_weight=w)
    return np.asarray(model.coef_[0], dtype=np.float64)


def _fixed(who: str, m: WeightMethod, labels: Sequence[str] | None, k: int) -> np.ndarray:
    if labels is None:
        raise ScorerConfigError(f"{who}: method 'fixed' needs the component labels")
    weights = check_weights(who, m.weights, list(labels))
    return np.array([weights[lab] for lab in labels])


# ------------------------------------------------------------------------------- items


def group_kendall(values: np.ndarray, human: np.ndarray, groups: np.ndarray | None) -> float:
    """Kendall's tau-b of ``values`` with ``human``: per group and averaged over groups with a
    defined tau (item level), or over all items when ``groups`` is None."""
    if groups is None:
        return float(kendall_tau_b(human, values).statistic)
    taus = per_group_kendall(values, human, groups)
    return float(np.nanmean(taus)) if np.isfinite(taus).any() else math.nan


class GroupPairs:
    """Every pair of items within a group (human-scored items only), to compute Kendall's tau-b
    of many score vectors per group quickly: tau_b = sum(sx * sy) / sqrt(#(sx != 0) * #(sy != 0))
    over the group's pairs, with sx, sy the signs of the score and human differences."""

    def __init__(self, human: np.ndarray, groups: np.ndarray) -> None:
        h = np.asarray(human, dtype=np.float64)
        uniq, codes = np.unique(np.asarray(groups), return_inverse=True)
        first, second, gid = [], [], []
        for g in range(uniq.size):
            members = np.flatnonzero((codes == g) & ~np.isnan(h))
            i, j = np.triu_indices(members.size, 1)
            first.append(members[i])
            second.append(members[j])
            gid.append(np.full(i.size, g))
        self.first = np.concatenate(first) if first else np.zeros(0, dtype=np.intp)
        self.second = np.concatenate(second) if second else np.zeros(0, dtype=np.intp)
        self.group = np.concatenate(gid) if gid else np.zeros(0, dtype=np.intp)
        self.n_groups = int(uniq.size)
        self.sy = np.sign(h[self.first] - h[self.second])
        self.dy = np.bincount(self.group, self.sy != 0, minlength=self.n_groups)

    def taus(self, values: np.ndarray) -> np.ndarray:
        """Tau-b per group (groups in sorted label order); NaN where it is undefined."""
        sx = np.sign(values[self.first] - values[self.second])
        num = np.bincount(self.group, sx * self.sy, minlength=self.n_groups)
        dx = np.bincount(self.group, sx != 0, minlength=self.n_groups)
        with np.errstate(invalid="ignore", divide="ignore"):
            return num / np.sqrt(dx * self.dy)


def per_group_kendall(values: np.ndarray, human: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Kendall's tau-b within each group (sorted group order); NaN where undefined."""
    return GroupPairs(human, groups).taus(np.asarray(values, dtype=np.float64))


def learn_item_weights(
    scores: np.ndarray,
    human: np.ndarray,
    method: Any = "least_squares",
    *,
    groups: np.ndarray | None = None,
    labels: Sequence[str] | None = None,
) -> np.ndarray:
    """Weights (one per column) from normalised (n_items, k) scores and human scores (NaN =
    unscored, left out). ``groups`` (when items share groups) make ``kendall`` and
    ``best_single`` use the per-group (item-level) tau."""
    who = "learn_item_weights"
    m = as_method(method, ITEM_KINDS, who)
    x = np.asarray(scores, dtype=np.float64)
    h = np.asarray(human, dtype=np.float64)
    k = x.shape[1]
    keep = ~np.isnan(h)
    x, h = x[keep], h[keep]
    g = None if groups is None else np.asarray(groups)[keep]
    if g is not None and np.unique(g).size == g.size:
        g = None  # one item per group: no within-group ranking
    if m.kind == "equal":
        return np.ones(k)
    if m.kind == "fixed":
        return _fixed(who, m, labels, k)
    pairs = None if g is None else GroupPairs(h, g)

    def tau(v: np.ndarray) -> float:
        if pairs is None:
            return float(kendall_tau_b(h, v).statistic)
        taus = pairs.taus(v)
        return float(np.nanmean(taus)) if np.isfinite(taus).any() else math.nan

    if m.kind == "best_single":
        return np.eye(k)[int(np.nanargmax([tau(x[:, j]) for j in range(k)]))]
    linear_model = require("sklearn.linear_model", who=who, extra="weighting")
    ls = linear_model.LinearRegression(positive=m.nonnegative).fit(x, h).coef_
    ls = np.asarray(ls, dtype=np.float64)
    if m.kind == "least_squares":
        return ls
    start = ls if np.any(ls != 0) else np.ones(k)
    start = start / np.abs(start).sum()
    bounds = [(0.0, None)] * k if m.nonnegative else None
    from scipy.optimize import minimize

    if m.kind == "pearson":
        xc, hc = x - x.mean(axis=0), h - h.mean()

        def loss(w: np.ndarray) -> float:
            v = xc @ w
            denom = math.sqrt(float(v @ v) * float(hc @ hc))
            return -float(v @ hc) / denom if denom > 0 else 0.0

        result = minimize(loss, start, method="L-BFGS-B", bounds=bounds)
    else:  # kendall

        def loss(w: np.ndarray) -> float:
            value = tau(x @ w)
            return -value if math.isfinite(value) else 1.0

        result = minimize(
            loss,
            start,
            method="Powell",
            bounds=bounds,
            options={"xtol": 1e-3, "ftol": 1e-6, "maxfev": 2000},
        )
    w = np.asarray(result.x, dtype=np.float64)
    if m.nonnegative:
        w = np.clip(w, 0.0, None)
    total = np.abs(w).sum()
    return w / total if total > 0 else np.ones(k)


# ------------------------------------------------------------------------------- fitting


@dataclass
class FittedWeights:
    """Normalizers and weights learned on one table: the components' direction after flips,
    the weights (and per-category weights) as label -> weight."""

    normalizers: list
    higher_is_better: tuple[bool, ...]
    weights: dict[str, float]
    by_label: dict[str, dict[str, float]] = field(default_factory=dict)
    raw_weights: dict[str, float] = field(default_factory=dict)


def learn_weights(
    table: PairTable | ItemTable,
    normalizers: Sequence[Any],
    method: Any,
    *,
    human: str | None = None,
    rows: Any = None,
    by_category: bool = False,
    flip: bool = True,
) -> FittedWeights:
    """Fit ``normalizers`` (kinds or unfitted normalizers, one per component) and ``method``'s
    weights on ``rows`` of ``table``. With ``by_category`` one weight set per category (the
    table's ``categories``) is learned besides the overall one, with weights bounded at 0.
    With ``flip`` a negative weight is turned into a positive one on the flipped direction."""
    who = "learn_weights"
    part = table if rows is None else table.take(rows)
    kinds = PAIR_KINDS if table.kind == "preference" else ITEM_KINDS
    m = as_method(method, kinds, who)
    if by_category:
        if part.categories is None:
            raise ScorerConfigError(f"{who}: by_category needs a table with categories")
        if m.kind in ("logistic", "least_squares", "pearson", "kendall"):
            m = replace(m, nonnegative=True)
    fitted = fit_normalizers(part, normalizers, human=human)
    w = _learn(part, fitted, m, human)
    directions = list(table.higher_is_better)
    if flip and np.any(w < 0):
        flipped = table_with_directions(
            part, [d if wj >= 0 else not d for d, wj in zip(directions, w)]
        )
        directions = list(flipped.higher_is_better)
        fitted = fit_normalizers(flipped, normalizers, human=human)
        raw = dict(zip(table.labels, w.tolist()))
        w = np.abs(w)
    else:
        flipped, raw = part, dict(zip(table.labels, w.tolist()))
    if np.any(w < 0) or not np.any(w > 0):
        w = np.clip(w, 0.0, None)
        if not np.any(w > 0):
            raise ScorerInputError(
                f"{who}: method {m.kind!r} gave no positive weight ({raw}); the components do "
                "not agree with the human judgments on these data"
            )
    result = FittedWeights(
        fitted, tuple(directions), dict(zip(table.labels, w.tolist())), raw_weights=raw
    )
    if by_category:
        for cat in sorted(set(flipped.categories.tolist())):
            sub = flipped.take(flipped.categories == cat)
            try:
                wc = _learn(sub, fitted, m, human)
            except (ScorerInputError, ScorerConfigError):
                continue  # too few pairs in the category: the overall weights apply
            if np.any(wc > 0):
                result.by_label[str(cat)] = dict(zip(table.labels, np.clip(wc, 0, None).tolist()))
    return result


def _learn(part: PairTable | ItemTable, fitted: list, m: WeightMethod, human: str | None):
    if part.kind == "preference":
        c, r = part.normalised(fitted)
        return learn_pair_weights(c, r, m, ties=part.ties, labels=part.labels)
    key = human or next(iter(part.human))
    if key not in part.human:
        raise ScorerConfigError(
            f"learn_weights: no human judgment {key!r}; available: {', '.join(part.human)}"
        )
    return learn_item_weights(
        part.normalised(fitted), part.human[key], m, groups=part.groups, labels=part.labels
    )


def fit_composite(
    components: Sequence[Component],
    table: PairTable | ItemTable,
    method: Any = None,
    *,
    human: str | None = None,
    by_category: bool = False,
    unknown_label: str = "default",
    gates: Sequence[Any] = (),
    cache: Any = None,
    info: Mapping[str, Any] | None = None,
) -> Composite:
    """Fit every component's normalizer (its kind, from ``component.normalizer``) and learn
    the weights on ``table`` (scored from these components), and return the composite.

    ``method``: ``"logistic"`` (pairs) / ``"least_squares"`` (items) by default, or any
    :class:`WeightMethod`. ``human`` picks the judgment of an :class:`ItemTable`.
    ``by_category`` adds per-category weights (``by_label``)."""
    who = "fit_composite"
    components = list(components)
    labels = [c.label for c in components]
    if tuple(labels) != tuple(table.labels):
        raise ScorerInputError(
            f"{who}: the table has components {list(table.labels)}, the composite {labels}; "
            "score the table from these components"
        )
    for c, sig in zip(components, table.labels):
        have = table.signatures.get(sig)
        if have is not None and have != c.scorer.signature:
            raise ScorerInputError(
                f"{who}: component {c.label!r} was scored as {have!r} in the table but is "
                f"{c.scorer.signature!r} now; rescore the table"
            )
    method = method or ("logistic" if table.kind == "preference" else "least_squares")
    kinds = PAIR_KINDS if table.kind == "preference" else ITEM_KINDS
    m = as_method(method, kinds, who)
    fitted = learn_weights(
        table, [c.normalizer for c in components], m, human=human, by_category=by_category
    )
    new = [
        Component(c.label, c.scorer, norm, d, c.spec)
        for c, norm, d in zip(components, fitted.normalizers, fitted.higher_is_better)
    ]
    provenance = {
        "method": m.describe(),
        "n": len(table),
        "kind": table.kind,
        "learned_weights": fitted.raw_weights,
        **({"human": human or next(iter(table.human))} if table.kind == "pointwise" else {}),
        **dict(info or {}),
    }
    return Composite(
        new,
        fitted.weights,
        by_label=fitted.by_label or None,
        unknown_label=unknown_label,
        gates=gates,
        cache=cache,
        info=provenance,
    )
