"""Pareto analysis: weightings that trade one agreement objective against another.

:func:`pareto_sweep` scores every weighting of a grid on the simplex (or given weightings) on
two or three pair objectives, with normalizers fitted on a training part of the pairs (whole
groups), finds the weightings no other beats on every objective *on the training part*, and
reports their values on the held-out part as well, so the front is not judged on the data it was
chosen on. Objectives are accuracies on subsets of the pairs (:class:`PairObjective`), e.g.
RM-Bench hard pairs vs all pairs, helpfulness vs safety pairs, or a length-bias check: accuracy
on the pairs whose rejected response is the longer one.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.errors import ScorerConfigError
from ..core.validation import check_choice, check_number
from ..meta import pairwise_outcomes
from .tables import PairTable, fit_normalizers, group_split


@dataclass(frozen=True)
class PairObjective:
    """Accuracy on the pairs where ``mask`` is True (all pairs when None). ``score_ties``:
    "half" or "loss" (RM-Bench)."""

    name: str
    mask: Any = None
    score_ties: str = "half"

    def rows(self, n: int) -> np.ndarray:
        if self.mask is None:
            return np.ones(n, dtype=bool)
        mask = np.asarray(self.mask, dtype=bool)
        if mask.shape != (n,):
            raise ScorerConfigError(
                f"pareto_sweep: objective {self.name!r} has a mask of shape {mask.shape} for "
                f"{n} pairs"
            )
        return mask


def length_bias_objective(chosen_lengths: Any, rejected_lengths: Any, *, name: str = "length_bias"):
    """Accuracy on the pairs where the rejected response is the longer one (a composite that
    just rewards length fails these)."""
    c = np.asarray(chosen_lengths, dtype=np.float64)
    r = np.asarray(rejected_lengths, dtype=np.float64)
    return PairObjective(name, r > c)


def simplex_grid(k: int, step: float = 0.1) -> np.ndarray:
    """Every weighting of ``k`` components with weights in multiples of ``step`` summing to 1."""
    check_number("simplex_grid", "step", step, above=0, maximum=1)
    m = round(1 / step)
    if abs(m * step - 1) > 1e-9:
        raise ScorerConfigError(f"simplex_grid: 1 / step must be a whole number (got {step})")
    rows = [c for c in itertools.product(range(m + 1), repeat=k) if sum(c) == m]
    return np.array(rows, dtype=np.float64) / m


def pareto_mask(values: Any) -> np.ndarray:
    """True for the rows of ``values`` (n, d) that no other row weakly beats on every column and
    strictly on one (larger is better); duplicates of an optimal row are all kept."""
    v = np.asarray(values, dtype=np.float64)
    keep = np.ones(v.shape[0], dtype=bool)
    for i in range(v.shape[0]):
        dominated = np.all(v >= v[i], axis=1) & np.any(v > v[i], axis=1)
        keep[i] = not dominated.any()
    return keep


def _accuracies(c: np.ndarray, r: np.ndarray, w: np.ndarray, ties: np.ndarray, obj) -> np.ndarray:
    """Objective value of each weighting (rows of ``w``) on the pairs of (c, r)."""
    rows = obj.rows(c.shape[0])
    rc, rr = c[rows] @ w.T, r[rows] @ w.T
    out = np.empty(w.shape[0])
    for j in range(w.shape[0]):
        o = pairwise_outcomes(rc[:, j], rr[:, j], score_ties=obj.score_ties, human_ties=ties[rows])
        out[j] = np.nanmean(o) if np.isfinite(o).any() else np.nan
    return out


def pareto_sweep(
    table: PairTable,
    objectives: Sequence[PairObjective],
    *,
    weights: Any = None,
    step: float = 0.1,
    normalizers: Any = "zscore",
    test: float = 0.3,
    seed: int = 0,
):
    """Objective values of every weighting on the training and held-out parts, and which are
    Pareto-optimal on the training part (column ``pareto``).

    ``weights``: (m, k) weightings (default: :func:`simplex_grid` with ``step``). The pairs are
    split by group (``test`` of them held out, seeded); ``normalizers`` (a kind, or one per
    component) are fitted on the training part. Returns a DataFrame with one column per
    component weight, ``train_<objective>`` and ``test_<objective>`` values and ``pareto``.
    """
    import pandas as pd

    who = "pareto_sweep"
    objectives = list(objectives)
    if not 2 <= len(objectives) <= 3:
        raise ScorerConfigError(f"{who}: expected 2 or 3 objectives (got {len(objectives)})")
    for obj in objectives:
        check_choice(
            f"{who}: objective {obj.name!r}", "score_ties", obj.score_ties, ("half", "loss")
        )
    k = len(table.labels)
    grid = simplex_grid(k, step) if weights is None else np.asarray(weights, dtype=np.float64)
    if grid.ndim != 2 or grid.shape[1] != k or np.any(grid < 0) or not np.isfinite(grid).all():
        raise ScorerConfigError(
            f"{who}: expected weightings as an (m, {k}) array of finite numbers >= 0 "
            f"(got shape {grid.shape})"
        )
    kinds = normalizers if isinstance(normalizers, (list, tuple)) else [normalizers] * k
    train, held = group_split(table.groups, test, seed=seed)
    fitted = fit_normalizers(table, kinds, rows=train)
    c, r = table.normalised(fitted)
    columns: dict[str, Any] = {lab: grid[:, j] for j, lab in enumerate(table.labels)}
    train_values = []
    for part, rows in (("train", train), ("test", held)):
        for obj in objectives:
            sub = PairObjective(obj.name, obj.rows(len(table))[rows], obj.score_ties)
            values = _accuracies(c[rows], r[rows], grid, table.ties[rows], sub)
            columns[f"{part}_{obj.name}"] = values
            if part == "train":
                train_values.append(values)
    frame = pd.DataFrame(columns)
    frame["pareto"] = pareto_mask(np.stack(train_values, axis=1))
    frame.attrs.update(n_train=int(train.size), n_test=int(held.size), step=step)
    return frame
